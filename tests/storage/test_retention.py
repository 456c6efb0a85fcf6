"""Retention against both stores: rows older than retention_days go, newer ones stay."""

import asyncio
import time

import pytest

from ironpost.core.errors import StorageError
from ironpost.core.events import ActionEvent, AlertEvent
from ironpost.storage.postgres import PostgresStore
from ironpost.storage.retention import DAY, enforce_retention, retention_loop
from ironpost.storage.sqlite import SqliteStore

NOW = 1_800_000_000.0


def fill(store):
    store.migrate()
    ages = [0.5, 3, 29, 31, 45, 400]  # days
    store.write_alerts([AlertEvent(rule_id="r", title="t", severity="low", timestamp=NOW - d * DAY) for d in ages])
    store.write_actions([ActionEvent(action="block", target="1.1.1.1", timestamp=NOW - d * DAY) for d in (1, 40)])


def check(store):
    assert enforce_retention(store, 30, now=NOW) == 3 + 1
    left = sorted(round((NOW - a["timestamp"]) / DAY, 1) for a in store.query_alerts(limit=100))
    assert left == [0.5, 3, 29]
    assert len(store.query_actions()) == 1
    assert enforce_retention(store, 30, now=NOW) == 0
    with pytest.raises(StorageError):
        enforce_retention(store, 0)


def test_retention_sqlite(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite")
    fill(store)
    check(store)
    store.close()


def test_retention_postgres(pg_url):
    store = PostgresStore(pg_url)
    fill(store)
    check(store)
    store.close()


def test_retention_loop_runs_at_start_and_survives_failures(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite")
    store.migrate()
    store.write_alerts([AlertEvent(rule_id="r", title="t", severity="low", timestamp=time.time() - 90 * DAY)])
    calls = []
    real = store.purge

    def flaky(cutoff):
        calls.append(cutoff)
        if len(calls) == 1:
            raise StorageError("database is locked")
        return real(cutoff)

    store.purge = flaky

    async def main():
        task = asyncio.create_task(retention_loop(store, 30, interval=0.05))
        for _ in range(100):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.02)
        task.cancel()

    asyncio.run(main())
    assert len(calls) >= 2
    assert store.query_alerts() == []
    store.close()
