"""Retention: delete alerts and actions older than `retention_days`.

`enforce_retention` is one pass (synchronous, like the stores); `retention_loop` is what the
daemon schedules: a pass at start, then every `interval` seconds, in a worker thread so a slow
DELETE never blocks the event loop. A failed pass is logged and retried next time.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ironpost.core.errors import StorageError
from ironpost.storage.base import Store

log = logging.getLogger("ironpost.storage")

DAY = 86400.0


def enforce_retention(store: Store, days: float, *, now: float | None = None) -> int:
    """Purge rows older than `days` days; returns how many rows went."""
    if days <= 0:
        raise StorageError(f"retention_days must be positive, got {days!r}")
    cutoff = (time.time() if now is None else now) - days * DAY
    removed = store.purge(cutoff)
    if removed:
        log.info("retention purged %d rows", removed, extra={"store": store.name, "days": days, "cutoff": cutoff})
    return removed


async def retention_loop(store: Store, days: float, interval: float = 3600.0) -> None:
    """Run enforce_retention now and then every `interval` seconds, until cancelled."""
    while True:
        try:
            await asyncio.to_thread(enforce_retention, store, days)
        except StorageError as exc:
            log.warning("retention pass failed, will retry", extra={"store": store.name, "error": str(exc)})
        await asyncio.sleep(interval)
