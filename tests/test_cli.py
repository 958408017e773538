from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from distillguard.cli import main
from distillguard.store.eventlog import EventLog


def _config(tmp_path: Path) -> Path:
    file = tmp_path / "gw.yaml"
    file.write_text("event_log: {path: ev.sqlite}\nauth: {keys_db: keys.sqlite}\n", "utf-8")
    return file


def test_keys_add_list_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    cfg = str(_config(tmp_path))
    added = runner.invoke(main, ["keys", "add", "--config", cfg, "--account", "acme"])
    assert added.exit_code == 0, added.output
    fields = dict(line.split(":", 1) for line in added.stdout.splitlines() if ":" in line)
    key_id, secret = fields["key_id"].strip(), fields["secret"].strip()
    assert secret.startswith("dg-")
    listed = runner.invoke(main, ["keys", "list", "--config", cfg])
    assert f"{key_id}\tacme\tactive" in listed.stdout
    assert secret not in listed.stdout
    assert runner.invoke(main, ["keys", "revoke", "--config", cfg, key_id]).exit_code == 0
    assert "revoked" in runner.invoke(main, ["keys", "list", "--config", cfg]).stdout
    again = runner.invoke(main, ["keys", "revoke", "--config", cfg, key_id])
    assert again.exit_code == 1 and "already revoked" in again.output


def test_events_export_writes_jsonl(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    with EventLog(tmp_path / "ev.sqlite", flush_interval_s=0.01) as log:
        for i in range(3):
            log.append({"ts": i, "account_id": "a", "request": {"messages": []}, "x": i})
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["events", "export", "--config", str(cfg), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [orjson.loads(line)["x"] for line in out.read_bytes().splitlines()] == [0, 1, 2]


def test_bad_config_is_a_clean_error(tmp_path: Path) -> None:
    file = tmp_path / "gw.yaml"
    file.write_text("listen: {port: -1}\n", "utf-8")
    result = CliRunner().invoke(main, ["keys", "list", "--config", str(file)])
    assert result.exit_code == 1
    assert "invalid config" in result.output and "Traceback" not in result.output
