"""A store wrapper that never loses a write: a batch the backend refuses is appended to a
spool file in data_dir (JSON lines), and the spool is replayed, in order, before the next
write once the backend answers again."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import orjson

from ironpost.core.errors import StorageError
from ironpost.core.fsmode import private_file
from ironpost.core.events import ActionEvent, AlertEvent, event_from_dict
from ironpost.storage.base import Store

log = logging.getLogger("ironpost.storage")


class SpoolingStore(Store):
    def __init__(self, inner: Store, spool_dir: str | Path):
        self.inner = inner
        self.name = inner.name
        self.spool_path = Path(spool_dir) / f"{inner.name}.spool.jsonl"
        self._lock = threading.Lock()
        self.spooled_total = 0
        self.replayed_total = 0
        self.failures_total = 0
        self.migrated = False

    # --- the interface -------------------------------------------------------------------
    def migrate(self) -> None:
        self.inner.migrate()
        self.migrated = True

    def write_alerts(self, alerts: list[AlertEvent]) -> None:
        self.write(alerts)

    def write_actions(self, actions: list[ActionEvent]) -> None:
        self.write(actions)

    def query_alerts(self, **kw):
        return self.inner.query_alerts(**kw)

    def query_actions(self, **kw):
        return self.inner.query_actions(**kw)

    def purge(self, older_than: float) -> int:
        return self.inner.purge(older_than)

    def close(self) -> None:
        self.inner.close()

    # --- spooling ------------------------------------------------------------------------
    def spooled(self) -> int:
        """Events waiting in the spool (including a replay that was interrupted)."""
        total = 0
        for path in (self.spool_path, self.spool_path.with_suffix(".replaying")):
            try:
                with path.open("rb") as fh:
                    total += sum(1 for _ in fh)
            except FileNotFoundError:
                pass
        return total

    def write(self, events: list) -> None:
        """Write a mixed batch of alerts and actions; on StorageError spool it instead."""
        if not events:
            return
        with self._lock:
            try:
                if not self.migrated:
                    self.inner.migrate()
                    self.migrated = True
                self._replay_locked()
                self._write_inner(events)
            except StorageError as exc:
                self.failures_total += 1
                self.spool(events)
                log.warning("store unavailable, spooled %d events", len(events), extra={"error": str(exc), "spool": str(self.spool_path)})

    def replay(self) -> int:
        """Try to flush the spool now; returns events replayed (0 if the backend is still down)."""
        with self._lock:
            try:
                if not self.migrated:
                    self.inner.migrate()
                    self.migrated = True
                return self._replay_locked()
            except StorageError:
                return 0

    def _write_inner(self, events: list) -> None:
        alerts = [e for e in events if isinstance(e, AlertEvent)]
        actions = [e for e in events if isinstance(e, ActionEvent)]
        if alerts:
            self.inner.write_alerts(alerts)
        if actions:
            self.inner.write_actions(actions)

    def spool(self, events: list) -> None:
        """Append events to the spool file (fsynced) for a later replay."""
        private_file(self.spool_path)
        data = b"".join(e.to_json() + b"\n" for e in events)
        with self.spool_path.open("ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        self.spooled_total += len(events)

    def _replay_locked(self) -> int:
        # Rename first so a crash mid-replay leaves the file to replay again; the stores
        # insert idempotently by event id, so a second replay cannot duplicate.
        work = self.spool_path.with_suffix(".replaying")
        total = 0
        while True:
            if not work.exists():
                if not self.spool_path.exists():
                    break
                os.replace(self.spool_path, work)
            events = []
            with work.open("rb") as fh:
                for line in fh:
                    line = line.strip()
                    if line:
                        try:
                            events.append(event_from_dict(orjson.loads(line)))
                        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
                            log.error("unreadable spool line skipped", extra={"error": str(exc)})
            for i in range(0, len(events), 1000):
                self._write_inner(events[i : i + 1000])  # raises StorageError: the file stays
            work.unlink()
            total += len(events)
        if total:
            self.replayed_total += total
            log.info("replayed %d spooled events", total)
        return total

    def metrics(self) -> dict[str, float]:
        return {
            "storage_spooled_total": self.spooled_total,
            "storage_replayed_total": self.replayed_total,
            "storage_write_failures_total": self.failures_total,
        }
