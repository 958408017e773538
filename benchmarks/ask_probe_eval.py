"""The semantic layer's span scoring on phrasings it never saw: prototypes against the probe.

    .venv/bin/python benchmarks/ask_probe_eval.py [--real 2000]

``benchmarks/data/ask_phrasings.yaml`` was written by someone who saw neither the prototypes
(``features.semantic``), the probe's training phrasings (``features/ask_training.yaml``) nor
the simulator's template banks: asks for the reasoning ("cot"), asks for a grade ("rubric"),
and hard negatives that share their words ("ordinary"). For each scorer the table gives the
share of each class it counts as an ask of the right intent: once for the span alone
("scored"), and once as the engine sees it, only when the candidate trigger
(``features.asks``) offers the span at all ("offered and scored"). The last row is the share
of real people's candidate spans (ShareGPT's benign pool, as the simulator's people use it)
counted as an ask, which the account-level detector must then absorb. "prefilter+probe" is the
probe behind the cheap first look (``features.ask_prefilter``), as the engine runs it; the last
line gives the share of each class the prefilter lets through to the encoder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml

from distillguard.features.ask_prefilter import AskPrefilter
from distillguard.features.ask_probe import AskProbe, real_spans
from distillguard.features.asks import ask_spans, normalise
from distillguard.features.embedding import MiniLMEncoder
from distillguard.features.semantic import IntentSpotter

DATA = Path(__file__).parent / "data" / "ask_phrasings.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", type=int, default=2000, help="real candidate spans to score")
    args = parser.parse_args()
    data = {k: [str(s) for s in v] for k, v in yaml.safe_load(DATA.read_text("utf-8")).items()}
    encoder = MiniLMEncoder.load()
    probe = AskProbe.load()
    scorers = {
        "prototypes": IntentSpotter(encoder),
        "probe": IntentSpotter(encoder, probe),
        "prefilter+probe": IntentSpotter(encoder, probe, prefilter=AskPrefilter.load()),
    }
    real = real_spans(args.real, "benign")
    texts = {k: [normalise(s) for s in v] for k, v in data.items()}
    texts["real"] = real
    vectors = {k: encoder.encode(v) for k, v in texts.items()}
    offered = {k: np.asarray([bool(ask_spans(s)) for s in v]) for k, v in data.items()}
    offered["real"] = np.ones(len(real), dtype=bool)
    print(f"{len(real)} real candidate spans; trigger offers: ", end="")
    print(", ".join(f"{k} {v.mean():.0%}" for k, v in offered.items() if k != "real"))
    print(
        f"\n{'class':<22}{'n':>6}"
        + "".join(f"{n + ' scored':>24}{'offered+scored':>16}" for n in scorers)
    )
    for label in (*data, "real"):
        row = f"{label:<22}{len(offered[label]):>6}"
        for spotter in scorers.values():
            fired = np.asarray(spotter.score(vectors[label])) >= spotter.threshold
            if spotter.prefilter is not None:  # what it turns away is never embedded
                fired &= np.asarray(spotter.prefilter.passes(texts[label]))[:, None]
            # A negative counts against the scorer when any intent fires.
            column = spotter.intents.index(label) if label in spotter.intents else None
            hit = fired.any(axis=1) if column is None else fired[:, column]
            row += f"{hit.mean():>24.1%}{(hit & offered[label]).mean():>16.1%}"
        print(row)
    prefilter = scorers["prefilter+probe"].prefilter
    assert prefilter is not None
    print("\nprefilter lets through to the encoder: ", end="")
    print(", ".join(f"{k} {np.mean(prefilter.passes(v)):.1%}" for k, v in texts.items()))


if __name__ == "__main__":
    main()
