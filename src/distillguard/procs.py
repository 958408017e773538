"""Start distillguard servers as real subprocesses (demo, tests, benchmarks) and wait for them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Poll ``url`` until it answers (any status) or the process dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server at {url} was not ready after {timeout_s}s")


def start_cli(
    args: Sequence[str], ready_url: str, *, log_file: Path | None = None, timeout_s: float = 60.0
) -> subprocess.Popen[bytes]:
    """``python -m distillguard ARGS`` in a subprocess, once it answers ``ready_url``."""
    cmd = [sys.executable, "-m", "distillguard", *args]
    if log_file is None:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    else:
        with log_file.open("ab") as out:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(cmd, stdout=out, stderr=out)  # noqa: S603
    wait_ready(ready_url, proc, timeout_s)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> int:
    """SIGTERM (the gateway flushes its event log), then SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@contextmanager
def gateway_stack(
    workdir: Path, gateway_settings: dict[str, Any], conversations: int = 1000
) -> Iterator[tuple[str, Path]]:
    """The replay upstream and a gateway in front of it, as real servers in ``workdir``.

    Yields the gateway's base URL (``.../v1``) and its config path; the gateway is stopped
    with SIGTERM on exit, so its event log is flushed.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    upstream_port, gateway_port = free_port(), free_port()
    config = {
        "listen": {"host": "127.0.0.1", "port": gateway_port},
        "upstream": {"base_url": f"http://127.0.0.1:{upstream_port}/v1"},
        "event_log": {"path": "events.sqlite", "flush_interval_ms": 200},
        "auth": {"keys_db": "keys.sqlite", "reload_interval_s": 0.5},
        **gateway_settings,
    }
    config_path = workdir / "gateway.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    log_file = workdir / "servers.log"
    upstream = start_cli(
        ["upstream", "replay", "--port", str(upstream_port), "--conversations", str(conversations)],
        f"http://127.0.0.1:{upstream_port}/v1/models",
        log_file=log_file,
    )
    try:
        gateway = start_cli(
            ["serve", "--config", str(config_path)],
            f"http://127.0.0.1:{gateway_port}/healthz",
            log_file=log_file,
        )
        try:
            yield f"http://127.0.0.1:{gateway_port}/v1", config_path
        finally:
            stop(gateway)
    finally:
        stop(upstream)
