"""The storage writer's batches, bounded by [log_pipeline] batch_size and flush_interval_secs, on a real SQLite store."""

import asyncio
import time

from ironpost.core.bus import Bus
from ironpost.core.events import AlertEvent
from ironpost.daemon.storage_writer import StorageWriter
from ironpost.storage.spool import SpoolingStore
from ironpost.storage.sqlite import SqliteStore


def alert(i: int) -> AlertEvent:
    return AlertEvent(rule_id="r", title="t", severity="high", src_ip=f"192.0.2.{i}")


async def wait_written(writer: StorageWriter, n: int, timeout: float) -> float:
    t0 = time.monotonic()
    while writer.written < n:
        assert time.monotonic() - t0 < timeout, f"written {writer.written} of {n}"
        await asyncio.sleep(0.01)
    return time.monotonic() - t0


def run_writer(tmp_path, body, **kw):
    store = SpoolingStore(SqliteStore(tmp_path / "a.db"), tmp_path / "spool")
    store.migrate()
    bus = Bus(1000)
    writer = StorageWriter(bus, store, **kw)

    async def go():
        task = asyncio.create_task(writer.run())
        try:
            await body(bus, writer)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await writer.flush()

    asyncio.run(go())
    rows = store.query_alerts(limit=1000)
    store.close()
    return rows


def test_full_batches_go_at_once_and_the_rest_waits_for_flush_interval(tmp_path):
    async def body(bus, writer):
        t0 = time.monotonic()
        for i in range(5):
            await bus.publish("alerts", alert(i))
        assert await wait_written(writer, 4, 2) < 0.5  # two full batches of 2: no waiting
        await asyncio.sleep(0.3)
        assert writer.written == 4  # the fifth waits for its batch to fill...
        await wait_written(writer, 5, 5)  # ...until flush_interval (1 s) has passed
        assert 0.9 <= time.monotonic() - t0 <= 2.5

    rows = run_writer(tmp_path, body, batch_size=2, flush_interval=1.0)
    assert len(rows) == 5


def test_flush_interval_zero_writes_what_is_queued_at_once(tmp_path):
    async def body(bus, writer):
        for i in range(3):
            await bus.publish("alerts", alert(i))
        assert await wait_written(writer, 3, 2) < 0.5

    assert len(run_writer(tmp_path, body, batch_size=500, flush_interval=0.0)) == 3


def test_stop_while_a_batch_fills_loses_nothing(tmp_path):
    async def body(bus, writer):
        await bus.publish("alerts", alert(1))
        await asyncio.sleep(0.2)  # taken off the queue, waiting for the batch to fill
        assert writer.written == 0

    rows = run_writer(tmp_path, body, batch_size=100, flush_interval=30.0)
    assert [r["src_ip"] for r in rows] == ["192.0.2.1"]


def test_waiters_on_stored_alerts_wake_only_once_the_rows_are_in_the_store(tmp_path):
    """What a tailed file waits for before it saves its offsets: the rows exist when the wait ends."""
    counts = []

    async def body(bus, writer):
        for i in range(7):
            await bus.publish("alerts", alert(i))
        await asyncio.wait_for(bus.wait_durable("alerts"), 5)
        counts.append(len(writer.store.query_alerts(limit=100)))
        for i in range(7, 10):
            await bus.publish("alerts", alert(i))
        await asyncio.wait_for(bus.wait_durable("alerts"), 5)
        counts.append(len(writer.store.query_alerts(limit=100)))

    rows = run_writer(tmp_path, body, batch_size=3, flush_interval=0.2)
    assert counts == [7, 10]
    assert len(rows) == 10
