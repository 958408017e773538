from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.config import ConfigError, load_config, substitute_env


def test_defaults_without_a_file() -> None:
    config = load_config(None)
    assert config.event_log.flush_interval_ms == 200
    assert config.limits.max_body_bytes == 10 * 1024 * 1024
    assert config.fail_mode == "closed"


def test_env_substitution_with_and_without_default() -> None:
    env = {"KEY": "secret"}
    tree = {"a": "${KEY}", "b": ["x-${MISSING:fallback}"], "c": 3}
    assert substitute_env(tree, env) == {"a": "secret", "b": ["x-fallback"], "c": 3}
    with pytest.raises(ConfigError, match="MISSING"):
        substitute_env("${MISSING}", env)


def test_file_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    file = tmp_path / "gw.yaml"
    file.write_text(
        "event_log: {path: ev.sqlite}\npolicy: {blocked_cidrs: ['10.0.0.0/8']}\n", encoding="utf-8"
    )
    config = load_config(file)
    assert config.event_log.path == tmp_path / "ev.sqlite"
    assert config.auth.keys_db == tmp_path / "distillguard-keys.sqlite"
    assert config.policy.blocked_cidrs == ["10.0.0.0/8"]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("listen: {port: 99999}\n", "port"),
        ("unknown_key: 1\n", "unknown_key"),
        ("policy: {blocked_cidrs: ['not-a-cidr']}\n", "not-a-cidr"),
        ("trusted_proxies: ['300.1.1.1/32']\n", "300.1.1.1"),
        ("- a list\n", "mapping"),
        ("listen: {port: [\n", "cannot read"),
        ("fail_mode: sideways\n", "fail_mode"),
    ],
)
def test_invalid_config_is_a_clear_error(tmp_path: Path, text: str, fragment: str) -> None:
    file = tmp_path / "gw.yaml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment):
        load_config(file)


def test_watermark_config_needs_a_secret_and_reads_a_bare_off() -> None:
    import pytest
    from pydantic import ValidationError

    from distillguard.config import WatermarkConfig

    assert WatermarkConfig.model_validate({"mode": False}).mode == "off"
    with pytest.raises(ValidationError, match="secret"):
        WatermarkConfig(mode="all")
    with pytest.raises(ValidationError, match="secret"):
        WatermarkConfig(mode="flagged", secret="short")
    assert WatermarkConfig(mode="all", secret="x" * 16).per_account
