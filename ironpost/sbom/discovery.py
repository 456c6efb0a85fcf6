"""Find lockfiles under the scan directories.

Walks with os.scandir, never descends into vendored trees (node_modules, target, .git, .venv),
follows directory symlinks only once per real directory (so a link back up the tree cannot loop),
and drops anything an exclude glob matches (against the full path, the path relative to the scan
directory, or the base name: "vendor/*", "*/fixtures/*" and "*.bak" all work).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from pathlib import Path

from ironpost.sbom.lockfiles import BY_FILENAME

SKIP_DIRS = frozenset({"node_modules", "target", ".git", ".venv", "__pycache__"})
MAX_DEPTH = 64


def _excluded(path: str, rel: str, name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def discover(dirs: Iterable[str | os.PathLike], exclude: Iterable[str] = ()) -> list[Path]:
    patterns = list(exclude)
    found: list[Path] = []
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    for top in dirs:
        top = os.path.abspath(os.fspath(top))
        if os.path.isfile(top):
            if os.path.basename(top) in BY_FILENAME:
                found.append(Path(top))
            continue
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
                    if e.is_dir(follow_symlinks=True):
                        if e.name not in SKIP_DIRS and depth < MAX_DEPTH:
                            subdirs.append((full, depth + 1))
                    elif e.name in BY_FILENAME and e.is_file(follow_symlinks=True):
                        fst = e.stat(follow_symlinks=True)
                        if (fst.st_dev, fst.st_ino) not in seen_files:
                            seen_files.add((fst.st_dev, fst.st_ino))
                            found.append(Path(full))
                except OSError:
                    continue
            stack.extend(reversed(subdirs))
    return found
