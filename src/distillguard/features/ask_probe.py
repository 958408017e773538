"""Is a short span an ask for the model's reasoning ("cot"), for a grade ("rubric"), or neither
("ordinary")? Two views of its all-MiniLM-L6-v2 embedding, both of which must agree.

Nearest-prototype similarity knows the wordings it was given and little else: on phrasings
written independently of the prototypes (``benchmarks/data/ask_phrasings.yaml``) it recognised
fewer than half. Here the labelled bank is ~1,000 varied phrasings (``ask_training.yaml``,
written separately from that evaluation set, in 21 languages) plus the prototypes, plus real
people's candidate spans as ordinary, and a span counts as intent c when

- a multinomial logistic regression over the embeddings gives c at least ``MIN_PROBABILITY``
  (it learns the direction of the meaning), and
- its ``NEIGHBOURS`` nearest labelled phrasings of class c are, on average, nearer than those
  of any other class (it stays close to what people actually write).

Either alone lets through two to three times the real spans the pair does
(``benchmarks/ask_probe_eval.py``). The bank's embeddings and the regression's weights ship
with the package (``ask_probe.npz``, float16 embeddings), with the training data's digest so a
stale file is caught by a test. Retrain after changing the training phrasings or prototypes:

    .venv/bin/python -m distillguard.features.ask_probe
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
import yaml

from distillguard.features.embedding import F32, MiniLMEncoder

if TYPE_CHECKING:
    from distillguard.sim.resources import Pool

CLASSES: Final = ("cot", "rubric", "ordinary")
MIN_PROBABILITY: Final = 0.3
NEIGHBOURS: Final = 5
L2: Final = 1e-4
STEPS: Final = 3000
LEARNING_RATE: Final = 0.5
REAL_SPANS: Final = 2000


def package_file(name: str) -> Path:
    return Path(str(resources.files("distillguard.features").joinpath(name)))


def training_data() -> dict[str, list[str]]:
    """The written phrasings per class: the training file and the spotter's prototypes
    (``train`` adds ``REAL_SPANS`` real people's candidate spans as ordinary)."""
    from distillguard.features.semantic import ORDINARY, PROTOTYPES

    raw = yaml.safe_load(package_file("ask_training.yaml").read_text(encoding="utf-8"))
    data = {c: [str(s) for s in raw[c]] for c in CLASSES}
    data["cot"] += PROTOTYPES["cot"]
    data["rubric"] += PROTOTYPES["rubric"]
    data["ordinary"] += ORDINARY
    return data


def real_spans(limit: int, pool: Pool = "attack") -> list[str]:
    """Up to ``limit`` distinct candidate spans (``features.asks``) of ShareGPT user turns from
    one of the simulator's pools.

    The probe trains on the attack pool, where the turns are only the questions wrapped in
    attack templates: the people of the evaluation (the benign pool) stay unseen. Short clean
    phrasings alone taught the probe nothing about what real prompts' spans look like (code,
    fragments, pasted text), and it took 15% of them for asks."""
    from distillguard.features.asks import ask_spans
    from distillguard.sim.resources import DataBank

    spans: dict[str, None] = {}
    for conv in DataBank(20_000).sharegpt(pool):
        for turn in conv.user_turns:
            spans.update(dict.fromkeys(ask_spans(turn.text)))
        if len(spans) >= limit:
            break
    return list(spans)[:limit]


def fingerprint(written: dict[str, list[str]] | None, settings: str) -> str:
    """Of the phrasings written down (``training_data``) and a trainer's settings: what a
    shipped model records as ``trained_on``, so that a test catches it stale."""
    text = json.dumps(written if written is not None else training_data(), sort_keys=True)
    return hashlib.blake2b((text + settings).encode(), digest_size=16).hexdigest()


def digest(written: dict[str, list[str]] | None = None) -> str:
    return fingerprint(written, f"{REAL_SPANS}|{L2}|{STEPS}|{LEARNING_RATE}")


class AskProbe:
    def __init__(
        self,
        weights: F32,
        bias: F32,
        bank: F32,
        bank_labels: npt.NDArray[np.int64],
        classes: Sequence[str],
        trained_on: str,
    ):
        k = len(classes)
        if weights.ndim != 2 or weights.shape[0] != k or bias.shape != (k,):
            raise ValueError(f"probe weights of shape {weights.shape} for {k} classes")
        if bank.shape != (len(bank_labels), weights.shape[1]):
            raise ValueError(f"a bank of shape {bank.shape} for {len(bank_labels)} labels")
        if np.bincount(bank_labels, minlength=k).min() < NEIGHBOURS:
            raise ValueError(f"every class needs at least {NEIGHBOURS} bank phrasings")
        self.weights, self.bias = weights, bias
        self.bank, self.bank_labels = bank, bank_labels
        self.classes = tuple(classes)
        self.trained_on = trained_on

    @classmethod
    def load(cls, path: Path | None = None) -> AskProbe:
        with np.load(path or package_file("ask_probe.npz")) as raw:
            return cls(
                raw["weights"].astype(np.float32),
                raw["bias"].astype(np.float32),
                raw["bank"].astype(np.float32),
                raw["bank_labels"].astype(np.int64),
                [str(c) for c in raw["classes"]],
                str(raw["trained_on"]),
            )

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            weights=self.weights,
            bias=self.bias,
            bank=self.bank.astype(np.float16),
            bank_labels=self.bank_labels.astype(np.int8),
            classes=np.asarray(self.classes),
            trained_on=np.asarray(self.trained_on),
        )

    def probabilities(self, vectors: F32) -> F32:
        """The regression's class probabilities, one row per (unit-length) embedding."""
        logits = vectors @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        probs: F32 = (odds / odds.sum(axis=1, keepdims=True)).astype(np.float32)
        return probs

    def neighbour_margins(self, vectors: F32) -> F32:
        """Per class: the mean cosine of the ``NEIGHBOURS`` nearest bank phrasings of that
        class, less the largest such mean among the other classes."""
        sims = vectors @ self.bank.T
        near = np.stack(
            [
                # The NEIGHBOURS largest, unordered: a partial sort, not a full one.
                np.partition(sims[:, self.bank_labels == c], -NEIGHBOURS, axis=1)[
                    :, -NEIGHBOURS:
                ].mean(axis=1)
                for c in range(len(self.classes))
            ],
            axis=1,
        )
        others = np.stack(
            [np.delete(near, c, axis=1).max(axis=1) for c in range(len(self.classes))], axis=1
        )
        margins: F32 = (near - others).astype(np.float32)
        return margins

    def scores(self, vectors: F32) -> F32:
        """Per embedding and class: >= 0 when both views say the class. The smaller of the
        probability's excess over ``MIN_PROBABILITY`` and the neighbour margin."""
        excess = self.probabilities(vectors) - np.float32(MIN_PROBABILITY)
        both: F32 = np.minimum(excess, self.neighbour_margins(vectors))
        return both


def fit(
    vectors: F32, labels: npt.NDArray[np.int64], groups: npt.NDArray[np.int64], classes: int
) -> tuple[F32, F32]:
    """Multinomial logistic regression, every group of examples weighted equally, L2 on the
    weights; full-batch gradient descent (the problem is small and convex)."""
    n, dim = vectors.shape
    counts = np.bincount(groups).astype(np.float64)
    sample_weight = (1.0 / (len(counts) * counts))[groups]
    onehot = np.eye(classes)[labels]
    x = vectors.astype(np.float64)
    w, b = np.zeros((classes, dim)), np.zeros(classes)
    for _ in range(STEPS):
        logits = x @ w.T + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - onehot) * sample_weight[:, None]
        w -= LEARNING_RATE * (grad.T @ x + L2 * w)
        b -= LEARNING_RATE * grad.sum(axis=0)
    return w.astype(np.float32), b.astype(np.float32)


def train(encoder: MiniLMEncoder) -> AskProbe:
    from distillguard.features.asks import normalise

    written = training_data()
    data = {c: list(v) for c, v in written.items()}
    data["ordinary"] += real_spans(REAL_SPANS)
    texts = [normalise(s) for c in CLASSES for s in data[c]]
    labels = np.asarray([i for i, c in enumerate(CLASSES) for _ in data[c]], dtype=np.int64)
    # Groups: the classes, and real people's spans apart from the written ordinary phrasings,
    # so that thousands of easy real negatives do not drown the hard written ones.
    groups = np.asarray(
        [i if k < len(written[c]) else len(CLASSES) for i, c in enumerate(CLASSES)
         for k in range(len(data[c]))], dtype=np.int64,
    )  # fmt: skip
    vectors = encoder.encode(texts)
    weights, bias = fit(vectors, labels, groups, len(CLASSES))
    # The bank as it ships (float16), so that training and use see the same neighbours.
    bank = vectors.astype(np.float16).astype(np.float32)
    return AskProbe(weights, bias, bank, labels, CLASSES, digest(written))


def main() -> None:
    probe = train(MiniLMEncoder.load())
    out = package_file("ask_probe.npz")
    probe.save(out)
    print(f"wrote {out} ({len(probe.bank_labels)} phrasings; trained on {probe.trained_on})")


if __name__ == "__main__":
    main()
