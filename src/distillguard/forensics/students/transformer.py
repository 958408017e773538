"""The torch half of the tiny transformer student: model, training loop, scoring.

Imported only through `tinygpt.train_tinygpt`, so the package works without torch. Pre-LayerNorm
GPT blocks with learned positions and an adaptive-softmax output layer; the output layer runs
only at target positions (answers): the vocabulary projection is the largest cost of a small
model with a large vocabulary.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from distillguard.forensics.students.tinygpt import StepCallback, TinyGPTConfig, TrainingReport
from distillguard.forensics.students.tokenizer import pack

__all__ = ["DecoderOnly", "TinyGPTStudent", "fit"]

_SCORE_BATCH = 16  # windows per forward pass when scoring long texts


class _Block(nn.Module):
    def __init__(self, config: TinyGPTConfig) -> None:
        super().__init__()
        d = config.d_model
        self.n_head = config.n_head
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(attended.transpose(1, 2).reshape(b, t, d))
        out: torch.Tensor = x + self.mlp(self.ln2(x))
        return out


class DecoderOnly(nn.Module):
    def __init__(self, config: TinyGPTConfig) -> None:
        super().__init__()
        self.config = config
        self.tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.positions = nn.Embedding(config.context, config.d_model)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model)
        cutoffs = [c for c in config.cutoffs if c < config.vocab_size - 1]
        self.adaptive = (
            nn.AdaptiveLogSoftmaxWithLoss(config.d_model, config.vocab_size, cutoffs, div_value=4.0)
            if cutoffs
            else None
        )
        for name, param in self.named_parameters():
            if param.dim() >= 2:
                # GPT-2 init; residual outputs scaled down by depth
                std = 0.02 / math.sqrt(2 * config.n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(param, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(param)

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """Final hidden states, (batch, time, d_model)."""
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.tokens(idx) + self.positions(positions)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)  # type: ignore[no-any-return]

    def log_probs(self, hidden: torch.Tensor) -> torch.Tensor:
        """Next-token log-probabilities over the vocabulary, (n, vocab), from (n, d_model)."""
        if self.adaptive is not None:
            return self.adaptive.log_prob(hidden)
        return F.log_softmax(hidden @ self.tokens.weight.T, dim=-1)

    def target_log_probs(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """log p(target) per row, without the full distribution when the softmax is adaptive."""
        if self.adaptive is not None:
            return self.adaptive(hidden, targets).output  # type: ignore[no-any-return]
        return self.log_probs(hidden).gather(1, targets[:, None])[:, 0]

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.log_probs(self.hidden(idx).flatten(0, 1)).view(*idx.shape, -1)


class TinyGPTStudent:
    """A trained `DecoderOnly` behind the students' numpy interface.

    Every call runs on `threads` torch threads and then restores the process's setting.
    """

    def __init__(self, module: DecoderOnly, threads: int = 1) -> None:
        self.module = module.eval()
        self.config = module.config
        self.threads = threads

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def next_logits(self, context_ids: NDArray[np.int64]) -> NDArray[np.float32]:
        """Log-probabilities of the next token, from the last `context` ids."""
        ids = np.asarray(context_ids, dtype=np.int64)[-self.config.context :]
        with _threads(self.threads), torch.inference_mode():
            hidden = self.module.hidden(torch.from_numpy(ids.copy())[None])
            out = self.module.log_probs(hidden[0, -1:])[0]
        return out.numpy().astype(np.float32)

    def next_logits_batch(self, contexts: Sequence[NDArray[np.int64]]) -> NDArray[np.float32]:
        """`next_logits` of many contexts in one forward pass, (len(contexts), vocab).

        Contexts are right-padded: attention is causal, so padding after a context's last
        token cannot change it. Equal to `next_logits` up to float rounding.
        """
        trimmed = [np.asarray(ids, dtype=np.int64)[-self.config.context :] for ids in contexts]
        lengths = np.array([ids.size for ids in trimmed])
        batch = np.zeros((len(trimmed), int(lengths.max())), dtype=np.int64)
        for row, ids in enumerate(trimmed):
            batch[row, : ids.size] = ids
        with _threads(self.threads), torch.inference_mode():
            hidden = self.module.hidden(torch.from_numpy(batch))
            last = hidden[torch.arange(len(trimmed)), torch.from_numpy(lengths - 1)]
            out = self.module.log_probs(last)
        return out.numpy().astype(np.float32)

    def token_log_probs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """log p(ids[i] | ids[:i]) for i >= 1; past the context, windows overlap by half."""
        ids = np.asarray(ids, dtype=np.int64)
        n, c = ids.size, self.config.context
        if n < 2:
            return np.zeros(0, dtype=np.float64)
        width = min(c, n - 1)
        starts = list(range(0, n - 1 - width, max(c // 2, 1))) + [n - 1 - width]
        out = np.empty(n - 1, dtype=np.float64)
        done = 0  # targets ids[1 .. done] are scored
        with _threads(self.threads), torch.inference_mode():
            for chunk in range(0, len(starts), _SCORE_BATCH):
                group = starts[chunk : chunk + _SCORE_BATCH]
                inputs = torch.from_numpy(np.stack([ids[b : b + width] for b in group]))
                targets = torch.from_numpy(np.stack([ids[b + 1 : b + 1 + width] for b in group]))
                hidden = self.module.hidden(inputs).flatten(0, 1)
                picked = self.module.target_log_probs(hidden, targets.flatten())
                rows = picked.view(len(group), width).double().numpy()
                for row, b in zip(rows, group, strict=True):
                    out[done : b + width] = row[done - b :]
                    done = b + width
        return out


def fit(
    sequences: Sequence[NDArray[np.int64]],
    config: TinyGPTConfig,
    *,
    steps: int,
    batch: int,
    seed: int,
    time_budget_s: float | None,
    lr: float,
    weight_decay: float,
    threads: int,
    on_step: StepCallback | None,
) -> tuple[TinyGPTStudent, TrainingReport]:
    stream, mask = pack(sequences)
    c = config.context
    if stream.size < c + 2:
        raise ValueError(f"need more than {c + 1} tokens to train, got {stream.size}")
    rng = np.random.default_rng(seed)
    offsets = np.arange(c)
    with _threads(threads):
        torch.manual_seed(seed)
        model = DecoderOnly(config).train()
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        groups: list[dict[str, Any]] = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay},
        ]
        optimizer = torch.optim.AdamW(
            groups,
            lr=lr,
            betas=(0.9, 0.95),
            weight_decay=0.0,
        )
        warmup = max(1, min(100, steps // 10))
        losses: list[float] = []
        seen = 0
        elapsed = 0.0
        for step in range(steps):
            started = time.perf_counter()
            progress = step / steps
            if time_budget_s is not None:
                progress = max(progress, elapsed / time_budget_s)
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(lr, step, warmup, progress)
            window = rng.integers(0, stream.size - c - 1, size=batch)[:, None] + offsets
            inputs = torch.from_numpy(stream[window])
            targets = torch.from_numpy(stream[window + 1])
            keep = torch.from_numpy(mask[window + 1])
            if not bool(keep.any()):
                keep = torch.ones_like(keep)  # a batch of prompts only: learn them instead
            hidden = model.hidden(inputs)[keep]
            loss = -model.target_log_probs(hidden, targets[keep]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(float(loss.item()))
            seen += int(keep.sum())
            elapsed += time.perf_counter() - started
            if on_step is not None:
                on_step(step + 1, losses[-1], elapsed, TinyGPTStudent(model, threads))
                model.train()
            if time_budget_s is not None and elapsed >= time_budget_s:
                break
    report = TrainingReport(len(losses), elapsed, seen, tuple(losses))
    return TinyGPTStudent(model, threads), report


def _learning_rate(peak: float, step: int, warmup: int, progress: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


@contextmanager
def _threads(count: int) -> Iterator[None]:
    """Train on `count` threads, then give the process back its own setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
