from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from distillguard.demo import BLOCKED_ACCOUNT, BURST_ACCOUNT, run_demo


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's main job: live traffic through the gateway, detection visible, a report."""
    assert run_demo(tmp_path / "demo") == 0
    report = (tmp_path / "demo" / "report.md").read_text("utf-8")
    assert f"{BLOCKED_ACCOUNT} (static block list): refused with 403" in report
    assert "429" in report and "401" in report
    assert "a brand-new account on one of its cards, first request: refused (403)" in report
    assert "after its appeal, next request: served (200)" in report
    assert "dashboard at http://" in report
    tour = re.search(r"its top campaign camp_[0-9a-f]+: (\d+) member rows", report)
    assert tour and int(tour.group(1)) >= 2, report
    for kind in ("hydra-reseller", "reasoning-harvest", "campus", "eval-harness"):
        assert f"| {kind} |" in report
    events = [
        orjson.loads(x) for x in (tmp_path / "demo" / "events.jsonl").read_bytes().splitlines()
    ]
    blocked_by_engine = [
        e
        for e in events
        if (e.get("decision") or {}).get("action") == "block"
        and e["account_id"] not in (BLOCKED_ACCOUNT, BURST_ACCOUNT)
    ]
    assert blocked_by_engine, "the detection engine refused nothing"
    assert all(e["decision"]["reasons"] for e in blocked_by_engine)
    burst = [e for e in events if e["account_id"] == BURST_ACCOUNT]
    assert len(burst) == 30
    assert "report.md" in capsys.readouterr().out
