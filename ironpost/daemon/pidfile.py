"""PID file: refuse to start while a live process holds it; replace a stale one."""

from __future__ import annotations

import os
from pathlib import Path

from ironpost.core.errors import DaemonError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PidFile:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.stale_replaced = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            old = int(self.path.read_text().strip() or "0")
        except FileNotFoundError:
            old = 0
        except ValueError:
            old = 0  # garbage in the file: treat as stale
        if old and old != os.getpid() and _alive(old):
            raise DaemonError(f"another ironpost daemon is running (pid {old}, pid file {self.path})")
        self.stale_replaced = self.path.exists()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{os.getpid()}\n")
        os.replace(tmp, self.path)

    def release(self) -> None:
        try:
            if int(self.path.read_text().strip() or "0") == os.getpid():
                self.path.unlink()
        except (FileNotFoundError, ValueError):
            pass
