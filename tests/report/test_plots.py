"""The evaluation report: offline Plotly figures that carry the run's data."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard.eval.report import TARGETS, write_html
from distillguard.eval.runner import AccountOutcome, RunResult
from distillguard.report import plots
from distillguard.report.html import figure_div, figure_json, plotly_js

THRESHOLD = 0.6
FIGURE = re.compile(
    r'<div class="figure" id="([^"]+)"></div><script>\(function\(\)\{var f=(.*?);Plotly'
)


class _Scripts(HTMLParser):
    """Every <script>'s src attribute, so a CDN reference shows up whatever the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.srcs.append(dict(attrs).get("src"))


def _outcome(
    account: str,
    label: str,
    kind: str,
    score: float,
    flagged_at: int | None = None,
    harvest: tuple[int, int] = (0, 0),
) -> AccountOutcome:
    out = AccountOutcome(account, label, kind, None, max_score=score, flagged_at=flagged_at)
    out.harvest_requests, out.harvest_leaked = harvest
    return out


def _run(bank: str) -> RunResult:
    outcomes = [
        _outcome("b1", "benign", "chat", 0.05),
        _outcome("b2", "benign", "chat", 0.1),
        _outcome("b3", "benign", "chat", 1.0),  # the closed right edge of the last bin
        _outcome("l1", "legitimate-automation", "ci-bot", 0.3),
        _outcome("a1", "attack", "hydra-reseller", 0.9, flagged_at=3, harvest=(10, 2)),
        _outcome("a2", "attack", "hydra-reseller", 0.95, flagged_at=12, harvest=(10, 4)),
        _outcome("a3", "attack", "cot-harvester", 0.4, harvest=(8, 8)),
    ]
    return RunResult(1, bank, 1.0, 100, 1.0, 1.0, {o.account_id: o for o in outcomes})


def _figures(page: str) -> dict[str, dict[str, Any]]:
    found = {div_id: orjson.loads(payload) for div_id, payload in FIGURE.findall(page)}
    assert len(found) == page.count('<div class="figure"')  # the pattern saw every figure
    return found


def _vlines(fig: dict[str, Any]) -> list[float]:
    shapes = fig["layout"].get("shapes", [])
    return [s["x0"] for s in shapes if s["x0"] == s["x1"] and s["line"]["dash"] == "dash"]


@pytest.fixture
def report(tmp_path: Path) -> str:
    path = tmp_path / "report.html"
    write_html(path, {"tuning": [_run("tuning")], "held<out>": [_run("held<out>")]}, "T", THRESHOLD)
    return path.read_text(encoding="utf-8")


def test_report_is_offline_with_plotly_js_inlined_once(report: str) -> None:
    parser = _Scripts()
    parser.feed(report)
    assert parser.srcs, "the page has scripts"
    assert all(src is None for src in parser.srcs), parser.srcs  # inline only, no CDN
    assert report.count(plotly_js()) == 1
    ours = report.replace(plotly_js(), "")
    assert "data:image/png" not in ours  # figures, not pictures of them
    assert not re.search(r"<script[^>]*\bsrc=", ours)


def test_report_has_three_figures_per_bank_with_unique_ids(report: str) -> None:
    figures = _figures(report)
    assert len(figures) == 6
    for div_id in figures:
        assert f'Plotly.newPlot("{div_id}"' in report
    assert "<h2>Template bank: held&lt;out&gt;</h2>" in report


def test_report_figures_carry_the_runs_data(report: str) -> None:
    figures = list(_figures(report).values())
    detection, leakage, scores = figures[:3]

    # Only flagged attack accounts have a time to detection; the curve climbs to every one.
    (curve,) = detection["data"]
    assert curve["name"] == "hydra-reseller"
    assert curve["x"] == [3.0, 12.0] and curve["y"][-1] == pytest.approx(1.0)
    assert detection["layout"]["xaxis"]["type"] == "log"

    (bar,) = leakage["data"]
    served = dict(zip(bar["y"], bar["x"], strict=True))
    assert served == pytest.approx({"cot-harvester": 1.0, "hydra-reseller": 6 / 20})
    assert _vlines(leakage) == [TARGETS["leakage"]]

    totals = {t["name"]: sum(c or 0 for c in t["y"]) for t in scores["data"]}
    assert totals == {"benign (3)": 3, "legitimate-automation (1)": 1, "attack (3)": 3}
    assert all(len(t["y"]) == plots.BINS for t in scores["data"])
    assert scores["layout"]["yaxis"]["type"] == "log"
    assert _vlines(scores) == [THRESHOLD]


def test_empty_inputs_still_make_figures(tmp_path: Path) -> None:
    for fig in (
        plots.detection_curves({}, "none"),
        plots.detection_curves({"hydra-reseller": []}, "none"),
        plots.bars({}, "none", "share", None),
        plots.bars({}, "none", "share", 0.02),
        plots.score_histogram({}, THRESHOLD),
        plots.score_histogram({"benign": []}, THRESHOLD),
    ):
        data = orjson.loads(figure_json(fig))
        assert all(trace.get("x") for trace in data["data"])  # no trace for an empty group
        assert figure_div(fig, "f").startswith('<div class="figure" id="f">')
    assert _vlines(orjson.loads(figure_json(plots.score_histogram({}, THRESHOLD)))) == [THRESHOLD]

    path = tmp_path / "empty.html"
    write_html(path, {"tuning": []}, "", THRESHOLD)
    assert len(_figures(path.read_text(encoding="utf-8"))) == 3
