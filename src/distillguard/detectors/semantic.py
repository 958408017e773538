"""Content, semantically: how much of an account's traffic *means* "show me your reasoning"
(or "grade this"), however it is worded.

The evasive distiller never reuses a scaffold and asks for the reasoning softly, in ever new
words, mixed with genuine questions; what remains is the share of its requests that ask. That
share is measured on a sample: from the account's ``start_at``-th request, the candidate spans
of up to ``max_examined`` requests are embedded (``features.semantic``); earlier requests and
later ones cost nothing, and so do accounts whose prompts seldom contain a candidate span at all.
One wording counts once, so an eval harness that pastes "let's think step by step" into every
item has one ask, not thousands; and one conversation counts once, so a person who asks "why is
option c correct?" through one quiz has one ask, where a distiller asks across independent tasks.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, field
from typing import ClassVar

from distillguard.detectors.base import ramp
from distillguard.features.request import RequestFeatures
from distillguard.features.semantic import IntentSpotter
from distillguard.features.text import h64
from distillguard.population import Population

log = logging.getLogger(__name__)

START_AT = 10  # an account's first requests are not sampled: most accounts are small
MAX_EXAMINED = 24
# An account still undecided after MAX_EXAMINED (its ask share at least CONTINUE_SHARE,
# short of the flag) is sampled on, up to this many: more evidence either way, and only for
# the few accounts that need it (60 since the prefilter made a sampled request ~3x cheaper).
MAX_EXAMINED_UNDECIDED = 60
MAX_REPEATS = 1  # the same wording counts at most this often
# Embedding is the expensive part, so only accounts whose prompts keep offering candidate
# spans (a regex, free) are sampled: the distiller asks in most requests, people rarely.
CANDIDATE_SHARE = 0.4
# The flag ramp reads the ask share's lower bound: the share less SHARE_Z standard errors of a
# sample that size (share_floor), so the same share weighs more on a longer sample: 4 asks in
# 20 count as 13%, 10 in 50 as 16%. That lets the ramp start lower than a raw share's could
# (7% against 12%) without flagging short, lucky runs of asks. Asks are counted once per
# conversation, which is what lets the ramp end at 13%: people who ask for steps ask again
# and again in one thread, and counted so they fall well below a distiller.
SHARE = (0.07, 0.13)
SHARE_Z = 0.75
# Past MAX_EXAMINED an account is sampled on only while its (raw) ask share is at least this,
# so that an account whose first sample was unlucky (a run of genuine questions and plain
# prompts) is not let go, while one ask in 24 is.
CONTINUE_SHARE = 0.06
EXAMINED = (10, 20)
# The prefilter (features.ask_prefilter) screens an account's spans until it has this many asks.
SCREENED_ASKS = 2


EMPTY_THREAD = h64("")


def share_floor(hits: int, n: int, z: float = SHARE_Z) -> float:
    """The share ``hits / n`` less ``z`` standard errors (binomial), at least 0."""
    if n <= 0:
        return 0.0
    p = hits / n
    return max(0.0, p - z * math.sqrt(p * (1.0 - p) / n))


@functools.cache
def shared_spotter() -> IntentSpotter | None:
    """One encoder per process (loading it takes a second and ~90 MB); None without the model
    package, and the detector then stays silent."""
    from threadpoolctl import threadpool_limits

    from distillguard.features.ask_prefilter import AskPrefilter
    from distillguard.features.ask_probe import AskProbe
    from distillguard.features.embedding import EmbeddingUnavailable, MiniLMEncoder

    # One BLAS thread: the encoder's small matrices gain nothing from more, and on two busy
    # cores threads made it 3-6x slower (benchmarks/embedding_throughput.py).
    threadpool_limits(limits=1, user_api="blas")
    try:
        encoder = MiniLMEncoder.load()
        # Where the encoder is ONNX Runtime's fp32, its int8 twin looks first (~3x as fast;
        # it settles ~9 spans in 10, and only those it reads as clearly no ask).
        quick = MiniLMEncoder.load(backend="onnx-int8") if encoder.backend == "onnx" else None
        return IntentSpotter(encoder, AskProbe.load(), prefilter=AskPrefilter.load(), quick=quick)
    except EmbeddingUnavailable as exc:
        log.warning("semantic detector off: %s", exc)
        return None


# A conversation the account has asked in: its thread (the first user message's hash, the
# CRC-32 half) above the length of its latest request read as asking (MESSAGES_BITS).
MESSAGES_BITS = 16
_MESSAGES_MAX = (1 << MESSAGES_BITS) - 1


def _new_thread(threads: list[int], f: RequestFeatures) -> bool:
    """Does an ask in this request open a conversation of its own (else it continues one that
    asked already)? ``threads`` holds the account's asking conversations and is updated.

    The hash's CRC-32 half (its low half, Adler-32, collides on short prompts that differ in a
    digit) tells an account's few dozen threads apart. A thread with no text (an image-only
    opening) is no thread: its asks all count. And a request continues a thread only when it
    carries more messages than the thread's last ask did, as a conversation grows: requests
    that all open with the same fixed exchange (a few-shot preamble, then a new task) share a
    first message but each is a conversation of its own.
    """
    thread = f.thread_hash >> 32
    length = min(f.n_messages, _MESSAGES_MAX)
    entry = thread << MESSAGES_BITS | length
    if f.thread_hash != EMPTY_THREAD:
        for i, known in enumerate(threads):
            if known >> MESSAGES_BITS == thread:
                threads[i] = entry
                return length <= known & _MESSAGES_MAX
    threads.append(entry)
    return True


@dataclass(slots=True)
class SemanticState:
    n: int = 0
    candidates: int = 0  # requests with at least one candidate span
    examined: int = 0
    hits: dict[str, int] = field(default_factory=dict)  # intent -> requests with a new ask
    wordings: list[int] = field(default_factory=list)  # hashes of the ask wordings counted
    # intent -> the conversations that have counted an ask of it (see _new_thread)
    threads: dict[str, list[int]] = field(default_factory=dict)
    example: str = ""
    # The spans of the latest request that read as asks, with their intent (at most
    # asks.MAX_SPANS, replaced at every request): the engine remembers them across accounts.
    fresh: list[tuple[str, str]] = field(default_factory=list)


class SemanticDetector:
    name: ClassVar[str] = "semantic"
    test_min_events: ClassVar[int] = 40
    # The engine stops feeding an account once it is flagged: the verdict cannot change, and
    # embedding its sample would only refine its reasons.
    skip_once_flagged: ClassVar[bool] = True

    def __init__(self, spotter: IntentSpotter | None = None, *, load: bool = True):
        self.spotter = spotter if spotter is not None or not load else shared_spotter()

    def initial(self) -> SemanticState:
        return SemanticState()

    def update(self, state: SemanticState, f: RequestFeatures, pop: Population) -> None:
        state.n += 1
        state.candidates += bool(f.ask_spans)
        if state.fresh:
            state.fresh = []
        if state.n < START_AT or self.spotter is None:
            return
        if state.examined >= MAX_EXAMINED and (
            state.examined >= MAX_EXAMINED_UNDECIDED
            or max(state.hits.values(), default=0) < CONTINUE_SHARE * state.examined
            or self.value(state, pop) >= 1.0
        ):
            return
        if not state.examined and state.candidates < CANDIDATE_SHARE * state.n:
            return  # not (yet) an account worth embedding for
        state.examined += 1
        if not f.ask_spans:
            return
        # Screened by the prefilter until the account's SCREENED_ASKS-th ask; then every span
        # is read.
        screen = sum(state.hits.values()) < SCREENED_ASKS
        sims = self.spotter.similarities(f.ask_spans, screen=screen)
        threshold = self.spotter.threshold
        counted: set[str] = set()
        for span, per_intent in zip(f.ask_spans, sims, strict=True):
            recorded = False
            for intent, sim in zip(self.spotter.intents, per_intent, strict=True):
                if sim < threshold:
                    continue
                if not recorded:
                    state.fresh.append((span, intent))
                    recorded = True
                if intent in counted:
                    continue
                wording = h64(span)
                if state.wordings.count(wording) >= MAX_REPEATS:
                    continue
                if not _new_thread(state.threads.setdefault(intent, []), f):
                    continue  # this conversation has asked already
                counted.add(intent)
                state.hits[intent] = state.hits.get(intent, 0) + 1
                state.wordings.append(wording)  # at most one per intent per examined request
                if not state.example:
                    state.example = span[:80]

    def value(self, state: SemanticState, pop: Population) -> float:
        if not state.examined or not state.hits:
            return 0.0
        floor = share_floor(max(state.hits.values()), state.examined)
        return ramp(floor, *SHARE) * ramp(state.examined, *EXAMINED)

    def explain(self, state: SemanticState, pop: Population) -> str:
        if not state.examined:
            return "no requests sampled yet"
        if not state.hits:
            return f"no reasoning or grading asks in {state.examined} sampled requests"
        intent = max(state.hits, key=state.hits.__getitem__)
        what = "asks for the reasoning" if intent == "cot" else "grading requests"
        share = state.hits[intent] / state.examined
        floor = share_floor(state.hits[intent], state.examined)
        return (
            f"{what} (by meaning) in {share:.0%} of {state.examined} sampled requests, one per "
            f'conversation (at least {floor:.0%} for a sample that size), e.g. "{state.example}"'
        )
