"""Run the gateway under uvicorn with the fastest parts that are installed."""

from __future__ import annotations

import importlib.util
import socket
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from distillguard.config import GatewayConfig
from distillguard.gateway.app import create_gateway_app
from distillguard.gateway.decision import ChainedHook, DecisionHook
from distillguard.logs import setup_logging
from distillguard.policy.buckets import Buckets, MemoryBuckets, RedisBuckets
from distillguard.policy.response import ResponsePolicy
from distillguard.policy.sharing import CampaignSharing
from distillguard.policy.snapshot import DecisionCache
from distillguard.policy.static import StaticPolicy
from distillguard.store.decisions import open_decisions


def uvicorn_options() -> dict[str, Any]:
    # proxy_headers off: uvicorn would otherwise trust X-Forwarded-For from 127.0.0.1 itself;
    # the gateway decides whom to believe (trusted_proxies).
    options: dict[str, Any] = {
        "access_log": False,
        "log_level": "warning",
        "lifespan": "on",
        "proxy_headers": False,
    }
    if importlib.util.find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        options["http"] = "httptools"
    return options


def serve_app(app: ASGIApp, host: str, port: int) -> None:
    uvicorn.run(app, host=host, port=port, **uvicorn_options())


def replica_name(config: GatewayConfig) -> str:
    return config.response.replica_name or f"{socket.gethostname()}:{config.listen.port}"


def build_hook(config: GatewayConfig) -> tuple[DecisionHook, ResponsePolicy | None]:
    """The static policy, followed by the detection engine when it is enabled — alone (it
    blocks what it flags) or behind the response policy's ladder when that is enabled."""
    buckets: Buckets = MemoryBuckets()
    if config.rate_limit_backend == "redis":
        buckets = RedisBuckets(config.redis.url, config.redis.prefix, config.redis.timeout_s)
    static = StaticPolicy(config.policy, buckets)
    if not (config.detection.enabled or config.response.enabled):
        return static, None
    from distillguard.engine import Engine
    from distillguard.engine_config import load_engine_config

    engine_config = load_engine_config(config.detection.engine_config)
    if not config.detection.semantic:
        detectors = [d for d in engine_config.detectors if d != "semantic"]
        engine_config = engine_config.model_copy(update={"detectors": detectors})
    engine = Engine(engine_config)
    if config.detection.state_backend == "redis":
        from distillguard.store.feature_stream import SharedFold

        engine.shared = SharedFold(
            engine,
            config.redis.url,
            prefix=config.redis.prefix,
            replica=replica_name(config),
            timeout_s=config.redis.timeout_s,
            max_len=config.detection.stream_max_len,
            fail_mode=config.fail_mode,
        )
    if not config.response.enabled:
        return ChainedHook([static, engine]), None
    store = open_decisions(
        config.response.decisions_backend,
        config.response.decisions_db,
        redis_url=config.redis.url,
        redis_prefix=config.redis.prefix,
        timeout_s=config.redis.timeout_s,
    )
    cache = DecisionCache(
        store, config.response.policy_file, max_staleness_s=config.response.max_staleness_s
    )
    policy = ResponsePolicy(engine, cache, fail_mode=config.fail_mode, buckets=buckets)
    if config.response.share_campaigns:
        policy.sharing = CampaignSharing(store, replica_name(config))
    return ChainedHook([static, policy]), policy


def run_gateway(config: GatewayConfig) -> None:
    setup_logging(config.log_format)
    hook, policy = build_hook(config)
    app = create_gateway_app(config, hook=hook, policy=policy)
    serve_app(app, config.listen.host, config.listen.port)
