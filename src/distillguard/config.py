"""Gateway configuration: YAML validated into typed models.

Every threshold a user may want to change lives here with a documented default.
Strings may use ``${ENV}`` or ``${ENV:default}`` substitution so secrets stay out of files.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


class ConfigError(ValueError):
    """A configuration file that cannot be used, with a message a user can act on."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class UpstreamConfig(_Model):
    """Where allowed requests go: any OpenAI-compatible base URL (ending in /v1)."""

    base_url: str = "http://127.0.0.1:8090/v1"
    api_key: str | None = None
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=120.0, gt=0)
    max_connections: int = Field(default=256, ge=1)
    max_keepalive_connections: int = Field(default=64, ge=0)


class EventLogConfig(_Model):
    """SQLite (WAL) event log. Events are written in batches by a background thread."""

    path: Path = Path("distillguard-events.sqlite")
    flush_interval_ms: float = Field(default=200.0, gt=0)
    max_batch: int = Field(default=2000, ge=1)
    max_content_chars: int = Field(
        default=4000, ge=0, description="Answer text kept per event (0 keeps none)."
    )


class AuthConfig(_Model):
    keys_db: Path = Path("distillguard-keys.sqlite")
    reload_interval_s: float = Field(default=1.0, gt=0)


class LimitsConfig(_Model):
    """Bounds on what a request may ask for; beyond them the gateway answers 4xx."""

    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_n: int = Field(default=16, ge=1)
    max_tokens: int = Field(default=262_144, ge=1)
    max_messages: int = Field(default=4096, ge=1)
    max_top_logprobs: int = Field(default=20, ge=0)


class RateLimit(_Model):
    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)


class StaticPolicyConfig(_Model):
    """The built-in policy until the detection engine decides: lists and rate limits."""

    blocked_accounts: list[str] = Field(default_factory=list)
    blocked_keys: list[str] = Field(default_factory=list, description="API key ids.")
    blocked_cidrs: list[str] = Field(default_factory=list)
    default_rate_limit: RateLimit = RateLimit()
    account_rate_limits: dict[str, RateLimit] = Field(default_factory=dict)

    @field_validator("blocked_cidrs")
    @classmethod
    def _cidrs_parse(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value


class DetectionConfig(_Model):
    """The detection engine in the gateway's path (after the static policy)."""

    enabled: bool = False
    engine_config: Path | None = Field(
        default=None, description="Engine YAML (thresholds, weights); defaults without one."
    )
    semantic: bool = Field(
        default=False,
        description=(
            "Run the semantic detector in the gateway too. It embeds prompt spans on the "
            "request path (10-50 ms of CPU on a sampled request), so it is off by default "
            "here and on in `analyze` and `eval`."
        ),
    )
    state_backend: Literal["memory", "redis"] = Field(
        default="memory",
        description=(
            "memory: each replica's engine sees only its own requests; redis: every replica "
            "folds every replica's requests from one Redis stream (the `redis` section), so "
            "detector state and campaign links are the whole fleet's."
        ),
    )
    stream_max_len: int = Field(
        default=200_000,
        ge=1000,
        description="Requests the shared stream keeps (about 1 KB each); a replica started "
        "later folds these.",
    )
    sync_interval_s: float = Field(
        default=0.1, gt=0, description="How often an idle replica folds the others' requests."
    )


class ResponseConfig(_Model):
    """The response policy: rules (YAML, hot-reloaded) and the decisions store."""

    enabled: bool = False
    policy_file: Path | None = Field(
        default=None, description="Policy YAML; the documented defaults without one."
    )
    decisions_db: Path = Path("distillguard-decisions.sqlite")
    share_campaigns: bool = Field(
        default=False,
        description=(
            "Publish the indicators of campaigns this replica's engine flags to the decisions "
            "store, so every replica recognises their new accounts (intel from replica:NAME)."
        ),
    )
    replica_name: str | None = Field(default=None, description="Default: host name and port.")
    decisions_backend: Literal["sqlite", "redis"] = Field(
        default="sqlite",
        description="sqlite: decisions_db (one host); redis: the `redis` section (replicas).",
    )
    reload_interval_s: float = Field(default=0.25, gt=0)
    max_staleness_s: float = Field(
        default=1.0,
        gt=0,
        description="How old the in-memory decisions may get before the fail mode applies.",
    )

    @model_validator(mode="after")
    def _reload_within_staleness(self) -> ResponseConfig:
        if self.reload_interval_s >= self.max_staleness_s:
            raise ValueError(
                "response.reload_interval_s must be below max_staleness_s, or a healthy "
                "gateway would count as stale between reloads"
            )
        return self


class AdminConfig(_Model):
    """The admin API under /admin (actions, appeals, review, audit, intel); off without a token."""

    token: str | None = Field(
        default=None, description="Bearer token for /admin (16+ characters); empty = off."
    )

    @field_validator("token")
    @classmethod
    def _token_strength(cls, value: str | None) -> str | None:
        if not value:
            return None
        if len(value) < 16:
            raise ValueError("the admin token must be at least 16 characters")
        return value


class WatermarkConfig(_Model):
    """The text watermark on what the gateway serves (forensics: `distillguard provenance`)."""

    mode: Literal["off", "all", "flagged"] = Field(
        default="off",
        description="all: every answer; flagged: answers to requests the policy did not just "
        "allow (flag, throttle, degrade, review); off.",
    )
    secret: str | None = Field(
        default=None,
        description="The provider's watermark key, 16+ characters (${ENV:...}). Keep it: "
        "provenance tests need it, and whoever has it can find (and scrub) the mark.",
    )
    per_account: bool = Field(
        default=True,
        description="Half of the marked word choices follow a key derived from the account, "
        "so provenance can name the accounts a suspect model learned from.",
    )
    lexicon: Path | None = Field(
        default=None,
        description="A private synonym lexicon (the format of the packaged "
        "forensics/synonyms.yaml). Whoever knows the sets can rewrite every slot and scrub the "
        "mark, so a provider that cares ships its own and gives it to `distillguard "
        "provenance --lexicon` too. Default: the packaged, public lexicon.",
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false

    @model_validator(mode="after")
    def _secret_when_on(self) -> WatermarkConfig:
        if self.mode != "off" and (not self.secret or len(self.secret) < 16):
            raise ValueError("watermark.secret (16+ characters) is needed when mode is not off")
        return self


class RedisConfig(_Model):
    """The Redis that replicas share (decisions, rate-limit buckets), when config picks it."""

    url: str = Field(
        default="redis://127.0.0.1:6379/0", description="${ENV:...} works here for a password."
    )
    prefix: str = Field(default="distillguard:", description="Key prefix: one Redis, many uses.")
    timeout_s: float = Field(default=0.5, gt=0, description="Past it, Redis counts as down.")


class MetricsConfig(_Model):
    """Prometheus metrics at GET /metrics (requests, decisions, scoring latency, campaigns)."""

    enabled: bool = True


class DashboardConfig(_Model):
    """The analyst dashboard under /dashboard: logged in with the admin token; needs the
    response policy and an admin token, else it is off."""

    enabled: bool = True
    session_hours: float = Field(default=12.0, gt=0, description="A login lasts this long.")
    tape_events: int = Field(
        default=1_000_000, ge=10_000, description="Newest judged requests kept for timelines."
    )
    public_origin: str | None = Field(
        default=None,
        pattern=r"^https?://[^/]+$",
        description=(
            "The origin browsers use (https://tns.example.com) when a TLS proxy fronts the "
            "gateway: accepted as same-origin, and https makes the session cookie Secure."
        ),
    )


class GatewayConfig(_Model):
    listen: ListenConfig = ListenConfig()
    upstream: UpstreamConfig = UpstreamConfig()
    event_log: EventLogConfig = EventLogConfig()
    auth: AuthConfig = AuthConfig()
    limits: LimitsConfig = LimitsConfig()
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDRs of proxies whose X-Forwarded-For is believed.",
    )
    policy: StaticPolicyConfig = StaticPolicyConfig()
    detection: DetectionConfig = Field(default_factory=lambda: DetectionConfig())
    response: ResponseConfig = Field(default_factory=lambda: ResponseConfig())
    admin: AdminConfig = Field(default_factory=lambda: AdminConfig())
    dashboard: DashboardConfig = DashboardConfig()
    metrics: MetricsConfig = MetricsConfig()
    redis: RedisConfig = RedisConfig()
    watermark: WatermarkConfig = WatermarkConfig()
    rate_limit_backend: Literal["memory", "redis"] = Field(
        default="memory",
        description="memory: each replica counts alone; redis: replicas share one allowance.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per log line, for log pipelines."
    )
    sim_clock_header: str | None = Field(
        default=None,
        description=(
            "Simulations only: take each request's time from this header so a simulated week "
            "runs in minutes. Never set it in production: clients would choose their own time."
        ),
    )
    fail_mode: Literal["open", "closed"] = Field(
        default="closed",
        description="What to do when the decision hook fails: allow (open) or refuse (closed).",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value


def substitute_env(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Replace ``${NAME}`` / ``${NAME:default}`` in every string of a parsed YAML tree."""
    env = os.environ if environ is None else environ
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"environment variable {name} is not set and has no default")

        return _ENV_PATTERN.sub(repl, value)
    if isinstance(value, list):
        return [substitute_env(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute_env(v, env) for k, v in value.items()}
    return value


def load_config(path: Path | str | None, *, base_dir: Path | None = None) -> GatewayConfig:
    """Load a YAML config; relative paths inside it resolve against the file's folder."""
    if path is None:
        return GatewayConfig()
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config {file}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config {file} must be a mapping at the top level")
    try:
        config = GatewayConfig.model_validate(substitute_env(raw))
    except ValueError as exc:
        raise ConfigError(f"invalid config {file}: {exc}") from exc
    config = resolve_paths(config, base_dir or file.parent)
    _check_lexicon(config.watermark)
    return config


def _check_lexicon(watermark: WatermarkConfig) -> None:
    """A private lexicon is read at start-up, so a broken file stops the gateway there."""
    if watermark.mode == "off" or watermark.lexicon is None:
        return
    from distillguard.forensics.synonyms import Lexicon, LexiconError

    try:
        Lexicon.load(watermark.lexicon)
    except LexiconError as exc:
        raise ConfigError(f"watermark.{exc}") from exc


def resolve_paths(config: GatewayConfig, base_dir: Path) -> GatewayConfig:
    def fix(p: Path) -> Path:
        return p if p.is_absolute() else base_dir / p

    return config.model_copy(
        update={
            "event_log": config.event_log.model_copy(update={"path": fix(config.event_log.path)}),
            "auth": config.auth.model_copy(update={"keys_db": fix(config.auth.keys_db)}),
            "response": config.response.model_copy(
                update={
                    "decisions_db": fix(config.response.decisions_db),
                    "policy_file": fix(config.response.policy_file)
                    if config.response.policy_file
                    else None,
                }
            ),
            "watermark": config.watermark.model_copy(
                update={
                    "lexicon": fix(config.watermark.lexicon) if config.watermark.lexicon else None
                }
            ),
            "detection": config.detection.model_copy(
                update={
                    "engine_config": fix(config.detection.engine_config)
                    if config.detection.engine_config
                    else None
                }
            ),
        }
    )
