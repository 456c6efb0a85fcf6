"""File modes for what Ironpost keeps: data_dir 0700, every file in it 0600.

The store holds log lines (user names, addresses, sometimes a password typed at a user-name
prompt), so nothing Ironpost writes may be readable by other local users. The daemon sets
umask 077 at start; the helpers here also create files 0600 explicitly, because the CLI and
tests write the same files without the daemon's umask.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from ironpost.core.errors import IronpostError

log = logging.getLogger("ironpost.daemon")

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077


class UnsafePathError(IronpostError):
    """A state directory or file is open to other users in a way Ironpost will not run with."""

    exit_code = 2


def private_file(path: str | Path) -> Path:
    """Create `path` (and its parent) if missing, 0600; leave its content alone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        st = os.fstat(fd)
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def check_data_dir(path: str | Path) -> Path:
    """Create data_dir 0700, or refuse one that other users could write into."""
    path = Path(path)
    if not path.exists():
        path.mkdir(parents=True, mode=DIR_MODE)
        os.chmod(path, DIR_MODE)  # mkdir's mode is masked; the daemon's umask is already 077 but the CLI's is not
        return path
    st = os.stat(path)  # follows a symlinked data_dir on purpose: the operator may point it elsewhere
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"data_dir {path} is not a directory")
    if st.st_mode & stat.S_IWOTH:
        raise UnsafePathError(f"data_dir {path} is world-writable (mode {stat.S_IMODE(st.st_mode):04o}); "
                              f"another user could plant or swap Ironpost's files. chmod 700 {path}")
    if st.st_uid not in (os.geteuid(), 0):
        raise UnsafePathError(f"data_dir {path} belongs to uid {st.st_uid}, not to this user (uid {os.geteuid()}) or root")
    return path


def tighten(path: str | Path) -> list[str]:
    """data_dir to 0700 and the files directly in it to 0600; returns what was changed."""
    path = Path(path)
    changed = []
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        os.chmod(path, DIR_MODE)
        changed.append(f"{path} {mode:04o}->0700")
    with os.scandir(path) as it:
        for entry in it:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue  # never chmod through a link someone may have planted
            m = stat.S_IMODE(st.st_mode)
            if m & 0o077 and (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                want = DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE
                try:
                    # fchmod on an O_NOFOLLOW descriptor: a file swapped for a link since the
                    # scandir is refused rather than followed.
                    fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    os.fchmod(fd, want)
                finally:
                    os.close(fd)
                changed.append(f"{entry.path} {m:04o}->{want:04o}")
    if changed:
        log.warning("state files were readable by other users; modes tightened", extra={"changed": changed})
    return changed
