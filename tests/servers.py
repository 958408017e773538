"""Real HTTP servers for tests: an ASGI app under uvicorn in a background thread."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import uvicorn
from starlette.types import ASGIApp

from distillguard.procs import free_port


@contextmanager
def serve_in_thread(app: ASGIApp, port: int | None = None) -> Iterator[str]:
    """Yield ``http://127.0.0.1:PORT`` while ``app`` serves there; shut down on exit."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        proxy_headers=False,  # as the gateway runs: it resolves client IPs itself
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def redis_binary() -> str:
    """Debian's redis-server (system-deps.sh installs it); a clear skip or, in CI, a failure."""
    found = shutil.which("redis-server")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing; scripts/system-deps.sh installs it")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return found


@contextmanager
def redis_server(data_dir: Path, port: int | None = None) -> Iterator[str]:
    """A real Redis on loopback with an append-only file in ``data_dir`` (fsync on every
    write), so a restart on the same port and folder keeps what was written."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(  # noqa: S603 - a fixed local binary and our own arguments
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 15
    while True:
        try:
            if client.ping():
                break
        except redis.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.02)
    client.close()
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
