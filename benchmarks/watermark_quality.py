"""What the text watermark costs an answer, what it buys, and what it costs the gateway.

Real ShareGPT assistant answers are watermarked under a provider key with an account key (the
gateway's setting). Reported: how many answers change; slots, rewritten slots and changed
words per 100 words; that fenced code blocks, code spans and numbers were never changed; what
detection sees (the whole corpus, and answers one at a time); the streaming watermarker's
throughput against a passthrough doing the same chunked loop; and, last because the encoder
is slow on long answers (minutes for 500), how close each watermarked answer stays to its
original in all-MiniLM-L6-v2 space (cosine; the encoder reads the first 256 tokens) against a
reference edit measured in the same run (as many words deleted at random as the watermark
changed), with unrelated answer pairs for scale.

    .venv/bin/python benchmarks/watermark_quality.py [--answers 500] [--seed 7]
"""

from __future__ import annotations

import argparse
import difflib
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from distillguard.data.sharegpt import iter_conversations
from distillguard.features.embedding import MiniLMEncoder
from distillguard.forensics.detect import TextWatermarkTest
from distillguard.forensics.synonyms import Lexicon, SynonymSet
from distillguard.forensics.textmark import TextWatermarker
from distillguard.forensics.textscan import SlotScanner

ACCOUNT: Final = "benchmark-account"
_FENCED: Final = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1", re.S | re.M)
_INLINE: Final = re.compile(r"(`+)(?:(?!\1).)+?\1")
_NUMBER: Final = re.compile(r"\S*\d\S*")


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One answer before and after, with what the scanner saw."""

    original: str
    marked: str
    slots: int
    rewritten: int


def load_answers(count: int) -> list[str]:
    answers: list[str] = []
    for conversation in iter_conversations():
        answers.extend(ex.answer for ex in conversation.exchanges() if ex.answer.strip())
        if len(answers) >= count:
            return answers[:count]
    raise SystemExit(f"only {len(answers)} answers in the dataset")


def watermark_counting(watermarker: TextWatermarker, lexicon: Lexicon, text: str) -> Rewrite:
    seen = [0, 0]

    def choose(context: str, entry: SynonymSet, index: int) -> int:
        chosen = watermarker.choose(context, entry, index)
        seen[0] += 1
        seen[1] += chosen != index
        return chosen

    scanner = SlotScanner(lexicon, choose)
    marked = scanner.feed(text) + scanner.flush()
    return Rewrite(text, marked, seen[0], seen[1])


def changed_words(original: str, marked: str) -> int:
    """Words of the original that the watermark replaced."""
    before, after = original.split(), marked.split()
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return sum(i2 - i1 for op, i1, i2, _, _ in matcher.get_opcodes() if op != "equal")


def delete_words(text: str, count: int, rng: random.Random) -> str:
    """The reference edit: ``count`` words deleted at random positions."""
    words = text.split(" ")
    for _ in range(min(count, len(words) - 1)):
        del words[rng.randrange(len(words))]
    return " ".join(words)


def protected(text: str) -> list[str]:
    blocks = [m.group() for m in _FENCED.finditer(text)]
    rest = _FENCED.sub("", text)
    return blocks + [m.group() for m in _INLINE.finditer(rest)] + _NUMBER.findall(rest)


def cosines(left: npt.NDArray[np.float32], right: npt.NDArray[np.float32]) -> list[float]:
    return [float(x) for x in np.einsum("ij,ij->i", left, right)]  # unit vectors: dot = cosine


def chunks_of(text: str, rng: random.Random) -> list[str]:
    """Split like an SSE stream's deltas: 1-12 characters each."""
    out, pos = [], 0
    while pos < len(text):
        step = rng.randint(1, 12)
        out.append(text[pos : pos + step])
        pos += step
    return out


class TextStream(Protocol):
    def feed(self, chunk: str) -> str: ...

    def flush(self) -> str: ...


class Passthrough:
    """The reference stream: hands every chunk straight back."""

    def feed(self, chunk: str) -> str:
        return chunk

    def flush(self) -> str:
        return ""


def stream_rate(streams: Sequence[Sequence[str]], make: Callable[[], TextStream]) -> float:
    """Characters per second through ``make()``'s feed/flush (best of three runs)."""
    total = sum(len(c) for chunks in streams for c in chunks)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for chunks in streams:
            stream = make()
            out = [stream.feed(chunk) for chunk in chunks]
            out.append(stream.flush())
        best = min(best, time.perf_counter() - start)
    return total / best


def row(label: str, *values: str) -> None:
    print(f"  {label:<44}" + "".join(f"{v:>10}" for v in values), flush=True)


def report_edits(rewrites: Sequence[Rewrite], lexicon: Lexicon, load_s: float) -> None:
    words = sum(len(r.original.split()) for r in rewrites)
    changed = [r for r in rewrites if r.marked != r.original]
    touched = sum(changed_words(r.original, r.marked) for r in changed)
    print(f"\nwatermark quality: {len(rewrites)} ShareGPT answers, {words:,} words")
    print(f"  lexicon: {len(lexicon.sets)} sets, loaded and checked in {load_s * 1000:.0f} ms\n")
    row("answers changed", f"{len(changed) / len(rewrites):.1%}")
    row("slots per 100 words", f"{100 * sum(r.slots for r in rewrites) / words:.2f}")
    row("slots rewritten per 100 words", f"{100 * sum(r.rewritten for r in rewrites) / words:.2f}")
    row("words changed per 100 words", f"{100 * touched / words:.2f}")
    guarded = [(protected(r.original), protected(r.marked)) for r in rewrites]
    broken = sum(before != after for before, after in guarded)
    row(
        "fenced code blocks in the answers",
        str(sum(len(_FENCED.findall(r.original)) for r in rewrites)),
    )
    row("code blocks, code spans, numbers checked", f"{sum(len(b) for b, _ in guarded):,}")
    row("answers where any of them changed", str(broken), "PASS" if broken == 0 else "FAIL")


def report_detection(rewrites: Sequence[Rewrite], lexicon: Lexicon, secret: bytes) -> None:
    provider = TextWatermarkTest(lexicon, secret)
    account = TextWatermarkTest(lexicon, secret, ACCOUNT)
    marked = [r.marked for r in rewrites]
    print()
    row("detection", "units", "green", "expected", "p-value")
    for label, test, texts in (
        ("provider key, watermarked corpus", provider, marked),
        ("account key, watermarked corpus", account, marked),
        ("provider key, original corpus", provider, [r.original for r in rewrites]),
    ):
        ev = test.score(texts)
        row(
            label,
            str(ev.n_scored),
            str(ev.n_green),
            f"{ev.expected_green:.1f}",
            f"{ev.p_value:.1e}",
        )
    alone = np.array([provider.score([text]).p_value for text in marked])
    row("answers detected alone (provider key)", "p<=0.01", f"{np.mean(alone <= 0.01):.1%}")


def report_throughput(
    answers: Sequence[str], watermarker: TextWatermarker, rng: random.Random
) -> None:
    streams = [chunks_of(a, rng) for a in answers]
    chars = sum(len(a) for a in answers)
    marked = stream_rate(streams, watermarker.stream)
    plain = stream_rate(streams, Passthrough)
    one_shot = min(_timed(lambda: [watermarker.watermark(a) for a in answers]) for _ in range(3))
    print()
    row(f"throughput, {chars:,} chars in 1-12 char chunks", "M chars/s")
    row("  streaming watermarker", f"{marked / 1e6:.2f}")
    row("  passthrough (reference)", f"{plain / 1e6:.2f}")
    row("  ratio to reference", f"{marked / plain:.3f}")
    row("  one-shot watermark()", f"{chars / one_shot / 1e6:.2f}")


def report_similarity(rewrites: Sequence[Rewrite], rng: random.Random) -> None:
    changed = [r for r in rewrites if r.marked != r.original]
    # One BLAS thread, as the gateway runs it: on two busy cores threads only slow it down.
    threadpool_limits(limits=1, user_api="blas")
    encoder = MiniLMEncoder.load()
    start = time.perf_counter()
    edits = [delete_words(r.original, changed_words(r.original, r.marked), rng) for r in changed]
    originals = encoder.encode([r.original for r in changed])
    marked = cosines(originals, encoder.encode([r.marked for r in changed]))
    reference = cosines(originals, encoder.encode(edits))
    unrelated = cosines(originals[:-1], originals[1:])
    every = marked + [1.0] * (len(rewrites) - len(changed))
    print()
    row("cosine to the original (all-MiniLM-L6-v2)", "mean", "p5", "min")
    for label, values in (
        ("watermarked, changed answers", marked),
        ("watermarked, all answers", every),
        ("reference: as many words deleted", reference),
        ("unrelated answers (for scale)", unrelated),
    ):
        row(label, *(f"{v:.4f}" for v in (statistics.fmean(values), pct(values, 5), min(values))))
    ratio = (1 - statistics.fmean(marked)) / (1 - statistics.fmean(reference))
    row("1 - cosine, watermark / reference", f"{ratio:.2f}")
    print(f"  ({3 * len(changed)} texts encoded in {time.perf_counter() - start:.0f} s)")


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q))


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=500, help="ShareGPT answers to use")
    parser.add_argument("--seed", type=int, default=7, help="key and reference-edit seed")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    start = time.perf_counter()
    lexicon = Lexicon.load()
    load_s = time.perf_counter() - start
    answers = load_answers(args.answers)
    secret = rng.randbytes(32)
    watermarker = TextWatermarker.from_secret(lexicon, secret, ACCOUNT)
    rewrites = [watermark_counting(watermarker, lexicon, a) for a in answers]
    assert all(watermarker.watermark(r.original) == r.marked for r in rewrites)
    report_edits(rewrites, lexicon, load_s)
    report_detection(rewrites, lexicon, secret)
    report_throughput(answers, watermarker, rng)
    report_similarity(rewrites, rng)  # last: the encoder is the slow part (~10 texts/s)


if __name__ == "__main__":
    main()
