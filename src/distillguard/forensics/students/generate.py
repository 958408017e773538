"""One sampling loop for every student (and for a teacher we own).

A model only has to say `next_logits(context_ids)`; the loop adds the rest. Logits processors
use llama-cpp-python's `LogitsProcessor` signature, `(input_ids, scores) -> scores`, and run
in order on the model's logits before temperature and top-k. That hook is where a logits-level
green-list watermark goes on a teacher, and where an attacker subtracts an estimated bias.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from distillguard.forensics.students.tokenizer import BOS, EOS, SEP, UNK, WordTokenizer

__all__ = [
    "BatchedModel",
    "LogitsProcessor",
    "NextTokenModel",
    "generate",
    "generate_ids",
    "generate_ids_many",
    "generate_many",
]

# May return any float dtype (the loop converts back to float32) and may modify its input.
LogitsProcessor = Callable[[NDArray[np.int64], NDArray[np.float32]], NDArray[np.floating[Any]]]


class NextTokenModel(Protocol):
    """What the sampling loop needs from a model."""

    @property
    def vocab_size(self) -> int: ...

    def next_logits(self, context_ids: NDArray[np.int64]) -> NDArray[np.float32]:
        """Unnormalised scores (or log-probabilities) of the next token, float32 over the vocab."""
        ...


@runtime_checkable
class BatchedModel(Protocol):
    """A model that scores many contexts at once (the transformer: one forward pass)."""

    def next_logits_batch(self, contexts: Sequence[NDArray[np.int64]]) -> NDArray[np.float32]:
        """`next_logits` of each context, stacked: (len(contexts), vocab)."""
        ...


def generate_ids(
    model: NextTokenModel,
    context_ids: NDArray[np.int64],
    max_tokens: int,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    processors: Sequence[LogitsProcessor] = (),
    allow_unk: bool = False,
) -> NDArray[np.int64]:
    """Sample up to `max_tokens` ids after `context_ids`; stops after (and drops) `<eos>`.

    `<bos>` and `<sep>` are never sampled, nor `<unk>` unless `allow_unk`: they are structure,
    not text, and an "<unk>" in a generation would only add noise to a watermark test.
    Processors see the whole context (prompt and the ids generated so far) and may change the
    scores they are given. `temperature=0` is greedy decoding.
    """
    return generate_ids_many(
        model,
        [context_ids],
        max_tokens,
        [rng],
        temperature=temperature,
        top_k=top_k,
        processors=processors,
        allow_unk=allow_unk,
    )[0]


def generate_ids_many(
    model: NextTokenModel,
    contexts: Sequence[NDArray[np.int64]],
    max_tokens: int,
    rngs: Sequence[np.random.Generator],
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    processors: Sequence[LogitsProcessor] = (),
    allow_unk: bool = False,
) -> list[NDArray[np.int64]]:
    """`generate_ids` for many contexts in lockstep, context i sampled with `rngs[i]`.

    A `BatchedModel` scores all unfinished contexts in one call per step. Processors are
    called once per context and step, so calls for different contexts interleave.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if len(rngs) != len(contexts):
        raise ValueError(f"need one generator per context: {len(rngs)} for {len(contexts)}")
    banned = [BOS, SEP] if allow_unk else [BOS, SEP, UNK]
    ids = [np.asarray(context, dtype=np.int64).copy() for context in contexts]
    generated: list[list[int]] = [[] for _ in contexts]
    active = list(range(len(contexts)))
    for _ in range(max_tokens):
        if not active:
            break
        if isinstance(model, BatchedModel) and len(active) > 1:
            rows = model.next_logits_batch([ids[i] for i in active])
        else:
            rows = np.stack([model.next_logits(ids[i]) for i in active])
        still = []
        for row, i in zip(rows, active, strict=True):
            scores = np.array(row, dtype=np.float32)
            for processor in processors:
                scores = np.asarray(processor(ids[i], scores), dtype=np.float32)
            token = _sample(scores, banned, rngs[i], temperature, top_k)
            if token != EOS:
                generated[i].append(token)
                ids[i] = np.append(ids[i], token)
                still.append(i)
        active = still
    return [np.array(tokens, dtype=np.int64) for tokens in generated]


def generate(
    model: NextTokenModel,
    tokenizer: WordTokenizer,
    prompt: str,
    max_tokens: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
    processors: Sequence[LogitsProcessor] = (),
) -> str:
    """The student's answer to `prompt` (context `<bos> prompt <sep>`), as text."""
    ids = generate_ids(
        model,
        tokenizer.encode_prompt(prompt),
        max_tokens,
        rng,
        temperature=temperature,
        top_k=top_k,
        processors=processors,
    )
    return tokenizer.decode(ids)


def generate_many(
    model: NextTokenModel,
    tokenizer: WordTokenizer,
    prompts: Sequence[str],
    max_tokens: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
    processors: Sequence[LogitsProcessor] = (),
    batch_size: int = 32,
) -> list[str]:
    """Answers to many prompts, `batch_size` at a time, each from its own child of `rng`.

    Spawning one generator per prompt makes an answer depend on the seed and the prompt's
    position only, not on the other prompts (for a `BatchedModel`, up to the float rounding
    of a batched forward pass).
    """
    children = rng.spawn(len(prompts))
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        outputs = generate_ids_many(
            model,
            [tokenizer.encode_prompt(prompt) for prompt in batch],
            max_tokens,
            children[start : start + batch_size],
            temperature=temperature,
            top_k=top_k,
            processors=processors,
        )
        answers.extend(tokenizer.decode(ids) for ids in outputs)
    return answers


def _sample(
    scores: NDArray[np.float32],
    banned: list[int],
    rng: np.random.Generator,
    temperature: float,
    top_k: int | None,
) -> int:
    logits = scores.astype(np.float64)
    logits[banned] = -np.inf
    if temperature == 0:
        return int(np.argmax(logits))
    if top_k is not None and top_k < logits.size:
        cut = np.partition(logits, logits.size - top_k)[logits.size - top_k]
        logits[logits < cut] = -np.inf
    top = float(np.max(logits))
    if not np.isfinite(top):
        raise ValueError("every token is banned: no finite score left to sample from")
    weights = np.exp((logits - top) / temperature)
    cumulative = np.cumsum(weights)
    token = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    if token == weights.size:  # the draw rounded up to the total
        token = int(np.flatnonzero(weights)[-1])
    return token
