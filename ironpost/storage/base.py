"""The store interface every backend implements. Calls are synchronous; the daemon runs them
in a worker thread so a slow database never blocks the event loop."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ironpost.core.events import ActionEvent, AlertEvent


class Store(ABC):
    name = "store"

    @abstractmethod
    def migrate(self) -> None:
        """Create or upgrade the schema (numbered migrations, applied on start)."""

    @abstractmethod
    def write_alerts(self, alerts: list[AlertEvent]) -> None:
        """Write a batch atomically; raise StorageError on failure (nothing partially written)."""

    @abstractmethod
    def write_actions(self, actions: list[ActionEvent]) -> None: ...

    @abstractmethod
    def query_alerts(self, *, since: float | None = None, min_severity: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first, as event dicts."""

    @abstractmethod
    def query_actions(self, *, since: float | None = None, limit: int = 50) -> list[dict[str, Any]]: ...

    @abstractmethod
    def purge(self, older_than: float) -> int:
        """Delete alerts and actions older than a timestamp; return how many rows went."""

    @abstractmethod
    def close(self) -> None: ...
