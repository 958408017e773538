"""`analyze --spark` on a local Spark gives the same accounts, campaigns and summary as the
single-machine `analyze` on the same log (the benchmark repeats this on 300k events)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from distillguard.cli import main
from distillguard.events import read_jsonl
from distillguard.store.parquet import write_parquet


def _need_spark() -> None:
    missing = [what for what in ("java",) if shutil.which(what) is None]
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("pyspark")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"missing for the Spark test: {missing} (setup.sh / system-deps.sh)")
        pytest.skip(f"missing: {missing}")


@pytest.mark.slow
def test_spark_results_equal_single_machine_analyze(tmp_path: Path) -> None:
    _need_spark()
    runner = CliRunner()
    sim = tmp_path / "sim"
    made = runner.invoke(
        main, ["simulate", "--out", str(sim), "--seed", "5", "--scale", "0.15", "--days", "1"]
    )
    assert made.exit_code == 0, made.output
    parquet = tmp_path / "events.parquet"
    count = write_parquet(read_jsonl(sim / "events.jsonl"), parquet)
    assert count > 5000
    single = runner.invoke(
        main, ["analyze", str(sim / "events.jsonl"), "--out", str(tmp_path / "one")]
    )
    assert single.exit_code == 0, single.output
    spark = runner.invoke(
        main, ["analyze", str(parquet), "--out", str(tmp_path / "spark"), "--spark", "2"]
    )
    assert spark.exit_code == 0, spark.output
    assert "spark: 2 partitions" in spark.output
    for name in ("accounts.jsonl", "campaigns.jsonl", "summary.json"):
        one = (tmp_path / "one" / name).read_bytes()
        assert one == (tmp_path / "spark" / name).read_bytes(), name
    assert b'"flagged":true' in (tmp_path / "one" / "accounts.jsonl").read_bytes()
    refused = runner.invoke(
        main, ["analyze", str(sim / "events.jsonl"), "--out", str(tmp_path / "x"), "--spark", "2"]
    )
    assert refused.exit_code != 0 and "Parquet" in refused.output
