"""How fast the forensics students train on real answers, and how good they get.

Both students learn ShareGPT answers (mostly-English, 20-800 words) given their prompts: the
n-gram (interpolated modified Kneser-Ney) and the tiny transformer on a fixed CPU budget. The
reference is a unigram model measured in the same run: a student that does not clearly beat
it has learned nothing about which word follows which, and so could not carry a watermark
that lives in those choices. Printed: training time and words/s, held-out perplexity per word
(and per token), the transformer's perplexity along its training time, generation speed, and
sample answers.

    .venv/bin/python benchmarks/student_training.py --conversations 3000 [--tinygpt-seconds 240]
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from distillguard.data.sharegpt import iter_conversations
from distillguard.forensics.students import (
    UNK,
    NextTokenModel,
    NGramStudent,
    TinyGPTConfig,
    WordTokenizer,
    generate_ids,
    generate_ids_many,
    perplexity,
    torch_available,
    train_tinygpt,
)
from distillguard.forensics.students.evaluate import ScoringModel
from distillguard.forensics.students.tokenizer import target_start

if TYPE_CHECKING:
    from distillguard.forensics.students.transformer import TinyGPTStudent

_LATIN = re.compile(r"[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True, slots=True)
class Pair:
    prompt: str
    answer: str

    @property
    def words(self) -> int:
        return len(self.answer.split())


def load_pairs(conversations: int, prompt_words: int) -> tuple[list[Pair], list[Pair]]:
    """Mostly-English answers of moderate length; the last tenth of conversations held out."""
    by_conversation: list[list[Pair]] = []
    for conversation in iter_conversations(limit=conversations):
        pairs = []
        for exchange in conversation.exchanges():
            letters = len(_LETTER.findall(exchange.answer))
            english = letters and len(_LATIN.findall(exchange.answer)) / letters > 0.95
            if english and 20 <= len(exchange.answer.split()) <= 800:
                prompt = " ".join(exchange.prompt.split()[-prompt_words:])
                pairs.append(Pair(prompt, exchange.answer))
        by_conversation.append(pairs)
    cut = len(by_conversation) * 9 // 10
    train = [pair for pairs in by_conversation[:cut] for pair in pairs]
    held_out = [pair for pairs in by_conversation[cut:] for pair in pairs]
    return train, held_out


def generation_speed(
    model: NextTokenModel, prompts: Sequence[NDArray[np.int64]], max_tokens: int
) -> tuple[float, float, list[NDArray[np.int64]]]:
    """Tokens/s one prompt at a time (first 5 prompts), then all prompts in lockstep."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    single = [generate_ids(model, prompt, max_tokens, rng) for prompt in prompts[:5]]
    single_speed = sum(out.size for out in single) / (time.perf_counter() - started)
    rngs = rng.spawn(len(prompts))
    started = time.perf_counter()
    outputs = generate_ids_many(model, prompts, max_tokens, rngs)
    batch_speed = sum(out.size for out in outputs) / (time.perf_counter() - started)
    return single_speed, batch_speed, outputs


def print_generation(
    model: NextTokenModel, tokenizer: WordTokenizer, held_out: Sequence[Pair], max_tokens: int
) -> None:
    prompts = [tokenizer.encode_prompt(p.prompt) for p in held_out[:32]]
    single, batched, outputs = generation_speed(model, prompts, max_tokens)
    print(
        f"  generation: {single:,.0f} tokens/s one prompt at a time,"
        f" {batched:,.0f} tokens/s for {len(prompts)} prompts in lockstep"
    )
    for pair, out in zip(held_out[:3], outputs, strict=False):
        print(f"    Q: {pair.prompt[:100]!r}\n    A: {tokenizer.decode(out)[:300]!r}")


def report_ppl(
    name: str, model: ScoringModel, seqs: Sequence[NDArray[np.int64]], words: int
) -> float:
    started = time.perf_counter()
    result = perplexity(model, seqs, words)
    print(
        f"  {name:<22} ppl/word {result.per_word:9.1f}   ppl/token {result.per_token:8.1f}"
        f"   ({time.perf_counter() - started:.1f} s to score {result.tokens:,} tokens)"
    )
    return result.per_word


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=3000)
    parser.add_argument("--vocab", type=int, default=16_000)
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--prompt-words", type=int, default=48)
    parser.add_argument("--held-out", type=int, default=400, help="answers scored")
    parser.add_argument("--tinygpt-seconds", type=float, default=240.0)
    parser.add_argument("--tinygpt-steps", type=int, default=100_000)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--eval-every", type=float, default=30.0, help="training seconds")
    parser.add_argument("--gen-tokens", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    train, held_out = load_pairs(args.conversations, args.prompt_words)
    held_out = held_out[: args.held_out]
    train_words = sum(p.words for p in train)
    held_words = sum(p.words for p in held_out)
    print(
        f"data: {len(train):,} train answers ({train_words:,} words), {len(held_out):,} held out"
        f" ({held_words:,} words), loaded in {time.perf_counter() - started:.1f} s"
    )

    started = time.perf_counter()
    tokenizer = WordTokenizer.fit(
        [text for pair in train for text in (pair.prompt, pair.answer)], max_size=args.vocab
    )
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    train_seqs = [tokenizer.encode_example(p.prompt, p.answer) for p in train]
    encode_s = time.perf_counter() - started
    held_seqs = [tokenizer.encode_example(p.prompt, p.answer) for p in held_out]
    held_answers = np.concatenate([tokenizer.encode(p.answer) for p in held_out])
    print(
        f"tokenizer: {tokenizer.vocab_size:,} tokens, fit {fit_s:.1f} s, encode {encode_s:.1f} s"
        f" ({train_words / encode_s:,.0f} words/s); held-out <unk> rate"
        f" {np.mean(held_answers == UNK):.2%}"
    )

    print("\nn-gram students")
    ngrams: dict[int, NGramStudent] = {}
    for order in sorted({1, 2, args.order}):
        started = time.perf_counter()
        ngrams[order] = NGramStudent.fit(train_seqs, tokenizer.vocab_size, order)
        seconds = time.perf_counter() - started
        print(
            f"  order {order}: fit {seconds:.2f} s = {train_words / seconds:,.0f} words/s"
            f" ({train_words / (seconds + encode_s):,.0f} words/s with tokenizing)"
        )
    unigram_ppl = report_ppl("unigram (reference)", ngrams[1], held_seqs, held_words)
    ngram_ppl = report_ppl(f"{args.order}-gram KN", ngrams[args.order], held_seqs, held_words)
    print(f"  {args.order}-gram / unigram perplexity: {ngram_ppl / unigram_ppl:.2f}")

    print_generation(ngrams[args.order], tokenizer, held_out, args.gen_tokens)

    if not torch_available():
        print("\ntiny transformer: skipped, torch is not installed")
        return
    config = TinyGPTConfig(
        tokenizer.vocab_size, context=args.context, d_model=args.d_model, n_layer=args.layers
    )
    probe = held_seqs[:150]
    probe_words = sum(p.words for p in held_out[:150])
    probe_unigram = perplexity(ngrams[1], probe, probe_words).per_word
    print(
        f"\ntiny transformer {config}, batch {args.batch}, {args.threads} thread(s),"
        f" budget {args.tinygpt_seconds:.0f} s"
        f"\n  held-out probe ({len(probe)} answers) along training; unigram there:"
        f" {probe_unigram:.1f}/word"
    )
    marks = iter(np.arange(args.eval_every, 10 * args.tinygpt_seconds, args.eval_every))
    next_mark = [next(marks)]

    def on_step(step: int, loss: float, seconds: float, model: TinyGPTStudent) -> None:
        if seconds < next_mark[0]:
            return
        next_mark[0] = next(marks)
        ppl = perplexity(model, probe, probe_words).per_word
        print(
            f"    step {step:6d}  {seconds:5.0f} s  train loss {loss:.3f}  probe ppl/word"
            f" {ppl:8.1f}  ({ppl / probe_unigram:.2f} x unigram)"
        )

    student, report = train_tinygpt(
        train_seqs,
        config,
        steps=args.tinygpt_steps,
        batch=args.batch,
        seed=args.seed,
        time_budget_s=args.tinygpt_seconds,
        lr=args.lr,
        threads=args.threads,
        on_step=on_step,
    )
    train_targets = sum(seq.size - target_start(seq) for seq in train_seqs)
    print(
        f"  trained {report.steps} steps in {report.seconds:.0f} s:"
        f" {report.tokens_seen / report.seconds:,.0f} target tokens/s,"
        f" {report.tokens_seen / train_targets:.2f} epochs of the training answers"
    )
    tiny_ppl = report_ppl("tiny transformer", student, held_seqs, held_words)
    print(f"  tiny transformer / unigram perplexity: {tiny_ppl / unigram_ppl:.2f}")
    print(f"  tiny transformer / {args.order}-gram perplexity: {tiny_ppl / ngram_ppl:.2f}")
    print_generation(student, tokenizer, held_out, args.gen_tokens)


if __name__ == "__main__":
    main()
