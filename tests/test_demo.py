from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from distillguard.demo import BLOCKED_ACCOUNT, BURST_ACCOUNT, run_demo


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(tmp_path / "demo", n_requests=40) == 0
    report = (tmp_path / "demo" / "report.md").read_text("utf-8")
    assert f"{BLOCKED_ACCOUNT}: refused with 403" in report
    assert "429" in report and "401" in report
    events = [
        orjson.loads(x) for x in (tmp_path / "demo" / "events.jsonl").read_bytes().splitlines()
    ]
    by_status: dict[int, int] = {}
    for event in events:
        outcome = event.get("response") or event["rejected"]
        by_status[outcome["status"]] = by_status.get(outcome["status"], 0) + 1
    assert by_status[200] >= 40
    assert by_status[403] == 1 and by_status[401] == 1 and by_status[429] >= 1
    burst = [e for e in events if e["account_id"] == BURST_ACCOUNT]
    assert len(burst) == 30
    assert "report.md" in capsys.readouterr().out
