"""simulate -> analyze and eval end to end on a tiny world with every source kind."""

from __future__ import annotations

import gzip
import json
import os
import threading
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from distillguard.cli import main
from distillguard.eval.metrics import group_metrics, headline
from distillguard.eval.runner import AccountOutcome, run_once
from distillguard.sim.world import FACTORIES, load_scenario

TINY = Path(__file__).parent.parent / "files" / "tiny_scenario.yaml"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    result = CliRunner().invoke(main, ["simulate", "--scenario", str(TINY), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_simulate_writes_time_ordered_events_and_labels(simulated: Path) -> None:
    lines = (simulated / "events.jsonl").read_bytes().splitlines()
    ts = [orjson.loads(line)["ts"] for line in lines]
    assert ts == sorted(ts)
    labels = json.loads((simulated / "labels.json").read_text())
    kinds = {a["kind"] for a in labels["accounts"].values()}
    assert kinds == set(FACTORIES)  # every source kind present
    assert {a["label"] for a in labels["accounts"].values()} == {
        "benign",
        "legitimate-automation",
        "attack",
    }


def test_analyze_reports_accounts_and_campaigns(simulated: Path, tmp_path: Path) -> None:
    out = tmp_path / "an"
    result = CliRunner().invoke(
        main, ["analyze", str(simulated / "events.jsonl"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    labels = json.loads((simulated / "labels.json").read_text())["accounts"]
    rows = [orjson.loads(x) for x in (out / "accounts.jsonl").read_bytes().splitlines()]
    active = {
        orjson.loads(line)["account_id"]
        for line in (simulated / "events.jsonl").read_bytes().splitlines()
    }
    assert {r["account_id"] for r in rows} == active  # an account with no request has no row
    for row in rows:
        assert set(row) >= {"requests", "score", "flagged", "flagged_at_request", "reasons"}
        if row["flagged"]:
            # flagged_at_request is null when the campaign was flagged after its last request
            assert row["reasons"]
            assert row["flagged_at_request"] is None or row["flagged_at_request"] >= 1
    hydra = [r for r in rows if labels[r["account_id"]]["kind"] == "hydra-reseller"]
    assert sum(r["flagged"] for r in hydra) >= 0.9 * len(hydra)
    benign = [r for r in rows if labels[r["account_id"]]["label"] == "benign"]
    assert sum(r["flagged"] for r in benign) <= 1
    campaigns = [orjson.loads(x) for x in (out / "campaigns.jsonl").read_bytes().splitlines()]
    assert campaigns and all(c["evidence"] and c["focus"] for c in campaigns)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["events"] == len((simulated / "events.jsonl").read_bytes().splitlines())
    # The HTML report: offline, with the top campaign's graph and focus timeline.
    report = (out / "report.html").read_text()
    top = max(campaigns, key=lambda c: (c["flagged_at_ts"] is not None, len(c["accounts"])))
    assert f'id="graph-{top["campaign_id"]}"' in report
    assert f'id="focus-{top["campaign_id"]}"' in report
    assert 'src="http' not in report and report.count("Plotly.newPlot") >= 4


def test_analyze_refuses_out_of_order_logs(simulated: Path, tmp_path: Path) -> None:
    lines = (simulated / "events.jsonl").read_bytes().splitlines()
    shuffled = tmp_path / "bad.jsonl"
    shuffled.write_bytes(b"\n".join([lines[5], lines[0], *lines[6:]]) + b"\n")
    result = CliRunner().invoke(main, ["analyze", str(shuffled), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "older than the one before" in result.output


def test_eval_metrics_on_a_run() -> None:
    run = run_once(load_scenario(TINY))
    head = headline(run)
    assert 0 <= head.benign_fpr <= 0.05
    assert head.attack_recall >= 0.8
    assert head.precision >= 0.9
    kinds = {o.kind for o in run.outcomes.values()}
    assert kinds == set(FACTORIES)


def test_leakage_counts_harvest_served_before_the_flag() -> None:
    a = AccountOutcome("a", "attack", "x", "c1", harvest_requests=10, harvest_leaked=2)
    a.flagged_at, a.flagged_ts, a.first_ts = 3, 7200.0, 0.0
    b = AccountOutcome("b", "attack", "x", "c1", harvest_requests=10, harvest_leaked=10)
    m = group_metrics([a, b], "x", "attack")
    assert m.leakage == pytest.approx(0.6)
    assert m.flag_rate == 0.5 and m.campaigns == 1 and m.campaigns_detected == 1
    assert m.median_hours_to_detect == pytest.approx(2.0)


@pytest.mark.slow
def test_eval_command_writes_markdown_and_html(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["eval", "--seeds", "1", "--scenario", str(TINY), "--out", str(tmp_path), "--workers", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "Template bank: tuning" in result.output and "Template bank: heldout" in result.output
    assert "hydra-reseller" in result.output
    html = (tmp_path / "report.html").read_text()
    assert html.count('<div class="figure"') == 6  # three Plotly figures per template bank
    results = json.loads((tmp_path / "results.json").read_text())
    assert {r["template_bank"] for r in results["runs"]} == {"tuning", "heldout"}


def test_analyze_reads_parquet_like_jsonl(simulated: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    lines = (simulated / "events.jsonl").read_bytes().splitlines()[:800]
    events = [orjson.loads(line) for line in lines]
    # Nested objects as JSON strings: the common way logs land in a lake's flat columns.
    table = pa.table(
        {
            "ts": [e["ts"] for e in events],
            "account_id": [e["account_id"] for e in events],
            "ip": [e.get("ip") for e in events],
            "request": [orjson.dumps(e["request"]).decode() for e in events],
            "response": [orjson.dumps(e.get("response")).decode() for e in events],
            "account_meta": [orjson.dumps(e.get("account_meta") or {}).decode() for e in events],
        }
    )
    pq.write_table(table, tmp_path / "events.parquet")
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    runner = CliRunner()
    for src, out in ((tmp_path / "events.parquet", "p"), (jsonl, "j")):
        result = runner.invoke(main, ["analyze", str(src), "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output

    def scores(out: str) -> dict[str, float]:
        rows = (tmp_path / out / "accounts.jsonl").read_bytes().splitlines()
        return {r["account_id"]: r["score"] for r in map(orjson.loads, rows)}

    assert scores("p") == scores("j")


def test_analyze_with_workers_gives_the_same_results(
    simulated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Block sizes that split the log across many blocks, so that order across blocks and
    # workers is what is tested: lines read here and sent (.gz), and byte ranges each worker
    # reads itself (plain JSONL).
    import distillguard.analyze as analyze_module

    lines = (simulated / "events.jsonl").read_bytes().splitlines()
    data = b"\n".join(lines) + b"\n\n"  # a trailing blank line is no event
    gz, plain = tmp_path / "events.jsonl.gz", tmp_path / "events.jsonl"
    with gzip.open(gz, "wb") as handle:
        handle.write(data)
    plain.write_bytes(data)
    runner = CliRunner()
    one = runner.invoke(main, ["analyze", str(gz), "--out", str(tmp_path / "one")])
    assert one.exit_code == 0, one.output
    monkeypatch.setattr(analyze_module, "BLOCK_LINES", max(1, len(lines) // 7))
    monkeypatch.setattr(analyze_module, "BLOCK_BYTES", max(1, len(data) // 9))
    for log, out in ((gz, "many_gz"), (plain, "many")):
        many = runner.invoke(
            main, ["analyze", str(log), "--out", str(tmp_path / out), "--workers", "2"]
        )
        assert many.exit_code == 0, many.output
        for name in ("accounts.jsonl", "campaigns.jsonl", "summary.json"):
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / out / name).read_bytes()
    assert b'"flagged":true' in (tmp_path / "one" / "accounts.jsonl").read_bytes()
    # A pipe (``<(zcat log.gz)``) cannot be read in byte ranges: its lines are read and sent.
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(data,))
    writer.start()
    try:
        piped = runner.invoke(
            main, ["analyze", str(fifo), "--out", str(tmp_path / "piped"), "--workers", "2"]
        )
    finally:
        if writer.is_alive():  # analyze failed before opening the pipe: let the writer go
            with fifo.open("rb") as drain:
                drain.read()
        writer.join()
    assert piped.exit_code == 0, piped.output
    for name in ("accounts.jsonl", "campaigns.jsonl", "summary.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "piped" / name).read_bytes()


def test_analyze_with_workers_names_the_bad_line_and_refuses_disorder(
    simulated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import distillguard.analyze as analyze_module

    lines = (simulated / "events.jsonl").read_bytes().splitlines()[:300]
    runner = CliRunner()
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\n".join([*lines[:200], b'{"ts": 1, "account_id": ""', *lines[200:]]))
    for block_bytes in (analyze_module.BLOCK_BYTES, bad.stat().st_size // 6):
        # one block, then six, the bad line in a later one: numbered from the log's start
        monkeypatch.setattr(analyze_module, "BLOCK_BYTES", block_bytes)
        result = runner.invoke(
            main, ["analyze", str(bad), "--out", str(tmp_path / "o"), "--workers", "2"]
        )
        assert result.exit_code == 1 and "bad.jsonl:201: not JSON" in result.output
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_bytes(b"\n".join([*lines[:100], lines[150], *lines[100:]]))
    result = runner.invoke(
        main, ["analyze", str(shuffled), "--out", str(tmp_path / "s"), "--workers", "2"]
    )
    assert result.exit_code == 1 and "event 102 is older than the one before" in result.output
    parquet = tmp_path / "events.parquet"
    parquet.write_bytes(b"")
    result = runner.invoke(
        main, ["analyze", str(parquet), "--out", str(tmp_path / "p"), "--workers", "2"]
    )
    assert result.exit_code == 1 and "--spark" in result.output


@pytest.mark.slow
def test_eval_runs_the_seeds_and_bank_asked_for(tmp_path: Path) -> None:
    args = ["eval", "--seeds", "2", "--first-seed", "4", "--bank", "dev", "--scenario", str(TINY)]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "Template bank: dev (seeds 4, 5;" in result.output
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert sorted((r["template_bank"], r["seed"]) for r in runs) == [("dev", 4), ("dev", 5)]
