"""Find lockfiles under the scan directories.

Walks with os.scandir, never descends into vendored trees (node_modules, target, .git, .venv),
follows directory symlinks only once per real directory (so a link back up the tree cannot loop),
and drops anything an exclude glob matches (against the full path, the path relative to the scan
directory, or the base name: "vendor/*", "*/fixtures/*" and "*.bak" all work).

The daemon scans as root, in directories other users can write to: a symlink (to a directory
or a file) is followed only when its target stays inside the scan directory, so a planted
link cannot make Ironpost read /root or /etc. The walk is bounded: max_depth levels and
max_files lockfiles per call; what the bounds and the symlink rule skip is counted in `stats`
and logged.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from ironpost.sbom.lockfiles import BY_FILENAME

log = logging.getLogger("ironpost.sbom")

SKIP_DIRS = frozenset({"node_modules", "target", ".git", ".venv", "__pycache__"})
MAX_DEPTH = 32
MAX_FILES = 10_000


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _excluded(path: str, rel: str, name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def discover(dirs: Iterable[str | os.PathLike], exclude: Iterable[str] = (), *, max_depth: int = MAX_DEPTH,
             max_files: int = MAX_FILES, stats: dict | None = None) -> list[Path]:
    patterns = list(exclude)
    found: list[Path] = []
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    st_out = {"symlinks_outside": 0, "too_deep": 0, "over_file_limit": 0}
    for top in dirs:
        top = os.path.abspath(os.fspath(top))
        if os.path.isfile(top):
            if os.path.basename(top) in BY_FILENAME:
                found.append(Path(top))
            continue
        root = os.path.realpath(top)
        stack = [(top, 0)]
        while stack:
            d, depth = stack.pop()
            try:
                st = os.stat(d)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen_dirs:
                continue  # symlink loop or a directory reached twice
            seen_dirs.add((st.st_dev, st.st_ino))
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                continue
            subdirs = []
            for e in entries:
                full = e.path
                if patterns and _excluded(full, os.path.relpath(full, top), e.name, patterns):
                    continue
                try:
                    if e.is_symlink() and not _inside(os.path.realpath(full), root):
                        st_out["symlinks_outside"] += 1
                        continue
                    if e.is_dir(follow_symlinks=True):
                        if e.name in SKIP_DIRS:
                            continue
                        if depth < max_depth:
                            subdirs.append((full, depth + 1))
                        else:
                            st_out["too_deep"] += 1
                    elif e.name in BY_FILENAME and e.is_file(follow_symlinks=True):
                        fst = e.stat(follow_symlinks=True)
                        if (fst.st_dev, fst.st_ino) not in seen_files:
                            if len(found) >= max_files:
                                st_out["over_file_limit"] += 1
                                continue
                            seen_files.add((fst.st_dev, fst.st_ino))
                            found.append(Path(full))
                except OSError:
                    continue
            stack.extend(reversed(subdirs))
    if any(st_out.values()):
        log.warning("lockfile discovery skipped entries", extra={**st_out, "max_depth": max_depth, "max_files": max_files})
    if stats is not None:
        stats.update(st_out)
    return found
