"""The world ``forensics_eval.py`` runs in: data pools, keys, sizes, tables, the tiny transformer.

Pools H (answers we served, watermarked under the provider key and the harvesting account's
key), O (other conversations' answers), R (the attacker's own reference answers) and P (held-out
prompts and answers) come from disjoint ShareGPT conversations. ``tinygpt_job`` trains and runs
the transformer students in a second process, so that it can use the second core.
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

from distillguard.data.sharegpt import Conversation, iter_conversations
from distillguard.forensics.detect import TextWatermarkTest
from distillguard.forensics.evaluation import NGramSampler, processed_perplexity
from distillguard.forensics.neutralisation import BiasSubtraction, estimate_bias
from distillguard.forensics.stats import Evidence
from distillguard.forensics.students import (
    NGramStudent,
    TinyGPTConfig,
    WordTokenizer,
    generate_many,
    perplexity,
    train_tinygpt,
)
from distillguard.forensics.synonyms import Lexicon, normalise
from distillguard.forensics.textmark import TextWatermarker

Ids = NDArray[np.int64]
SHARES: Final = (0.0, 0.05, 0.2, 1.0)
ALPHA: Final = 0.01
HARVESTERS: Final = tuple(f"harvester-{i}" for i in range(5))
ACCOUNTS: Final = tuple(f"acct-{i:02d}" for i in range(50))
FIXED_KEYS: Final = 30  # other fixed keys the provider key's chunk null is compared with
_LATIN: Final = re.compile(r"[A-Za-z]")
_LETTER: Final = re.compile(r"[^\W\d_]")


@dataclass(frozen=True, slots=True)
class Sizes:
    conversations: int
    pool: int  # answers harvested from us (H), and other answers (O)
    reference: int  # the attacker's own unwatermarked answers (R)
    probes: int  # held-out prompts (P); their answers are the held-out text
    budgets: tuple[int, ...]  # probe prompts at which the n-gram students are tested
    null_runs: int
    null_chunk: int  # answers per chunk in the fixed-key null
    wn_probes: int
    ppl_answers: int
    trace_share: int  # answers each traitor harvested (and clean answers added)
    trace_budgets: tuple[int, ...]  # answers (beyond the probes: a second draw per prompt)
    teacher_answers: int
    tiny_steps: int  # 0: no transformer
    trace_trials: int = 20
    table_probes: int = 300
    max_tokens: int = 200
    teacher_tokens: int = 150


FULL: Final = Sizes(
    conversations=8000, pool=8000, reference=4000, probes=3000, budgets=(100, 300, 1000, 3000),
    null_runs=300, null_chunk=15, wn_probes=300, ppl_answers=100, trace_share=1000,
    trace_budgets=(300, 1000, 3000, 6000), teacher_answers=1000, tiny_steps=1500,
)  # fmt: skip
QUICK: Final = Sizes(
    conversations=2600, pool=2500, reference=1200, probes=1000, budgets=(100, 300, 600),
    null_runs=200, null_chunk=5, wn_probes=40, ppl_answers=25, trace_share=250,
    trace_budgets=(200, 500, 1000, 2000), teacher_answers=200, tiny_steps=0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Pair:
    prompt: str
    answer: str


@dataclass(frozen=True)
class Setup:
    seed: int
    sizes: Sizes
    lexicon: Lexicon
    tokenizer: WordTokenizer
    provider: bytes
    harvest: list[Pair]  # H, as we generated it
    marked: list[Ids]  # H as served (watermarked), encoded
    other: list[Ids]  # O
    reference: list[Ids]  # R
    probes: list[Pair]  # P
    held: list[Ids]  # P's first answers, for perplexity
    held_words: int

    def rng(self, *path: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *path])

    def prompts(self, n: int) -> list[str]:
        return [p.prompt for p in self.probes[:n]]

    def contexts(self, n: int) -> list[Ids]:
        return [self.tokenizer.encode_prompt(p) for p in self.prompts(n)]

    def sample(self, model: NGramStudent, n: int, *path: int) -> list[str]:
        """Answers to the first ``n`` probe prompts, drawn exactly (``NGramSampler``)."""
        ids = NGramSampler(model).generate(self.contexts(n), self.sizes.max_tokens, self.rng(*path))
        return [self.tokenizer.decode(x) for x in ids]

    def text_test(self) -> TextWatermarkTest:
        return TextWatermarkTest(self.lexicon, self.provider)


@dataclass
class Table:
    title: str
    columns: str  # headers, separated by " | "
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", f"| {self.columns} |"]
        lines.append("|" + "---|" * len(self.columns.split(" | ")))
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join([*lines, "", *(f"{note}  " for note in self.notes), ""])


def log(message: str, started: float = time.perf_counter()) -> None:  # noqa: B008
    print(f"[{time.perf_counter() - started:6.0f} s] {message}", file=sys.stderr, flush=True)


def secret(seed: int, label: str) -> bytes:
    return hashlib.sha256(f"distillguard/forensics_eval/{seed}/{label}".encode()).digest()


def fmt_p(p: float) -> str:
    return f"{p:.3f}" if p >= 1e-3 else f"{p:.1e}"


def cells(e: Evidence) -> tuple[str, str, str, str]:
    """scored units, green rate (null), z, p-value."""
    rate, null = e.n_green / max(e.n_scored, 1), e.expected_green / max(e.n_scored, 1)
    return str(e.n_scored), f"{rate:.3f} ({null:.3f})", f"{e.z:+.1f}", fmt_p(e.p_value)


def words(texts: Sequence[str]) -> int:
    return sum(len(t.split()) for t in texts)


# --- data ----------------------------------------------------------------------------------


def english_pairs(conversation: Conversation) -> list[Pair]:
    """Mostly-Latin answers of 20-800 words; prompts cut to their last 48 words."""
    pairs = []
    for exchange in conversation.exchanges():
        letters = len(_LETTER.findall(exchange.answer))
        latin = letters and len(_LATIN.findall(exchange.answer)) / letters > 0.95
        if latin and 20 <= len(exchange.answer.split()) <= 800:
            pairs.append(Pair(" ".join(exchange.prompt.split()[-48:]), exchange.answer))
    return pairs


def make_setup(sizes: Sizes, seed: int) -> Setup:
    """Pools H, O, R, P from disjoint conversations (shuffled with the seed)."""
    found = [p for c in iter_conversations(limit=sizes.conversations) if (p := english_pairs(c))]
    order = iter(np.random.default_rng([seed, 0]).permutation(len(found)))
    pools: list[list[Pair]] = []
    for size in (sizes.pool, sizes.pool, sizes.reference, sizes.probes):
        pool: list[Pair] = []
        while len(pool) < size:
            pool += found[next(order)]
        pools.append(pool[:size])
    harvest, other, reference, probes = pools
    lexicon, provider = Lexicon.load(), secret(seed, "provider")
    served = [TextWatermarker.from_secret(lexicon, provider, account) for account in HARVESTERS]
    marked = [Pair(p.prompt, served[i % 5].watermark(p.answer)) for i, p in enumerate(harvest)]
    tokenizer = WordTokenizer.fit(
        t for p in marked + other + reference for t in (p.prompt, p.answer)
    )

    def encode(pairs: Sequence[Pair]) -> list[Ids]:
        return [tokenizer.encode_example(p.prompt, p.answer) for p in pairs]

    held = probes[: sizes.ppl_answers]
    return Setup(
        seed,
        sizes,
        lexicon,
        tokenizer,
        provider,
        harvest,
        encode(marked),
        encode(other),
        encode(reference),
        probes,
        encode(held),
        words([p.answer for p in held]),
    )


def mixture(setup: Setup, share: float) -> list[Ids]:
    """A training corpus: ``share`` of its answers from H as served, the rest from O."""
    n = round(share * len(setup.marked))
    return setup.marked[:n] + setup.other[: len(setup.other) - n]


def lexicon_tokens(setup: Setup) -> Ids:
    """Token ids of every word of the public lexicon's members (what a reader of it targets)."""
    members = {w for entry in setup.lexicon.sets for m in entry.tokens for w in m}
    ids = [i for i, p in enumerate(setup.tokenizer.tokens) if normalise(p.strip()) in members]
    return np.array(ids, dtype=np.int64)


# --- the tiny transformer, in a second process -------------------------------------------------


@dataclass(frozen=True, slots=True)
class TinyJob:
    vocab: tuple[str, ...]
    corpora: tuple[tuple[str, list[Ids]], ...]  # (label, training corpus); "trace" for 4.
    prompts: tuple[str, ...]
    held: list[Ids]
    held_words: int
    few_words: int  # words of the first 60 held-out answers (perplexity with a processor)
    steps: int
    seed: int
    max_tokens: int
    neutraliser: BiasSubtraction  # applied to the "100%" student


@dataclass(frozen=True, slots=True)
class TinyResult:
    texts: dict[str, list[str]]
    ppl: dict[str, float]
    seconds: dict[str, float]
    wn_texts: list[str]
    wn_ppl: tuple[float, float]  # (plain, neutralised), first 60 held-out answers


def tinygpt_job(job: TinyJob) -> TinyResult:
    tokenizer = WordTokenizer(job.vocab)
    config = TinyGPTConfig(tokenizer.vocab_size)
    texts, ppl, seconds = {}, {}, {}
    wn_texts: list[str] = []
    wn_ppl = (0.0, 0.0)
    for i, (label, corpus) in enumerate(job.corpora):
        model, report = train_tinygpt(corpus, config, steps=job.steps, seed=job.seed, threads=1)
        seconds[label] = report.seconds
        ppl[label] = perplexity(model, job.held, job.held_words).per_word
        for processors in ((), (job.neutraliser,)) if label == "100%" else ((),):
            rng = np.random.default_rng([job.seed, 30, i])  # with and without: the same draws
            out = generate_many(
                model, tokenizer, job.prompts, job.max_tokens, rng, processors=processors
            )
            few = processed_perplexity(model, job.held[:60], job.few_words, processors).per_word
            if processors:
                wn_texts, wn_ppl = out, (wn_ppl[0], few)
            else:
                texts[label] = out
                wn_ppl = (few, 0.0) if label == "100%" else wn_ppl
    return TinyResult(texts, ppl, seconds, wn_texts, wn_ppl)


def tiny_job(setup: Setup, trace_corpus: list[Ids]) -> TinyJob:
    corpora = [(f"{share:.0%}", mixture(setup, share)) for share in SHARES]
    return TinyJob(
        vocab=setup.tokenizer.tokens,
        corpora=(*corpora, ("trace", trace_corpus)),
        prompts=tuple(setup.prompts(setup.sizes.table_probes)),
        held=setup.held,
        held_words=setup.held_words,
        few_words=words([p.answer for p in setup.probes[:60]]),
        steps=setup.sizes.tiny_steps,
        seed=setup.seed,
        max_tokens=setup.sizes.max_tokens,
        neutraliser=estimate_bias(mixture(setup, 1.0), setup.reference, setup.tokenizer.vocab_size),
    )
