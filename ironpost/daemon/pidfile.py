"""PID file held with an exclusive flock for the daemon's whole life.

Checking a PID and then writing the file lets two daemons started together both pass, and a
reused PID in a stale file looks alive for ever. The lock is the truth instead: whoever holds
it is the daemon; a file nobody holds is stale whatever PID it names. The kernel drops the
lock when the process dies, however it dies. A second daemon fails on the lock before it
touches anything (the control socket, the store).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ironpost.core.errors import DaemonError
from ironpost.core.fsmode import FILE_MODE


class PidFile:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.stale_replaced = False
        self._fd: int | None = None

    def _holder(self, fd: int) -> str:
        try:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        except OSError:
            text = ""
        return text if text.isdigit() else "unknown"

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
            except OSError as exc:
                raise DaemonError(f"cannot open pid file {self.path}: {exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._holder(fd)
                os.close(fd)
                raise DaemonError(f"another ironpost daemon is running (pid {holder}, pid file {self.path})") from None
            # The holder we raced may have unlinked the file on exit after our open: a lock on
            # that orphan inode proves nothing, so open the path again.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            old = os.pread(fd, 32, 0).strip()
            self.stale_replaced = bool(old) and old != str(os.getpid()).encode()
            os.fchmod(fd, FILE_MODE)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            os.fsync(fd)
            self._fd = fd
            return
        raise DaemonError(f"pid file {self.path} keeps being replaced while starting; is another daemon starting?")

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            # Unlink while still holding the lock, so nobody can lock the name we are removing.
            if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                self.path.unlink()
        except FileNotFoundError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None
