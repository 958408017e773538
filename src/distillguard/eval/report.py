"""The evaluation's outputs: a Markdown table (mean ± spread over runs) and an HTML report."""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from distillguard.eval.metrics import GroupMetrics, headline, mean_spread, run_metrics
from distillguard.eval.runner import RunResult
from distillguard.report import plots
from distillguard.report.html import figure_div, page

TARGETS = {
    "benign_fpr": 0.001,
    "attack_recall": 0.99,
    "leakage": 0.02,
    "lookalike_flag_rate": 0.05,
}


def _fmt(values: Sequence[float], pct: bool = True) -> str:
    mean, spread = mean_spread(values)
    if pct:
        return f"{mean:.1%} ± {spread:.1%}" if len(values) > 1 else f"{mean:.1%}"
    return f"{mean:,.0f} ± {spread:,.0f}" if len(values) > 1 else f"{mean:,.0f}"


def group_table(runs: Sequence[RunResult]) -> str:
    per_group: dict[tuple[str, str], list[GroupMetrics]] = defaultdict(list)
    for run in runs:
        for row in run_metrics(run):
            per_group[(row.label, row.group)].append(row)
    lines = [
        "| label | group | accounts | flagged (recall / FP rate) | campaigns detected | "
        "leakage | median requests to flag | median hours to flag | pairs before stop | "
        "output tokens before stop |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (label, group), rows in per_group.items():
        req = [r.median_requests_to_detect for r in rows if r.median_requests_to_detect]
        hours = [r.median_hours_to_detect for r in rows if r.median_hours_to_detect is not None]
        camp = sum(r.campaigns_detected for r in rows), sum(r.campaigns for r in rows)
        lines.append(
            f"| {label} | {group} | {sum(r.accounts for r in rows) // len(rows)} | "
            f"{_fmt([r.flag_rate for r in rows])} | "
            f"{f'{camp[0]}/{camp[1]}' if camp[1] else '-'} | "
            f"{_fmt([r.leakage for r in rows]) if label == 'attack' else '-'} | "
            f"{_fmt(req, pct=False) if req else '-'} | "
            f"{f'{sum(hours) / len(hours):.1f}' if hours else '-'} | "
            f"{_fmt([float(r.pairs_before_stop) for r in rows], pct=False)} | "
            f"{_fmt([float(r.tokens_before_stop) for r in rows], pct=False)} |"
        )
    return "\n".join(lines)


def headline_table(runs: Sequence[RunResult]) -> str:
    heads = [headline(r) for r in runs]
    rows = [
        ("benign false-positive rate", [h.benign_fpr for h in heads], "benign_fpr", "<="),
        ("look-alike flag rate", [h.lookalike_flag_rate for h in heads], "lookalike_flag_rate",
         "<="),
        ("attack account recall", [h.attack_recall for h in heads], "attack_recall", ">="),
        ("precision", [h.precision for h in heads], None, ""),
        ("leakage (attack requests served before flag)", [h.leakage for h in heads], "leakage",
         "<="),
    ]  # fmt: skip
    lines = ["| metric | value | target |", "|---|---:|---:|"]
    for name, values, key, op in rows:
        target = f"{op} {TARGETS[key]:.1%}" if key else ""
        lines.append(f"| {name} | {_fmt(values)} | {target} |")
    return "\n".join(lines)


def markdown(runs_by_bank: dict[str, list[RunResult]], seconds: float) -> str:
    parts = ["# distillguard evaluation", ""]
    for bank, runs in runs_by_bank.items():
        seeds = ", ".join(str(r.seed) for r in runs)
        events = sum(r.events for r in runs) // max(1, len(runs))
        parts += [
            f"## Template bank: {bank} (seeds {seeds}; scale {runs[0].scale}; "
            f"~{events:,} events per run)",
            "",
            headline_table(runs),
            "",
            group_table(runs),
            "",
        ]
    parts.append(f"Run time: {seconds:.0f} s.")
    return "\n".join(parts) + "\n"


def write_html(
    path: Path, runs_by_bank: dict[str, list[RunResult]], text: str, threshold: float
) -> None:
    """One offline page: the Markdown tables as text, then three interactive figures per bank."""
    sections = []
    for index, (bank, runs) in enumerate(runs_by_bank.items()):
        detect: dict[str, list[float]] = defaultdict(list)
        leak_num: dict[str, int] = defaultdict(int)
        leak_den: dict[str, int] = defaultdict(int)
        scores: dict[str, list[float]] = defaultdict(list)
        for run in runs:
            for o in run.outcomes.values():
                scores[o.label].append(o.max_score)
                if o.label == "attack":
                    leak_num[o.kind] += o.harvest_leaked
                    leak_den[o.kind] += o.harvest_requests
                    if o.flagged_at is not None:
                        detect[o.kind].append(float(o.flagged_at))
        leakage = {k: leak_num[k] / leak_den[k] for k in sorted(leak_den) if leak_den[k]}
        figures = {
            "detection": plots.detection_curves(detect, f"Time to detection ({bank})"),
            "leakage": plots.bars(
                leakage, f"Leakage per archetype ({bank})", "share served", TARGETS["leakage"]
            ),
            "scores": plots.score_histogram(scores, threshold),
        }
        # Ids from the bank's position, not its name: unique and safe whatever the name holds.
        sections.append(
            f"<h2>Template bank: {html.escape(bank)}</h2>"
            + "".join(figure_div(fig, f"bank{index}-{name}") for name, fig in figures.items())
        )
    body = (
        "<h1>distillguard evaluation</h1>"
        '<pre style="background:#fff;border:1px solid #e3e6ea;padding:1em;overflow-x:auto">'
        f"{html.escape(text)}</pre>{''.join(sections)}"
    )
    path.write_text(page("distillguard evaluation", body), encoding="utf-8")
