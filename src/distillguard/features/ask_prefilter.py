"""A cheap first look at a candidate span before the encoder: could it be an ask at all?

Embedding a span (``features.embedding``) costs milliseconds, and most of the spans the trigger
offers (``features.asks``) are people's own questions that the probe (``features.ask_probe``)
then rejects: ~97% of real people's candidate spans. This is a logistic regression over hashed
character 3-5-grams and words (no model, microseconds per span), trained on the probe's own
data; a span it scores below ``threshold`` is not embedded and counts as no ask.

The threshold is set for recall, not precision: it is the score that 99% of the written asks
reach when each is scored by a model trained without it (five-fold cross-validation), so that
it holds for wordings the regression never saw. ``benchmarks/ask_probe_eval.py`` measures it on
the blind evaluation set: which of the asks the probe accepts this lets through, and which
share of real people's spans it spares the encoder. Retrain after changing the training data:

    .venv/bin/python -m distillguard.features.ask_prefilter
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from distillguard.features.ask_probe import fingerprint, package_file, real_spans, training_data
from distillguard.features.asks import normalise

BITS: Final = 18
NGRAMS: Final = (3, 4, 5)
L2: Final = 1e-3
FOLDS: Final = 5
RECALL: Final = 0.99  # of held-out written asks, at the threshold
REAL_SPANS: Final = 20_000  # as many as the attack pool gives (~7k)
MAX_ITER: Final = 500
_MASK: Final = (1 << BITS) - 1

F32 = npt.NDArray[np.float32]


def hashed(span: str) -> set[int]:
    """The feature buckets of a (normalised) span: its character n-grams and its words."""
    padded = f" {span} "
    buckets = {
        zlib.crc32(padded[i : i + n].encode()) & _MASK
        for n in NGRAMS
        for i in range(len(padded) - n + 1)
    }
    buckets.update(zlib.crc32(b"w" + word.encode()) & _MASK for word in span.split())
    return buckets


class AskPrefilter:
    def __init__(self, weights: F32, bias: float, threshold: float, trained_on: str):
        if weights.shape != (1 << BITS,):
            raise ValueError(f"prefilter weights of shape {weights.shape}, not {(1 << BITS,)}")
        self.weights, self.bias, self.threshold = weights, bias, threshold
        self.trained_on = trained_on

    @classmethod
    def load(cls, path: Path | None = None) -> AskPrefilter:
        with np.load(path or package_file("ask_prefilter.npz")) as raw:
            return cls(
                raw["weights"].astype(np.float32),
                float(raw["bias"]),
                float(raw["threshold"]),
                str(raw["trained_on"]),
            )

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            weights=self.weights.astype(np.float16),
            bias=np.float32(self.bias),
            threshold=np.float32(self.threshold),
            trained_on=np.asarray(self.trained_on),
        )

    def score(self, span: str) -> float:
        return self.bias + float(self.weights[list(hashed(span))].sum())

    def passes(self, spans: Sequence[str]) -> list[bool]:
        """Per span: worth embedding (it may be an ask)."""
        return [self.score(s) >= self.threshold for s in spans]


def digest(written: dict[str, list[str]] | None = None) -> str:
    return fingerprint(written, f"{BITS}|{NGRAMS}|{L2}|{FOLDS}|{RECALL}|{REAL_SPANS}|{MAX_ITER}")


def _matrix(texts: Sequence[str]) -> Any:
    import scipy.sparse as sp

    rows: list[int] = []
    cols: list[int] = []
    for row, text in enumerate(texts):
        buckets = hashed(text)
        rows += [row] * len(buckets)
        cols += buckets
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), 1 << BITS))


def fit(x: Any, y: npt.NDArray[np.float64], weight: npt.NDArray[np.float64]) -> F32:
    """Weighted binary logistic regression with L2 on the weights (L-BFGS); the bias last."""
    from scipy.optimize import minimize

    dim = x.shape[1]

    def loss(params: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        w, b = params[:-1], params[-1]
        z = x @ w + b
        # log(1 + e^z) - y z, stably
        value = float((weight * (np.logaddexp(0.0, z) - y * z)).sum() + 0.5 * L2 * (w @ w))
        g = weight * (1.0 / (1.0 + np.exp(-z)) - y)
        return value, np.concatenate([x.T @ g + L2 * w, [g.sum()]])

    found = minimize(loss, np.zeros(dim + 1), jac=True, method="L-BFGS-B",
                     options={"maxiter": MAX_ITER})  # fmt: skip
    return np.asarray(found.x, dtype=np.float32)


def train() -> AskPrefilter:
    written = training_data()
    asks = [normalise(s) for s in written["cot"] + written["rubric"]]
    ordinary = [normalise(s) for s in written["ordinary"]]
    real = real_spans(REAL_SPANS)  # the attack pool: the evaluation's people stay unseen
    texts = asks + ordinary + real
    y = np.asarray([1.0] * len(asks) + [0.0] * (len(ordinary) + len(real)))
    # Asks, written ordinary phrasings and real spans weigh a third each.
    groups = np.asarray([0] * len(asks) + [1] * len(ordinary) + [2] * len(real))
    weight = (1.0 / (3.0 * np.bincount(groups)))[groups]
    x = _matrix(texts)
    held_out = np.zeros(len(texts))
    fold = np.random.default_rng(0).integers(0, FOLDS, len(texts))
    for k in range(FOLDS):
        rest = fold != k
        params = fit(x[rest], y[rest], weight[rest])
        held_out[~rest] = x[~rest] @ params[:-1] + params[-1]
    threshold = float(np.quantile(held_out[y == 1.0], 1.0 - RECALL))
    params = fit(x, y, weight)
    return AskPrefilter(params[:-1], float(params[-1]), threshold, digest(written))


def main() -> None:
    prefilter = train()
    out = package_file("ask_prefilter.npz")
    prefilter.save(out)
    print(f"wrote {out} (threshold {prefilter.threshold:.3f}; trained on {prefilter.trained_on})")


if __name__ == "__main__":
    main()
