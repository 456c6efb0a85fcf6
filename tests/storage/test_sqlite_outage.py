"""SQLite behind the spool: a locked database (another writer holding it) spools, then replays."""

import sqlite3

from ironpost.core.events import AlertEvent
from ironpost.storage import SpoolingStore
from ironpost.storage.sqlite import SqliteStore


def batch(n, start=0):
    return [AlertEvent(rule_id="r", title="t", severity="high", timestamp=1_700_000_000.0 + i) for i in range(start, start + n)]


def test_locked_sqlite_spools_and_replays_exactly_once(tmp_path):
    db = tmp_path / "ironpost.db"
    inner = SqliteStore(db)
    inner._db.execute("PRAGMA busy_timeout=50")  # fail fast while the other writer holds the lock
    store = SpoolingStore(inner, tmp_path / "spool")
    sent = []
    for i in range(5):
        sent += batch(10, i * 10)
        store.write_alerts(sent[-10:])

    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # the outage: another process holds the write lock
    for i in range(5, 8):
        sent += batch(10, i * 10)
        store.write_alerts(sent[-10:])
    assert store.spooled() == 30
    other.execute("ROLLBACK")
    other.close()

    sent += batch(10, 80)
    store.write_alerts(sent[-10:])  # replays the spool first, in order
    assert store.spooled() == 0
    rows = inner._db.execute("SELECT count(*), count(DISTINCT id) FROM alerts").fetchone()
    assert rows == (90, 90)
    assert store.replay() == 0
    assert {a["id"] for a in store.query_alerts(limit=1000)} == {a.id for a in sent}
    store.close()
