"""PostgreSQL store (psycopg 3), for sites that keep alerts centrally.

- Numbered migrations, recorded in ironpost_schema_migrations and applied on start under an
  advisory lock, so two daemons starting together do not race.
- Batches are COPYed into a temporary table and inserted with ON CONFLICT (id) DO NOTHING in
  one transaction: a spool replay of a batch that did commit (the reply was lost) adds nothing.
- Every connection failure becomes StorageError quickly (short connect timeout, TCP user
  timeout), which is what makes SpoolingStore spool instead of hanging. The next call reconnects.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import orjson
from psycopg.types.json import Jsonb, set_json_dumps, set_json_loads

from ironpost.core.errors import StorageError
from ironpost.core.events import SEVERITY_RANK, ActionEvent, AlertEvent
from ironpost.storage.base import Store, select_newest, with_node

# index + 1 is the schema version. Append only; never edit a released migration.
MIGRATIONS = [
    """
    CREATE TABLE ironpost_alerts (
        id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, rule_id TEXT NOT NULL,
        severity TEXT NOT NULL, severity_rank SMALLINT NOT NULL, src_ip TEXT, trace_id TEXT,
        body JSONB NOT NULL);
    CREATE INDEX ironpost_alerts_ts ON ironpost_alerts (ts);
    CREATE INDEX ironpost_alerts_rank_ts ON ironpost_alerts (severity_rank, ts);
    CREATE TABLE ironpost_actions (
        id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, alert_id TEXT, action TEXT NOT NULL,
        target TEXT NOT NULL, result TEXT NOT NULL, body JSONB NOT NULL);
    CREATE INDEX ironpost_actions_ts ON ironpost_actions (ts);
    """,
    """
    ALTER TABLE ironpost_alerts ADD COLUMN node TEXT;
    ALTER TABLE ironpost_actions ADD COLUMN node TEXT;
    CREATE INDEX ironpost_alerts_node_ts ON ironpost_alerts (node, ts);
    """,
]

_LOCK_ID = 0x1207_0057  # advisory lock key for migrations ("ironpost")

_ALERT_COLS = "id, ts, rule_id, severity, severity_rank, src_ip, trace_id, body, node"
_ACTION_COLS = "id, ts, alert_id, action, target, result, body, node"


class PostgresStore(Store):
    name = "postgres"

    def __init__(self, url: str, *, node: str = "", connect_timeout: int = 3, io_timeout_ms: int = 10_000):
        self.url = url
        self.node = node
        self.connect_timeout = connect_timeout
        self.io_timeout_ms = io_timeout_ms
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    # --- connection ----------------------------------------------------------------------
    def _connection(self) -> psycopg.Connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        try:
            self._conn = psycopg.connect(
                self.url, connect_timeout=self.connect_timeout, autocommit=True,
                # a peer that vanishes mid-query must not hang the writer thread
                tcp_user_timeout=self.io_timeout_ms, keepalives=1, keepalives_idle=5,
                keepalives_interval=2, keepalives_count=2, application_name="ironpost")
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {_short(exc)}") from exc
        set_json_dumps(_dumps, self._conn)
        set_json_loads(orjson.loads, self._conn)
        return self._conn

    def _fail(self, what: str, exc: Exception) -> StorageError:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass
        return StorageError(f"PostgreSQL {what} failed: {_short(exc)}")

    # --- the interface -------------------------------------------------------------------
    def migrate(self) -> None:
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS ironpost_schema_migrations ("
                        "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                    done = {r[0] for r in conn.execute("SELECT version FROM ironpost_schema_migrations")}
                    for version, sql in enumerate(MIGRATIONS, start=1):
                        if version in done:
                            continue
                        conn.execute(sql)
                        conn.execute("INSERT INTO ironpost_schema_migrations (version) VALUES (%s)", (version,))
            except psycopg.Error as exc:
                raise self._fail("migration", exc) from exc

    def schema_version(self) -> int:
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    row = conn.execute("SELECT coalesce(max(version), 0) FROM ironpost_schema_migrations").fetchone()
                return int(row[0])
            except psycopg.Error as exc:
                raise self._fail("query", exc) from exc

    def write_alerts(self, alerts: list[AlertEvent]) -> None:
        rows = [(a.id, a.timestamp, a.rule_id, a.severity, SEVERITY_RANK[a.severity], a.src_ip, a.trace_id,
                 Jsonb(a.to_dict()), self.node or None) for a in alerts]
        self._copy_insert("ironpost_alerts", _ALERT_COLS, rows)

    def write_actions(self, actions: list[ActionEvent]) -> None:
        rows = [(a.id, a.timestamp, a.alert_id, a.action, a.target, a.result, Jsonb(a.to_dict()), self.node or None)
                for a in actions]
        self._copy_insert("ironpost_actions", _ACTION_COLS, rows)

    def _copy_insert(self, table: str, cols: str, rows: list[tuple]) -> None:
        if not rows:
            return
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS stage_{table} (LIKE {table}) ON COMMIT DELETE ROWS")
                    with conn.cursor().copy(f"COPY stage_{table} ({cols}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                    conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM stage_{table} ON CONFLICT (id) DO NOTHING")
            except psycopg.Error as exc:
                raise self._fail("write", exc) from exc

    def _query(self, sql: str, args: list) -> list[dict[str, Any]]:
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    return [with_node(body, node) for body, node in conn.execute(sql, args)]
            except psycopg.Error as exc:
                raise self._fail("query", exc) from exc

    def query_alerts(self, *, since=None, min_severity=None, node=None, limit=100):
        return self._query(*select_newest("ironpost_alerts", "%s", since=since, min_severity=min_severity, node=node,
                                          limit=limit))

    def query_actions(self, *, since=None, node=None, limit=50):
        return self._query(*select_newest("ironpost_actions", "%s", since=since, node=node, limit=limit))

    def count(self, table: str = "alerts") -> tuple[int, int]:
        """(rows, distinct ids) of ironpost_<table>; for tests and `status`."""
        if table not in ("alerts", "actions"):
            raise StorageError(f"unknown table {table!r}")
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    row = conn.execute(f"SELECT count(*), count(DISTINCT id) FROM ironpost_{table}").fetchone()
                return int(row[0]), int(row[1])
            except psycopg.Error as exc:
                raise self._fail("query", exc) from exc

    def purge(self, older_than: float) -> int:
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    n = conn.execute("DELETE FROM ironpost_alerts WHERE ts < %s", (older_than,)).rowcount
                    n += conn.execute("DELETE FROM ironpost_actions WHERE ts < %s", (older_than,)).rowcount
                return n
            except psycopg.Error as exc:
                raise self._fail("purge", exc) from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except psycopg.Error:
                    pass
                self._conn = None


def _dumps(obj) -> str:
    return orjson.dumps(obj).decode()


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
