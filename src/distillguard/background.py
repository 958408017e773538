"""Periodic reloads that must never stop: a failed one is logged and the next one tries again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


async def reload_forever(reload: Callable[[], object], interval_s: float, failure: str) -> None:
    """Run ``reload`` in a worker thread every ``interval_s`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(reload)
        except Exception:
            log.exception(failure)
