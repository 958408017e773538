"""A tiny decoder-only transformer student, trained from scratch on CPU.

The n-gram student only sees two words back; this one stands for the real threat, a neural
model distilled from our answers. torch is an optional extra, so this module imports without
it: the torch code lives in `transformer` and is loaded on first use, and a missing torch
raises `StudentUnavailable` with the install line instead of an `ImportError` at import time.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from distillguard.forensics.students.transformer import TinyGPTStudent

__all__ = [
    "StudentUnavailable",
    "TinyGPTConfig",
    "TrainingReport",
    "torch_available",
    "train_tinygpt",
]

# (step, loss, training seconds so far, the model as it stands); its time is not counted
StepCallback = Callable[[int, float, float, "TinyGPTStudent"], None]


class StudentUnavailable(RuntimeError):
    """The neural student needs torch, which is not installed."""


@dataclass(frozen=True, slots=True)
class TinyGPTConfig:
    """Shape of the model.

    The output layer is an adaptive softmax (Grave et al. 2017) split at `cutoffs`: token ids
    are ranked by frequency, so the rare tail sits in cheaper, narrower clusters. With a 16k
    vocabulary that makes a training step ~10x cheaper on CPU than a full softmax. Cutoffs at
    or past the vocabulary are dropped; with none left the output layer is the (tied)
    token embedding.
    """

    vocab_size: int
    context: int = 64
    d_model: int = 128
    n_layer: int = 2
    n_head: int = 4
    cutoffs: tuple[int, ...] = (2000, 6000)

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_head {self.n_head}")
        if min(self.vocab_size, self.context, self.n_layer) < 1:
            raise ValueError("vocab_size, context and n_layer must be positive")


@dataclass(frozen=True, slots=True)
class TrainingReport:
    steps: int
    seconds: float  # training time, callbacks excluded
    tokens_seen: int  # target tokens the loss was computed on
    losses: tuple[float, ...]  # one per step, mean cross-entropy in nats


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def train_tinygpt(
    sequences: Sequence[NDArray[np.int64]],
    config: TinyGPTConfig,
    *,
    steps: int,
    batch: int = 32,
    seed: int = 0,
    time_budget_s: float | None = None,
    lr: float = 3e-3,
    weight_decay: float = 0.1,
    threads: int = 1,
    on_step: StepCallback | None = None,
) -> tuple[TinyGPTStudent, TrainingReport]:
    """Train with AdamW on random windows of the packed `sequences`, answers as targets.

    Stops after `steps` or `time_budget_s` seconds of training, whichever comes first; the
    learning rate warms up, then decays on a cosine over whichever budget is further along.
    With no time budget the result is a function of the inputs, `seed` and `threads`.

    `threads` (also used by the returned student) defaults to 1: on a 2-core machine that
    other processes also load, 2 torch threads made a training step 25-30x slower (OpenMP
    threads wait on each other), while on an idle machine they gain under 2x.
    """
    try:
        from distillguard.forensics.students import transformer
    except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without torch
        if exc.name != "torch":
            raise
        raise StudentUnavailable(
            "the tiny transformer student needs torch: pip install torch==2.13.0 (a CPU build)"
        ) from exc
    return transformer.fit(
        sequences,
        config,
        steps=steps,
        batch=batch,
        seed=seed,
        time_budget_s=time_budget_s,
        lr=lr,
        weight_decay=weight_decay,
        threads=threads,
        on_step=on_step,
    )
