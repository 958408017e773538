"""Semantic request intents: does a short span of the prompt *mean* "show me your reasoning"?

The lexicon catches the phrasings we know; a careful distiller asks in ever new words ("walk me
through how you'd get there", "could you split step 5 down?"). Here the short spans of a
prompt that could be such an ask are embedded with all-MiniLM-L6-v2 and compared with a few
prototype phrasings per intent, in several languages.

Cost is the constraint: the encoder manages tens to a hundred spans a second on two cores, so
nothing here runs per event. ``features.asks`` (a regex and a split, microseconds) picks at most a
few candidate spans per prompt; callers embed them only for a bounded sample of each account's
requests; every span's similarities are cached by its normalised text, so a scaffold repeated
across a campaign is embedded once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

import numpy as np

from distillguard.features.ask_prefilter import AskPrefilter
from distillguard.features.ask_probe import MIN_PROBABILITY, AskProbe
from distillguard.features.embedding import F32, MiniLMEncoder

ORDINARY_MARGIN = 0.35
PROTOTYPE_THRESHOLD = 0.45  # contrast of cosines for a span to count as an ask
# The probe's score (``AskProbe.scores``) for a span to count as an ask: set where real people's
# candidate spans read as asks no more often than before the second writer's phrasings were
# added (2.4% against 2.5%, ``benchmarks/ask_probe_eval.py``).
PROBE_THRESHOLD = 0.02

# Prototype phrasings, written from the public descriptions of distillation campaigns (not
# from the simulator's banks): what each intent means, not how any one attacker words it.
PROTOTYPES: Final[dict[str, tuple[str, ...]]] = {
    "cot": (
        "explain your reasoning step by step",
        "show me every step of your thinking",
        "walk me through how you solved it",
        "write out your full chain of thought before the answer",
        "think out loud and show your work",
        "describe your thought process in detail",
        "break the solution down into steps and explain each one",
        "tell me how you arrived at the answer",
        "reason through it carefully and show all intermediate steps",
        "explain the logic behind each step",
        "go through it one step at a time",
        "lay out your approach and the reasoning behind it",
        "what exactly happens in that step, explain it in more detail",
        "can you expand on step three",
        "imagine the internal reasoning that led to this answer and write it out",
        "how did you get that result",
        "what is the rationale behind your answer",
        "show the working and the intermediate calculations",
        "justify every move you make",
        "narrate what goes on in your head as you solve it",
        "unpack the method you used",
        "spell out the derivation in full",
        "teach me the method so I understand each stage",
        "explain why each part is true, not just the result",
        "I want the whole thinking, not only the final answer",
        "clarify the second stage of your solution",
        "explica tu razonamiento paso a paso",
        "montre-moi chaque étape de ton raisonnement",
        "erkläre deinen Denkweg Schritt für Schritt",
        "spiega il tuo ragionamento passo dopo passo",
        "mostre o seu raciocínio passo a passo",
        "请一步一步地解释你的推理过程",
        "考え方の過程を順を追って説明してください",
    ),
    "rubric": (
        "grade this response on a scale from 1 to 10",
        "score the answer according to the rubric",
        "evaluate the quality of this reply and give a numeric rating",
        "act as a judge and rate which response is better",
        "assess this answer against the criteria and output a score",
        "califica esta respuesta del 1 al 10",
        "you are a reward model: output how good this completion is",
        "compare the two answers and say which one is preferred and why",
        "rate the helpfulness, correctness and style of the following output",
        "check this solution against the reference and assign points",
    ),
}


# Ordinary requests that share words with an ask ("explain", "step by step", "why"): a span
# must be nearer an intent than any of these, or it is a question about the world, not a
# request for the model's own reasoning.
ORDINARY: Final[tuple[str, ...]] = (
    "explain how a car engine works",
    "why is the sky blue",
    "what is the difference between a list and a tuple",
    "how do I install this package on windows",
    "explain what this code does",
    "give me a step by step guide to baking bread",
    "show me an example of a cover letter",
    "how to fix this error message",
    "explain the causes of the first world war",
    "what does this word mean",
    "walk me through setting up a router",
    "rate this restaurant for me",
)


# What a span the prefilter turns away scores for every intent: below any threshold.
REJECTED: Final = -1.0
# A span the quick (int8) encoder scores this far below the threshold for every intent is no
# ask; any other is embedded again by the exact one. int8 moves the probe's scores by 0.003
# (median), 0.063 (99.9th percentile), 0.088 at most (2,884 real spans and written asks,
# ``benchmarks/embedding_throughput.py --accuracy 1500``): at this margin none of the 353 spans
# the exact encoder reads as asks was let go, and 9.7% of real people's spans went on to it.
QUICK_MARGIN: Final = 0.08


class IntentSpotter:
    """How much each span means each intent, with a bounded cache per span: the probe's score
    (``features.ask_probe``) when given one, else the contrast of prototype similarities.

    Two cheaper looks can come first, each able only to say "no ask". With a ``prefilter``
    (``features.ask_prefilter``), spans it turns away are not embedded and score
    ``REJECTED``. With a ``quick`` encoder (int8, ~3x as fast), a span it scores
    ``QUICK_MARGIN`` below the threshold for every intent keeps that score; any other is
    embedded by ``encoder``, whose score is the verdict."""

    def __init__(
        self,
        encoder: MiniLMEncoder,
        probe: AskProbe | None = None,
        *,
        prefilter: AskPrefilter | None = None,
        quick: MiniLMEncoder | None = None,
        cache_size: int = 200_000,
    ):
        self.encoder = encoder
        self.quick = quick
        self.prefilter = prefilter
        self.intents = tuple(PROTOTYPES)
        self.probe = probe
        self.threshold = PROTOTYPE_THRESHOLD if probe is None else PROBE_THRESHOLD
        if probe is not None:
            self._columns = [probe.classes.index(i) for i in self.intents]
        else:  # the prototypes are embedded only where they are read
            self._protos = [encoder.encode(list(PROTOTYPES[i])) for i in self.intents]
            self._ordinary = encoder.encode(list(ORDINARY))
        self._cache: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._cache_size = cache_size
        self.embedded = 0  # spans run through ``encoder`` (cache misses)
        self.spared = 0  # spans the prefilter turned away (unembedded, or cached from a look)
        self.quick_only = 0  # spans the quick encoder alone settled
        self._rejected = (REJECTED,) * len(self.intents)

    def similarities(self, spans: Sequence[str], *, screen: bool = True) -> list[tuple[float, ...]]:
        """Per span and intent: how much the span means it (``score``), cached per span.
        With ``screen`` (and a prefilter), a span the prefilter turns away scores
        ``REJECTED`` unembedded; without, every span is embedded (a suspect's, say)."""
        cache = self._cache
        found: dict[str, tuple[float, ...]] = {}
        unique = list(dict.fromkeys(spans))
        # The prefilter looks before the cache: a span it turns away is no ask here, even where
        # another account's thorough look cached it as one, so that no verdict depends on what
        # the cache happens to hold (the other accounts' history, the process's age).
        # Rejections are not cached: an account looked at thoroughly later must see the span
        # embedded.
        if screen and self.prefilter is not None:
            passes = self.prefilter.passes(unique)
            rejected = [s for s, ok in zip(unique, passes, strict=True) if not ok]
            found.update(dict.fromkeys(rejected, self._rejected))
            self.spared += len(rejected)
            unique = [s for s, ok in zip(unique, passes, strict=True) if ok]
        missing = []
        for span in unique:
            scores = cache.get(span)
            if scores is None:
                missing.append(span)
            else:
                cache.move_to_end(span)
                found[span] = scores
        scored: list[tuple[str, tuple[float, ...]]] = []
        if missing and self.quick is not None:
            # One span per call: int8 quantises a call's activations together, so a vector
            # would depend a little on the spans embedded beside it.
            # Scored exactly down to the floor (the neighbour view too), as QUICK_MARGIN was
            # measured; an upper bound sent ~12% more spans on to the exact encoder.
            floor = self.threshold - QUICK_MARGIN
            quick = self.score(self.quick.encode(missing, batch_size=1), exact_from=floor)
            settled = [(s, q) for s, q in zip(missing, quick, strict=True) if max(q) < floor]
            scored += settled
            self.quick_only += len(settled)
            missing = [s for s, q in zip(missing, quick, strict=True) if max(q) >= floor]
        if missing:
            self.embedded += len(missing)
            scored += zip(missing, self.score(self.encoder.encode(missing)), strict=True)
        for span, scores in scored:
            found[span] = cache[span] = scores
            if len(cache) > self._cache_size:
                cache.popitem(last=False)
        return [found[span] for span in spans]

    def score(self, vectors: F32, exact_from: float | None = None) -> list[tuple[float, ...]]:
        """Per embedding and intent: the probe's score; without a probe, the best cosine
        similarity to the intent's prototypes less how far the similarity to ordinary
        requests exceeds ``ORDINARY_MARGIN`` (how much nearer the intent than the nearest
        ordinary request).

        The probe's score is the smaller of its probability view and its neighbour view, and
        the neighbour view is its cost (a pass over the whole labelled bank, bound by memory).
        A span whose probability falls short of the threshold (or of ``exact_from``) for
        every intent skips it: its score is then the probability's excess, at least the probe's
        score and below the threshold either way, so no verdict changes."""
        probe = self.probe
        if probe is not None:
            columns = self._columns
            scores = probe.probabilities(vectors)[:, columns] - np.float32(MIN_PROBABILITY)
            exact = self.threshold if exact_from is None else exact_from
            near = (scores >= exact).any(axis=1)
            if near.any():
                scores[near] = probe.scores(vectors[near])[:, columns]
            return [tuple(row) for row in scores.tolist()]
        ordinary = np.maximum(0.0, (vectors @ self._ordinary.T).max(axis=1) - ORDINARY_MARGIN)
        sims = np.stack([(vectors @ p.T).max(axis=1) for p in self._protos], axis=1)
        return [tuple(row) for row in (sims - ordinary[:, None]).tolist()]
