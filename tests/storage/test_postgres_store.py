"""PostgresStore against the real PostgreSQL on 127.0.0.1, each test in its own database."""

import threading
import time

import psycopg
import pytest

from storage_support import TcpProxy, with_host_port
from support import free_port
from ironpost.core.errors import StorageError
from ironpost.core.events import ActionEvent, AlertEvent
from ironpost.storage import SpoolingStore
from ironpost.storage.postgres import MIGRATIONS, PostgresStore

pytestmark = pytest.mark.postgres

SEVS = ("info", "low", "medium", "high", "critical")


def alerts(n, start=0, t0=1_700_000_000.0):
    return [AlertEvent(rule_id=f"r{i % 3}", title="t", severity=SEVS[i % 5], src_ip=f"10.0.{i // 256 % 256}.{i % 256}",
                       group={"src_ip": f"10.0.0.{i % 256}"}, count=i, timestamp=t0 + i) for i in range(start, start + n)]


@pytest.fixture
def store(pg_url):
    s = PostgresStore(pg_url)
    s.migrate()
    yield s
    s.close()


def test_migrations_are_recorded_and_idempotent(pg_url, store):
    assert store.schema_version() == len(MIGRATIONS)
    store.migrate()  # a restart: nothing applied twice
    other = PostgresStore(pg_url)
    other.migrate()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version FROM ironpost_schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
    other.close()


def test_concurrent_migrations_do_not_race(pg_url):
    errors = []

    def go():
        s = PostgresStore(pg_url)
        try:
            s.migrate()
        except StorageError as exc:
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=go) for _ in range(3)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert errors == []


def test_write_and_query(store):
    batch = alerts(50)
    store.write_alerts(batch)
    newest = store.query_alerts(limit=5)
    assert [a["id"] for a in newest] == [a.id for a in reversed(batch[-5:])]
    assert newest[0] == batch[-1].to_dict()  # the whole event round-trips
    high = store.query_alerts(min_severity="high", limit=1000)
    assert len(high) == 20 and {a["severity"] for a in high} == {"high", "critical"}
    recent = store.query_alerts(since=batch[40].timestamp, limit=1000)
    assert len(recent) == 10
    with pytest.raises(StorageError, match="unknown severity"):
        store.query_alerts(min_severity="urgent")
    act = ActionEvent(action="pause", target="web", alert_id=batch[0].id, timestamp=1_700_000_100.0)
    store.write_actions([act, act])
    assert store.query_actions() == [act.to_dict()]


def test_inserts_are_idempotent_by_event_id(store):
    batch = alerts(300)
    store.write_alerts(batch)
    store.write_alerts(batch[100:200] + alerts(10, start=300))  # a spool replay plus new ones
    assert store.count("alerts") == (310, 310)


def test_unreachable_server_raises_storage_error_quickly(pg_url):
    store = PostgresStore(with_host_port(pg_url, "127.0.0.1", free_port()), connect_timeout=2)
    t0 = time.monotonic()
    with pytest.raises(StorageError, match="cannot connect"):
        store.write_alerts(alerts(1))
    assert time.monotonic() - t0 < 3


def test_purge(store):
    store.write_alerts(alerts(10))
    store.write_actions([ActionEvent(action="block", target="1.2.3.4", timestamp=1_700_000_000.0 + i) for i in range(4)])
    assert store.purge(1_700_000_000.0 + 5) == 5 + 4
    assert store.count("alerts") == (5, 5)
    assert store.query_actions() == []


def test_outage_mid_stream_loses_nothing_and_duplicates_nothing(pg_url, tmp_path):
    """The database vanishes (connections reset, port closed) while a writer streams batches,
    then comes back: every alert ends up stored exactly once."""
    proxy = TcpProxy(("127.0.0.1", 5432)).start()
    store = SpoolingStore(PostgresStore(with_host_port(pg_url, "127.0.0.1", proxy.port), connect_timeout=2), tmp_path / "spool")
    n_batches, per = 90, 40
    sent = []
    outage_started, outage_over = threading.Event(), threading.Event()

    def outage():
        outage_started.wait(30)
        proxy.kill()  # races with the writer's current batch: may cut a transaction in half
        time.sleep(0.3)
        proxy.restore()
        outage_over.set()

    t = threading.Thread(target=outage)
    t.start()
    try:
        for i in range(n_batches):
            batch = alerts(per, start=i * per)
            sent.extend(batch)
            store.write_alerts(batch)
            if i == 30:
                outage_started.set()
            if i == 60:
                assert outage_over.wait(10)
            time.sleep(0.005)
        t.join(10)
        store.replay()
        check = PostgresStore(pg_url)
        assert check.count("alerts") == (len(sent), len(sent))
        check.close()
    finally:
        outage_started.set()
        t.join(10)
        store.close()
        proxy.close()
    assert store.spooled_total > 0, "the outage never hit the writer"
    assert store.spooled() == 0
    assert store.replayed_total == store.spooled_total


def test_replayed_spool_of_committed_batch_adds_nothing(pg_url, tmp_path):
    """The reply to a COMMIT is lost: the batch is spooled though it was stored; replay must not duplicate."""
    inner = PostgresStore(pg_url)
    store = SpoolingStore(inner, tmp_path / "spool")
    batch = alerts(20)
    store.write_alerts(batch)
    store.spool(batch)  # what a lost commit reply leads to
    store.write_alerts(alerts(5, start=20))
    assert store.spooled() == 0
    assert inner.count("alerts") == (25, 25)
    store.close()
