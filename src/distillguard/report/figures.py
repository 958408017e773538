"""The dashboard's and the ``analyze`` report's plots, as Plotly figures built from a tape
view or an engine view. Pure functions of their inputs: the same data gives the same figure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import networkx as nx
import numpy as np
import plotly.graph_objects as go

from distillguard.report.tape import ACTIONS, TapeView
from distillguard.report.views import KIND_LABELS, Graph

ACTION_COLORS = {
    "allow": "#8fbf9f",
    "flag": "#f2c14e",
    "throttle": "#f08a4b",
    "degrade": "#9b6fd1",
    "review": "#4a90d9",
    "block": "#c8313b",
}
KIND_COLORS = {
    "payment": "#c8313b",
    "scaffold": "#f08a4b",
    "network": "#4a90d9",
    "system": "#7d8a99",
    "signature": "#b0b8c4",
}
_NICE_BUCKETS = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400)
_LAYOUT = {
    "template": "plotly_white",
    "height": 360,
    "margin": {"l": 50, "r": 20, "t": 50, "b": 40},
}


def bucket_seconds(span_s: float, buckets: int = 60) -> int:
    """A round bucket width that cuts ``span_s`` into about ``buckets`` bars."""
    target = max(span_s, 1.0) / buckets
    return next((b for b in _NICE_BUCKETS if b >= target), _NICE_BUCKETS[-1])


def _buckets(ts: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Bucket index of each row and the datetimes of the buckets' starts."""
    start = math.floor(float(ts.min()) / width) * width
    index = ((ts - start) // width).astype(np.int64)
    edges = start + width * np.arange(int(index.max()) + 1)
    return index, (edges * 1000).astype("datetime64[ms]")


def _empty(title: str, note: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **_LAYOUT)
    fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


def traffic(view: TapeView, title: str = "Requests and decisions over time") -> go.Figure:
    """Stacked requests per time bucket, one colour per action taken."""
    if not len(view):
        return _empty(title, "no traffic yet")
    width = bucket_seconds(float(view.ts.max() - view.ts.min()))
    index, starts = _buckets(view.ts, width)
    fig = go.Figure()
    for code, action in enumerate(ACTIONS):
        mask = view.action == code
        if not mask.any():
            continue
        counts = np.bincount(index[mask], minlength=len(starts))
        fig.add_bar(x=starts, y=counts, name=action, marker_color=ACTION_COLORS[action])
    fig.update_layout(
        title=f"{title} (per {_width_label(width)})",
        barmode="stack",
        yaxis_title="requests",
        **_LAYOUT,
    )
    return fig


def _width_label(width: int) -> str:
    if width % 3600 == 0:
        return f"{width // 3600} h"
    if width % 60 == 0:
        return f"{width // 60} min"
    return f"{width} s"


def focus(view: TapeView, title: str = "Volume and capability focus") -> go.Figure:
    """Requests per time bucket stacked by capability, and active accounts per bucket."""
    if not len(view):
        return _empty(title, "no requests on the tape")
    width = bucket_seconds(float(view.ts.max() - view.ts.min()))
    index, starts = _buckets(view.ts, width)
    fig = go.Figure()
    for code, capability in enumerate(view.capabilities):
        mask = view.capability == code
        if mask.any():
            fig.add_bar(
                x=starts, y=np.bincount(index[mask], minlength=len(starts)), name=capability
            )
    active = np.zeros(len(starts), np.int64)
    pairs = np.unique(np.stack([index, view.account.astype(np.int64)]), axis=1)
    np.add.at(active, pairs[0], 1)
    fig.add_scatter(
        x=starts,
        y=active,
        name="active accounts",
        yaxis="y2",
        mode="lines",
        line={"color": "#1d2330", "width": 2},
    )
    fig.update_layout(
        title=f"{title} (per {_width_label(width)})",
        barmode="stack",
        yaxis_title="requests",
        yaxis2={"title": "accounts", "overlaying": "y", "side": "right", "showgrid": False},
        **_LAYOUT,
    )
    return fig


def account_signals(
    view: TapeView, threshold: float, top: int = 5, title: str = "Score and signals"
) -> go.Figure:
    """One account's score at each of its requests, its strongest signals beside it, and the
    action each request got (marker colour)."""
    if not len(view):
        return _empty(title, "no requests of this account on the tape")
    x = np.arange(1, len(view) + 1)
    fig = go.Figure()
    strongest: list[int] = (
        # Strongest first (signals are unsigned bytes: sort ascending, then reverse).
        [int(j) for j in np.argsort(view.signals.max(axis=0))[::-1][:top]]
        if view.signals.size
        else []
    )
    for j in strongest:
        if view.signals[:, j].max() == 0:
            continue
        name = view.detectors[int(j)]
        fig.add_scatter(
            x=x, y=view.signal(name), name=name, mode="lines", line={"width": 1.2}, opacity=0.8
        )
    fig.add_scatter(
        x=x,
        y=view.score,
        name="score",
        mode="lines+markers",
        line={"color": "#1d2330", "width": 2.5},
        marker={"color": [ACTION_COLORS[ACTIONS[int(a)]] for a in view.action], "size": 6},
        text=[ACTIONS[int(a)] for a in view.action],
        hovertemplate="request %{x}: score %{y:.2f} (%{text})<extra></extra>",
    )
    fig.add_hline(y=threshold, line_dash="dash", line_color="#c8313b", annotation_text="flag")
    fig.update_layout(
        title=title,
        xaxis_title="the account's request (on the tape)",
        yaxis_range=[0, 1.02],
        **_LAYOUT,
    )
    return fig


def link_graph(graph: Graph, title: str = "Linked accounts") -> go.Figure:
    """Accounts as nodes (size: requests, colour: score), links coloured by the strongest
    kind of evidence they share; hovering a link's midpoint names all of it."""
    if not graph.nodes:
        return _empty(title, "no accounts")
    g: nx.Graph[str] = nx.Graph()
    g.add_nodes_from(n.account_id for n in graph.nodes)
    g.add_edges_from((a, b) for a, b, _ in graph.edges)
    pos = nx.spring_layout(g, seed=7, k=1.5 / math.sqrt(max(1, len(g))))
    fig = go.Figure()
    by_kind: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
    for a, b, kinds in graph.edges:
        main = min(kinds, key=lambda k: list(KIND_COLORS).index(k) if k in KIND_COLORS else 99)
        by_kind.setdefault(main, []).append((a, b, kinds))
    for kind, edges in by_kind.items():
        xs: list[float | None] = []
        ys: list[float | None] = []
        mx, my, labels = [], [], []
        for a, b, kinds in edges:
            (xa, ya), (xb, yb) = pos[a], pos[b]
            xs += [float(xa), float(xb), None]
            ys += [float(ya), float(yb), None]
            mx.append(float(xa + xb) / 2)
            my.append(float(ya + yb) / 2)
            labels.append(
                f"{escape(a)} — {escape(b)}<br>" + "<br>".join(KIND_LABELS.get(k, k) for k in kinds)
            )
        color = KIND_COLORS.get(kind, "#999")
        fig.add_scatter(
            x=xs,
            y=ys,
            mode="lines",
            name=KIND_LABELS.get(kind, kind),
            line={"color": color, "width": 1.2},
            hoverinfo="skip",
            legendgroup=kind,
        )
        fig.add_scatter(
            x=mx,
            y=my,
            mode="markers",
            marker={"size": 5, "color": color, "opacity": 0.5},
            text=labels,
            hovertemplate="%{text}<extra></extra>",
            showlegend=False,
            legendgroup=kind,
        )
    nodes = graph.nodes
    fig.add_scatter(
        x=[float(pos[n.account_id][0]) for n in nodes],
        y=[float(pos[n.account_id][1]) for n in nodes],
        mode="markers",
        name="accounts",
        marker={
            "size": [8 + 4 * math.log10(1 + n.requests) for n in nodes],
            "color": [n.score for n in nodes],
            "colorscale": "YlOrRd",
            "cmin": 0,
            "cmax": 1,
            "colorbar": {"title": "score", "thickness": 10},
            "line": {"width": [2 if n.flagged else 0.5 for n in nodes], "color": "#1d2330"},
        },
        text=[
            f"{escape(n.account_id)}<br>{n.requests} requests, score {n.score:.2f}"
            + (" (flagged)" if n.flagged else "")
            for n in nodes
        ],
        customdata=[n.account_id for n in nodes],
        hovertemplate="%{text}<extra></extra>",
    )
    shown = f"{len(nodes)} of {graph.shown_of}" if graph.shown_of > len(nodes) else str(len(nodes))
    fig.update_layout(
        title=f"{title}: {shown} accounts, {len(graph.edges)} links",
        xaxis={"visible": False},
        yaxis={"visible": False},
        legend={"orientation": "h", "y": -0.05},
        **{**_LAYOUT, "height": 480},
    )
    return fig


def score_distribution(
    scores: Sequence[float], flagged: Sequence[bool], threshold: float
) -> go.Figure:
    """Accounts by score (log count), flagged and not, with the flag threshold."""
    fig = go.Figure()
    values = np.asarray(scores, float)
    marks = np.asarray(flagged, bool)
    for label, mask in (("not flagged", ~marks), ("flagged", marks)):
        if mask.any():
            fig.add_histogram(
                x=values[mask],
                name=f"{label} ({int(mask.sum())})",
                xbins={"start": 0, "end": 1.0001, "size": 0.025},
                opacity=0.7,
            )
    fig.add_vline(x=threshold, line_dash="dash", line_color="#c8313b", annotation_text="flag")
    fig.update_layout(
        title="Accounts by score",
        barmode="overlay",
        xaxis_title="score",
        yaxis={"type": "log", "title": "accounts"},
        **_LAYOUT,
    )
    return fig
