"""The example configs in examples/ load, and the engine example states the real defaults."""

from __future__ import annotations

from pathlib import Path

from distillguard.config import load_config
from distillguard.engine_config import EngineConfig, load_engine_config
from distillguard.policy.rules import PolicyConfig, load_policy

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_engine_example_is_the_defaults() -> None:
    assert load_engine_config(EXAMPLES / "engine.yaml") == EngineConfig()


def test_gateway_example_loads_with_detection() -> None:
    config = load_config(EXAMPLES / "gateway.yaml")
    assert config.detection.enabled
    assert config.detection.engine_config == EXAMPLES / "engine.yaml"
    assert config.policy.default_rate_limit.requests_per_minute == 600
    assert config.response.enabled and config.response.policy_file == EXAMPLES / "policy.yaml"
    assert config.admin.token is None  # DISTILLGUARD_ADMIN_TOKEN unset: the admin API is off


def test_policy_example_is_the_defaults() -> None:
    assert load_policy(EXAMPLES / "policy.yaml") == PolicyConfig()
