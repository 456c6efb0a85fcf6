import time

import pytest

from ironpost.core.errors import StorageError
from ironpost.core.events import ActionEvent, AlertEvent
from ironpost.storage.sqlite import SqliteStore
from ironpost.storage.spool import SpoolingStore


def alerts(n, severity="high", ts=None):
    return [AlertEvent(rule_id=f"r{i % 3}", title="t", severity=severity, src_ip=f"10.200.0.{i % 250}", timestamp=ts or time.time()) for i in range(n)]


def test_sqlite_roundtrip_filters_and_purge(tmp_path):
    st = SqliteStore(tmp_path / "a.db")
    st.migrate()
    st.migrate()  # idempotent
    old = alerts(3, "low", ts=1000.0)
    new = alerts(5, "critical")
    st.write_alerts(old + new)
    st.write_alerts(new)  # same ids again: no duplicates (spool replays rely on this)
    st.write_actions([ActionEvent(action="pause", target="web-1", alert_id=new[0].id, dry_run=False)])
    assert len(st.query_alerts()) == 8
    assert {a["id"] for a in st.query_alerts(min_severity="high")} == {a.id for a in new}
    assert len(st.query_alerts(since=time.time() - 60)) == 5
    assert len(st.query_alerts(limit=2)) == 2
    assert st.query_actions()[0]["target"] == "web-1"
    with pytest.raises(StorageError, match="unknown severity"):
        st.query_alerts(min_severity="urgent")
    assert st.purge(2000.0) == 3
    assert len(st.query_alerts()) == 5
    st.close()


def test_sqlite_unwritable_path_is_a_storage_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="cannot open SQLite store"):
        SqliteStore(tmp_path / "file" / "sub" / "a.db")


class FlakyStore(SqliteStore):
    """Fault injection: a real SQLite store that refuses writes while `down` is set."""

    down = False

    def write_alerts(self, alerts):
        if self.down:
            raise StorageError("injected outage")
        super().write_alerts(alerts)


def test_spool_keeps_everything_during_an_outage_and_replays_in_order(tmp_path):
    inner = FlakyStore(tmp_path / "a.db")
    st = SpoolingStore(inner, tmp_path / "spool")
    first, during, after = alerts(10), alerts(25), alerts(5)
    st.write_alerts(first)
    inner.down = True
    st.write_alerts(during[:10])
    st.write_alerts(during[10:])
    assert st.spooled() == 25 and st.failures_total == 2
    assert len(inner.query_alerts(limit=1000)) == 10
    assert st.replay() == 0  # still down: the spool stays
    assert st.spooled() == 25
    inner.down = False
    st.write_alerts(after)  # the spool is replayed before this write
    ids = {a["id"] for a in inner.query_alerts(limit=1000)}
    assert ids == {a.id for a in first + during + after}
    assert st.spooled() == 0 and st.replayed_total == 25


def test_interrupted_replay_is_replayed_again_without_duplicates(tmp_path):
    inner = FlakyStore(tmp_path / "a.db")
    st = SpoolingStore(inner, tmp_path / "spool")
    inner.down = True
    batch = alerts(7)
    st.write_alerts(batch)
    # a crash mid-replay leaves the .replaying file behind
    st.spool_path.rename(st.spool_path.with_suffix(".replaying"))
    inner.down = False
    st2 = SpoolingStore(inner, tmp_path / "spool")
    assert st2.replay() == 7
    assert st2.replay() == 0
    assert len(inner.query_alerts(limit=100)) == 7


class BatchRecordingStore(FlakyStore):
    """A real SQLite store that remembers the size of every batch it was given."""

    def __init__(self, path):
        super().__init__(path)
        self.batches = []

    def write_alerts(self, alerts):
        self.batches.append(len(alerts))
        super().write_alerts(alerts)


def test_spool_is_bounded_and_counts_what_it_drops(tmp_path):
    inner = FlakyStore(tmp_path / "a.db")
    st = SpoolingStore(inner, tmp_path / "spool", max_bytes=8192)
    inner.down = True
    flood = alerts(400)
    for i in range(0, 400, 50):
        st.write_alerts(flood[i:i + 50])
    kept = st.spooled()
    assert 0 < kept < 400 and st.dropped_total == 400 - kept
    assert st.spool_bytes() <= 8192
    assert st.metrics()["storage_spool_dropped_total"] == 400 - kept
    inner.down = False
    st.replay()
    # the oldest events were kept, in order; the rest are counted as dropped, not silently lost
    assert {a["id"] for a in inner.query_alerts(limit=1000)} == {a.id for a in flood[:kept]}


def test_replay_streams_in_bounded_batches(tmp_path):
    inner = BatchRecordingStore(tmp_path / "a.db")
    st = SpoolingStore(inner, tmp_path / "spool")
    inner.down = True
    st.write_alerts(alerts(2500))
    inner.down = False
    inner.batches.clear()
    assert st.replay() == 2500
    assert inner.batches == [1000, 1000, 500]
    assert len(inner.query_alerts(limit=10_000)) == 2500


def test_spool_file_is_private(tmp_path):
    import os
    import stat

    inner = FlakyStore(tmp_path / "a.db")
    st = SpoolingStore(inner, tmp_path / "spool")
    inner.down = True
    st.write_alerts(alerts(3))
    assert stat.S_IMODE(os.stat(st.spool_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "a.db").st_mode) == 0o600


def test_a_store_made_before_nodes_were_recorded_is_upgraded_in_place(tmp_path):
    import sqlite3

    from ironpost.storage import sqlite as sqlite_mod

    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(sqlite_mod.MIGRATIONS[0] + "; PRAGMA user_version=1;")
    old = AlertEvent(rule_id="r", title="t", severity="high", src_ip="192.0.2.1")
    db.execute("INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?)",
               (old.id, old.timestamp, "r", "high", 3, "192.0.2.1", old.trace_id, old.to_json()))
    db.close()
    store = sqlite_mod.SqliteStore(path, node="web-1")
    store.migrate()
    store.write_alerts([AlertEvent(rule_id="r", title="t", severity="high", src_ip="192.0.2.2")])
    rows = store.query_alerts()
    mine = store.query_alerts(node="web-1")
    store.close()
    assert {r["src_ip"]: r.get("node") for r in rows} == {"192.0.2.1": None, "192.0.2.2": "web-1"}
    assert [r["src_ip"] for r in mine] == ["192.0.2.2"]
