"""``analyze``'s static HTML report: one offline file with the dashboard's plots — traffic and
verdicts over time, accounts by score, and for the top campaigns their link graph, evidence
and focus timeline — drawn from the finished engine and the run's tape."""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path
from typing import Any

from distillguard.engine import Engine
from distillguard.report import figures, views
from distillguard.report.html import figure_div, page
from distillguard.report.tape import Tape

TOP_CAMPAIGNS = 5


def _when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _accounts(rows: list[views.AccountRow]) -> str:
    return _table(
        ["Account", "Requests", "Score", "Flagged at", "Campaign", "Reasons"],
        [
            [
                escape(a.account_id),
                str(a.requests),
                f"{a.score:.2f}",
                f"#{a.flagged_at_request}"
                if a.flagged_at_request
                else ("yes" if a.flagged else ""),
                escape(a.campaign_id or ""),
                "<br>".join(escape(r) for r in a.reasons[:3]),
            ]
            for a in rows
        ],
    )


def _campaigns(rows: list[views.CampaignRow]) -> str:
    return _table(
        ["Campaign", "Accounts", "Requests", "Score", "Flagged at", "Evidence", "Focus"],
        [
            [
                f'<a href="#{escape(c.campaign_id)}">{escape(c.campaign_id)}</a>',
                str(len(c.accounts)),
                str(c.requests),
                f"{c.score:.2f}",
                _when(c.flagged_at_ts),
                escape(", ".join(f"{k} × {n}" for k, n in c.evidence.items())),
                escape(
                    ", ".join(
                        f"{k} {100 * n / max(1, c.requests):.0f}%"
                        for k, n in list(c.focus.items())[:3]
                    )
                ),
            ]
            for c in rows
        ],
    )


def _campaign_section(engine: Engine, tape: Tape, row: views.CampaignRow) -> str:
    graph = views.link_graph(engine, row.accounts)
    indicators = _table(
        ["Evidence", "Value", "Accounts holding it"],
        [
            [escape(views.KIND_LABELS.get(i.kind, i.kind)), escape(i.value), str(len(i.holders))]
            for i in graph.indicators[:15]
        ],
    )
    cid = escape(row.campaign_id)
    return (
        f'<h3 id="{cid}">Campaign {cid}: {len(row.accounts)} accounts, {row.requests} requests'
        f"{' (flagged)' if row.flagged else ''}</h3>"
        + figure_div(figures.link_graph(graph), f"graph-{row.campaign_id}")
        + indicators
        + figure_div(figures.focus(tape.view(row.accounts)), f"focus-{row.campaign_id}")
    )


def write_report(path: Path, engine: Engine, tape: Tape, summary: dict[str, Any]) -> None:
    threshold = engine.config.scoring.flag_threshold
    accounts = list(engine.accounts)
    top = views.campaigns(engine, limit=50)
    cards = " · ".join(
        f"<b>{escape(str(v))}</b> {escape(k.replace('_', ' '))}" for k, v in summary.items()
    )
    body = [
        "<h1>distillguard analyze</h1>",
        f"<p>{cards}</p>",
        figure_div(figures.traffic(tape.view(), "Requests and verdicts over time"), "traffic"),
        figure_div(
            figures.score_distribution(
                [engine.accounts[a].score for a in accounts],
                [engine.is_flagged(a) for a in accounts],
                threshold,
            ),
            "scores",
        ),
        "<h2>Campaigns</h2>",
        _campaigns(top) if top else "<p class='muted'>No linked accounts.</p>",
        *(_campaign_section(engine, tape, row) for row in top[:TOP_CAMPAIGNS]),
        "<h2>Riskiest accounts</h2>",
        _accounts(views.riskiest_accounts(engine, limit=100)),
    ]
    path.write_text(page("distillguard analyze", "".join(body)), encoding="utf-8")
