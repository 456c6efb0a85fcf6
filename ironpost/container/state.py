"""What the guard changed, kept on disk so `release` can undo it after a daemon restart.

One JSON file in data_dir, keyed by container name: whether we paused or stopped it and which
networks we removed (with the aliases and addresses needed to reconnect them as they were).
The file is re-read on every call (it holds a handful of entries): the daemon and a CLI acting
directly on the engine may both change it, and neither may work from a stale copy.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("ironpost.container")


class IsolationState:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # A damaged file must not stop the guard; the operator can still release by hand.
            log.warning("isolation state unreadable; starting empty", extra={"path": str(self.path), "error": str(exc)})
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._read().get(name)

    def all(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return self._read()

    def record(self, name: str, container_id: str, *, paused: bool = False, stopped: bool = False,
               networks: list[dict[str, Any]] | None = None, policy: str | None = None, alert_id: str | None = None,
               trace_id: str | None = None) -> None:
        with self._lock:
            data = self._read()
            rec = data.get(name)
            if rec is None or rec.get("id") != container_id:
                rec = {"id": container_id, "paused": False, "stopped": False, "networks": []}
            rec["paused"] = rec["paused"] or paused
            rec["stopped"] = rec["stopped"] or stopped
            known = {n["name"] for n in rec["networks"]}
            rec["networks"].extend(n for n in networks or [] if n["name"] not in known)
            rec["policy"], rec["alert_id"], rec["trace_id"] = policy, alert_id, trace_id
            data[name] = rec
            self._save(data)

    def forget(self, name: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(name, None) is not None:
                self._save(data)

    def _save(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")  # two processes may write
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
