"""SQLite store: the embedded default (WAL mode, one file in data_dir)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson

from ironpost.core.events import SEVERITY_RANK, ActionEvent, AlertEvent
from ironpost.core.errors import StorageError
from ironpost.core.fsmode import private_file
from ironpost.storage.base import Store, select_newest, with_node

# Numbered migrations: index + 1 is the schema version. Append only.
MIGRATIONS = [
    """
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY, ts REAL NOT NULL, rule_id TEXT NOT NULL, severity TEXT NOT NULL,
        severity_rank INTEGER NOT NULL, src_ip TEXT, trace_id TEXT, body BLOB NOT NULL);
    CREATE INDEX alerts_ts ON alerts(ts);
    CREATE TABLE actions (
        id TEXT PRIMARY KEY, ts REAL NOT NULL, alert_id TEXT, action TEXT NOT NULL,
        target TEXT NOT NULL, result TEXT NOT NULL, body BLOB NOT NULL);
    CREATE INDEX actions_ts ON actions(ts);
    """,
    """
    ALTER TABLE alerts ADD COLUMN node TEXT;
    ALTER TABLE actions ADD COLUMN node TEXT;
    CREATE INDEX alerts_node_ts ON alerts(node, ts);
    """,
]


class SqliteStore(Store):
    name = "sqlite"

    def __init__(self, path: str | Path, *, node: str = ""):
        self.path = Path(path)
        self.node = node
        self._lock = threading.Lock()
        try:
            # 0600 before SQLite opens it; SQLite gives the -wal and -shm files the same mode.
            private_file(self.path)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open SQLite store {self.path}: {exc}") from exc

    def migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for n, sql in enumerate(MIGRATIONS[version:], start=version + 1):
                try:
                    self._db.execute("BEGIN")
                    for statement in filter(str.strip, sql.split(";")):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version={n}")
                    self._db.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._db.execute("ROLLBACK")
                    raise StorageError(f"SQLite migration {n} failed: {exc}") from exc

    def _write(self, sql: str, rows: list[tuple]) -> None:
        if not rows:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany(sql, rows)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise StorageError(f"SQLite write failed: {exc}") from exc

    def write_alerts(self, alerts: list[AlertEvent]) -> None:
        self._write(
            "INSERT OR IGNORE INTO alerts (id, ts, rule_id, severity, severity_rank, src_ip, trace_id, body, node)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            [(a.id, a.timestamp, a.rule_id, a.severity, SEVERITY_RANK[a.severity], a.src_ip, a.trace_id, a.to_json(),
              self.node or None) for a in alerts],
        )

    def write_actions(self, actions: list[ActionEvent]) -> None:
        self._write(
            "INSERT OR IGNORE INTO actions (id, ts, alert_id, action, target, result, body, node) VALUES (?,?,?,?,?,?,?,?)",
            [(a.id, a.timestamp, a.alert_id, a.action, a.target, a.result, a.to_json(), self.node or None) for a in actions],
        )

    def _query(self, sql: str, args: list) -> list[dict[str, Any]]:
        with self._lock:
            try:
                return [with_node(orjson.loads(body), node) for body, node in self._db.execute(sql, args)]
            except sqlite3.Error as exc:
                raise StorageError(f"SQLite query failed: {exc}") from exc

    def query_alerts(self, *, since=None, min_severity=None, node=None, limit=100):
        return self._query(*select_newest("alerts", "?", since=since, min_severity=min_severity, node=node, limit=limit))

    def query_actions(self, *, since=None, node=None, limit=50):
        return self._query(*select_newest("actions", "?", since=since, node=node, limit=limit))

    def purge(self, older_than: float) -> int:
        with self._lock:
            try:
                n = self._db.execute("DELETE FROM alerts WHERE ts < ?", (older_than,)).rowcount
                n += self._db.execute("DELETE FROM actions WHERE ts < ?", (older_than,)).rowcount
                return n
            except sqlite3.Error as exc:
                raise StorageError(f"SQLite purge failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()
