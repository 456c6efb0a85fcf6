"""The store interface every backend implements. Calls are synchronous; the daemon runs them
in a worker thread so a slow database never blocks the event loop."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ironpost.core.errors import StorageError
from ironpost.core.events import SEVERITIES, SEVERITY_RANK, ActionEvent, AlertEvent


class Store(ABC):
    name = "store"
    # the node id written beside every row ([fleet] node_id, else the host name): nodes that
    # share one PostgreSQL tell their alerts apart by it (`cli alerts list --node`)
    node = ""

    @abstractmethod
    def migrate(self) -> None:
        """Create or upgrade the schema (numbered migrations, applied on start)."""

    @abstractmethod
    def write_alerts(self, alerts: list[AlertEvent]) -> None:
        """Write a batch atomically; raise StorageError on failure (nothing partially written)."""

    @abstractmethod
    def write_actions(self, actions: list[ActionEvent]) -> None: ...

    @abstractmethod
    def query_alerts(self, *, since: float | None = None, min_severity: str | None = None, node: str | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
        """Newest first, as event dicts, each with the "node" that stored it (when known)."""

    @abstractmethod
    def query_actions(self, *, since: float | None = None, node: str | None = None, limit: int = 50) -> list[dict[str, Any]]: ...

    @abstractmethod
    def purge(self, older_than: float) -> int:
        """Delete alerts and actions older than a timestamp; return how many rows went."""

    @abstractmethod
    def close(self) -> None: ...


def select_newest(table: str, mark: str, *, since: float | None = None, min_severity: str | None = None,
                  node: str | None = None, limit: int = 100) -> tuple[str, list]:
    """The SELECT every backend runs for query_alerts/query_actions, with `mark` as its
    placeholder ("?" for SQLite, "%s" for psycopg). Severity filters need a severity_rank column.
    Rows are (body, node): the node that stored the event, which a fleet's shared PostgreSQL needs."""
    where, args = [], []
    if since is not None:
        where.append(f"ts >= {mark}")
        args.append(since)
    if min_severity:
        if min_severity not in SEVERITY_RANK:
            raise StorageError(f"unknown severity {min_severity!r}; expected one of {', '.join(SEVERITIES)}")
        where.append(f"severity_rank >= {mark}")
        args.append(SEVERITY_RANK[min_severity])
    if node is not None:
        where.append(f"node = {mark}")
        args.append(node)
    sql = (f"SELECT body, node FROM {table}" + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY ts DESC LIMIT {mark}")
    return sql, args + [limit]


def with_node(body: dict[str, Any], node: str | None) -> dict[str, Any]:
    if node:
        body["node"] = node
    return body
