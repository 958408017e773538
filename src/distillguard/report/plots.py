"""The evaluation's figures as Plotly figures, so a report can be zoomed and hovered offline.

Embed them with :func:`distillguard.report.html.figure_div`; the page inlines plotly.js once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

HEIGHT = 380
TEMPLATE = "plotly_white"
LINE_COLOR = "#cc3311"
BINS = 40


def _layout(fig: go.Figure, title: str, xlabel: str, ylabel: str) -> go.Figure:
    if not fig.data:  # say so, rather than leave a reader wondering whether the page broke
        fig.add_annotation(
            text="no data", xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False
        )
    fig.update_layout(
        title={"text": title},
        xaxis_title=xlabel,
        yaxis_title=ylabel,
        template=TEMPLATE,
        height=HEIGHT,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"font": {"size": 10}},
    )
    return fig


def _dashed_vline(fig: go.Figure, x: float, label: str) -> None:
    """A shape rather than a trace: it spans the plot whatever the y axis (log, categories)."""
    fig.add_vline(
        x=x,
        line={"color": LINE_COLOR, "dash": "dash", "width": 1.5},
        annotation_text=label,
        annotation_position="top right",
        annotation_font_color=LINE_COLOR,
    )


def detection_curves(requests_to_detect: Mapping[str, Sequence[float]], title: str) -> go.Figure:
    """Share of a group's accounts flagged by their n-th request (step curves, log x).

    The share is of the group's flagged accounts, so each curve ends at 1; how many were flagged
    is in the tables beside it.
    """
    fig = go.Figure()
    for group, values in sorted(requests_to_detect.items()):
        if not values:
            continue
        xs = sorted(values)
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=group,
                mode="lines",
                line={"shape": "hv"},  # a step that holds each share until the next account
                hovertemplate="request %{x}<br>%{y:.1%} flagged",
            )
        )
    fig.update_xaxes(type="log")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_layout(showlegend=True)  # name the group even when it is the only curve
    return _layout(
        fig, title, "account's own request index at first flag", "share of flagged accounts"
    )


def bars(values: Mapping[str, float], title: str, xlabel: str, target: float | None) -> go.Figure:
    """Horizontal bars, one per name, with the target as a dashed line to read them against."""
    fig = go.Figure()
    if values:
        names = list(values)
        fig.add_trace(
            go.Bar(
                x=[values[n] for n in names],
                y=names,
                orientation="h",
                marker_color="#4477aa",
                showlegend=False,
                hovertemplate="%{y}: %{x:.3g}<extra></extra>",
            )
        )
    if target is not None:
        _dashed_vline(fig, target, f"target {target:g}")
    fig.update_yaxes(autorange="reversed")  # first name on top, in the order given
    return _layout(fig, title, xlabel, "")


def score_histogram(scores: Mapping[str, Sequence[float]], threshold: float) -> go.Figure:
    """Overlaid histograms of each group's highest score, log y, with the flag threshold.

    Counted here (40 bins over [0, 1], the last one closed so a score of 1.0 counts) so the page
    carries 40 counts per group rather than every account's score; empty bins are left out
    because a log axis has no zero.
    """
    edges = np.linspace(0.0, 1.0, BINS + 1)
    centers = ((edges[:-1] + edges[1:]) / 2).tolist()
    fig = go.Figure()
    for label, values in scores.items():
        if not values:
            continue
        counts, _ = np.histogram(np.asarray(values, dtype=float), bins=edges)
        fig.add_trace(
            go.Bar(
                x=centers,
                y=[int(c) if c else None for c in counts],
                width=1.0 / BINS,
                name=f"{label} ({len(values)})",
                opacity=0.55,
                hovertemplate="score %{x:.3f}<br>%{y} accounts",
            )
        )
    _dashed_vline(fig, threshold, f"flag threshold {threshold:g}")
    fig.update_layout(barmode="overlay", bargap=0)
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(type="log")
    return _layout(
        fig,
        "Score distributions: benign, look-alikes, attacks",
        "highest score an account reached",
        "accounts (log)",
    )
