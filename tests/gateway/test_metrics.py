"""GET /metrics in Prometheus' text format, and JSON log lines."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from dashkit import BENIGN, HYDRA, ODD, dashboard_gateway
from distillguard.logs import JsonFormatter


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_decisions_latency_and_campaigns(
    tmp_path: Path, replay_url: str
) -> None:
    with dashboard_gateway(tmp_path, replay_url) as (gw, _):
        bad = httpx.post(
            gw.base_url + "/chat/completions", headers={"authorization": "Bearer nope"}, json={}
        )
        assert bad.status_code == 401
        httpx.get(gw.url + "/no/such/path")
        answer = httpx.get(gw.url + "/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        got = samples(answer.text)
    served = len(HYDRA) * 5 + len(BENIGN) * 5 + 1  # dashkit's traffic, plus ODD's request
    chat = "/v1/chat/completions"
    assert got[("distillguard_requests_total", (("endpoint", chat), ("status", "200")))] == served
    assert got[("distillguard_requests_total", (("endpoint", chat), ("status", "401")))] == 1
    assert got[("distillguard_requests_total", (("endpoint", "other"), ("status", "404")))] == 1
    assert got[("distillguard_decisions_total", (("action", "allow"),))] == served
    assert got[("distillguard_scoring_seconds_count", ())] == served
    assert got[("distillguard_campaigns", (("state", "linked"),))] == 1
    assert got[("distillguard_campaigns", (("state", "flagged"),))] == 1
    assert ODD  # the odd account id never becomes a label
    assert not any(ODD in str(labels) for _, labels in got)


def test_json_log_lines_carry_extras_and_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("distillguard.test").makeRecord(
            "distillguard.test",
            logging.ERROR,
            __file__,
            1,
            "hook failed for %s",
            ("req_1",),
            exc_info=sys.exc_info(),
            extra={"account_id": "acme", "score": 0.7},
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hook failed for req_1" and line["level"] == "error"
    assert line["account_id"] == "acme" and line["score"] == 0.7
    assert "ValueError: boom" in line["exception"]
