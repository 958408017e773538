"""Plots with matplotlib, embedded in HTML as base64 PNG so a report is one offline file."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first


def _png(fig: object) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def img(png_b64: str, alt: str) -> str:
    return f'<img alt="{alt}" src="data:image/png;base64,{png_b64}">'


def detection_curves(requests_to_detect: Mapping[str, Sequence[float]], title: str) -> str:
    """Share of a group's accounts flagged by their n-th request (step curves, log x)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for group, values in sorted(requests_to_detect.items()):
        if not values:
            continue
        xs = sorted(values)
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        ax.step(xs, ys, where="post", label=group)
    ax.set_xscale("log")
    ax.set_xlabel("account's own request index at first flag")
    ax.set_ylabel("share of flagged accounts")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def bars(values: Mapping[str, float], title: str, xlabel: str, target: float | None) -> str:
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    names = list(values)
    ax.barh(names, [values[n] for n in names], color="#4477aa")
    if target is not None:
        ax.axvline(target, color="#cc3311", linestyle="--", label=f"target {target:g}")
        ax.legend()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def score_histogram(scores: Mapping[str, Sequence[float]], threshold: float) -> str:
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    bins = [i / 40 for i in range(41)]
    for label, values in scores.items():
        if values:
            ax.hist(values, bins=bins, alpha=0.55, label=f"{label} ({len(values)})", log=True)
    ax.axvline(threshold, color="#cc3311", linestyle="--", label="flag threshold")
    ax.set_xlabel("highest score an account reached")
    ax.set_ylabel("accounts (log)")
    ax.set_title("Score distributions: benign, look-alikes, attacks")
    ax.legend()
    return _png(fig)
