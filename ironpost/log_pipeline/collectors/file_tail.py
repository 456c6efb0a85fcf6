"""Tail files matched by globs, surviving rotation and restarts.

Files are tracked by identity (device, inode), not by name, so that:
- rename rotation (auth.log -> auth.log.1, new auth.log) keeps draining the old file for a short
  grace period (writers often log a few more lines before they reopen) and picks up the new one
  from its first byte;
- copytruncate (the file shrinks under us) restarts that file at offset 0, after reading what we
  had not read yet from the copy (a sibling file whose first bytes are the ones we fingerprinted),
  so lines written just before the truncation, or while we were stopped, are not lost;
- a file that appears while we run is read from its first byte.

Offsets are saved (atomic replace) in a JSON file in data_dir, and only for lines `emit` has
already returned for: after a crash some lines may be read again, but none is lost; after a
clean stop nothing is read twice. A partial last line is never committed, so it is read whole
after a restart. A CRC of the file's first bytes guards against a recycled inode.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import stat
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import orjson

from ironpost.core.framing import LineFramer
from ironpost.log_pipeline.collectors.base import DEFAULT_MAX_LINE, Emit, labelled

log = logging.getLogger("ironpost.log_pipeline.file_tail")

_HEAD = 256  # bytes fingerprinted to recognise a file again after a restart


@dataclass
class FileTailConfig:
    globs: list[str]
    offsets_path: Path
    max_line: int = DEFAULT_MAX_LINE
    poll_interval: float = 0.25
    start_at: str = "end"  # only for files already there on the very first run (no offsets file yet)
    read_chunk: int = 1 << 20
    chunks_per_turn: int = 16  # then yield, so one busy file cannot starve the others
    rotate_grace: float = 2.0  # keep draining a renamed-away file this long
    name: str = "file_tail"


def _head_crc(fh, length: int) -> int:
    return zlib.crc32(os.pread(fh.fileno(), length, 0)) if length else 0


class _Tailed:
    __slots__ = ("path", "fh", "key", "pos", "committed", "framer", "gone_since", "head_len", "head_crc")

    def __init__(self, path: str, fh, key: str, pos: int, max_line: int, skipping: bool = False):
        self.path = path
        self.fh = fh
        self.key = key
        self.pos = pos  # bytes read from the file
        self.committed = pos  # bytes whose lines emit() has returned for
        self.framer = LineFramer(max_line)
        self.framer._skipping = skipping  # resumed inside an over-long line: drop its rest
        self.gone_since: float | None = None
        self.head_len = 0  # how much of the file's start is fingerprinted in head_crc
        self.head_crc = 0


class FileTail:
    # waiting loses nothing (the unread rest stays in the file), so the log buffer makes us wait
    # rather than drop our lines
    lossless = True
    # our offsets are saved once emit returns: the pipeline runs the rules before returning
    saves_offsets = True
    # set by the pipeline: waits until the alerts of every line emitted so far are stored, so a
    # saved offset never passes a line whose alert a SIGKILL could still lose (240 lines in one run)
    stored: Callable[[], Awaitable[None]] | None = None

    def __init__(self, config: FileTailConfig):
        self.config = config
        self.name = config.name
        self._files: dict[str, _Tailed] = {}  # by "dev:ino"
        self._saved: dict[str, dict] = {}
        self._unreadable: set[str] = set()
        self._had_offsets = False
        self._dirty = False
        # (directory, head_len, head_crc, offset, key): unread rests of truncated files to find in their copies
        self._copies: list[tuple[str, int, int, int, str]] = []
        self._stats = dict.fromkeys(
            ("lines_total", "bytes_total", "cut_lines_total", "rotations_total", "truncations_total",
             "files_opened_total", "errors_total", "offset_saves_total", "copy_recoveries_total",
             "copy_recovered_lines_total"), 0)

    # --- the collector interface ---------------------------------------------------------
    async def run(self, emit: Emit) -> None:
        self._load_offsets()
        first = True
        try:
            while True:
                self._scan(first)
                first = False
                for t in list(self._files.values()):
                    self._check_truncated(t)  # before reading, so nothing of a rewritten file is read at the old offset
                while self._copies:
                    await self._read_copy(*self._copies.pop(0), emit)
                for t in list(self._files.values()):
                    await self._drain(t, emit)
                    if t.gone_since is not None and time.monotonic() - t.gone_since >= self.config.rotate_grace:
                        await self._close(t, emit)
                if self._dirty:
                    if self.stored is not None:
                        await self.stored()
                    self._save_offsets()
                await asyncio.sleep(self.config.poll_interval)
        finally:
            self._save_offsets()
            for t in self._files.values():
                t.fh.close()
            self._files.clear()

    def metrics(self) -> dict[str, float]:
        return labelled(self.name, {**self._stats, "files_watched": len(self._files)})

    # --- discovery and rotation ----------------------------------------------------------
    def _scan(self, first: bool) -> None:
        seen: dict[str, str] = {}
        for pattern in self.config.globs:
            for path in sorted(glob.glob(pattern)):
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                seen.setdefault(f"{st.st_dev}:{st.st_ino}", path)
        for key, path in seen.items():
            t = self._files.get(key)
            if t is not None:
                t.path = path  # a rotated file that the globs still match keeps being tailed
                t.gone_since = None
                continue
            self._open(key, path, first)
        for key, t in self._files.items():
            if key not in seen and t.gone_since is None:
                t.gone_since = time.monotonic()
                self._stats["rotations_total"] += 1
        if first:
            self._adopt_rotated_while_down(seen)
            self._saved.clear()

    def _open(self, key: str, path: str, first: bool) -> None:
        try:
            fh = open(path, "rb", buffering=0)
        except OSError as exc:
            if key not in self._unreadable:  # retried every poll; reported once
                self._unreadable.add(key)
                self._stats["errors_total"] += 1
                log.warning("cannot open file to tail", extra={"path": path, "error": str(exc)})
            return
        self._unreadable.discard(key)
        size = os.fstat(fh.fileno()).st_size
        rec = self._saved.get(key)
        skipping = False
        if rec is not None and rec["offset"] <= size and _head_crc(fh, rec["head_len"]) == rec["head"]:
            pos, skipping = rec["offset"], rec.get("skipping", False)
        elif rec is not None and rec.get("head_len"):
            # same inode, but shorter than our offset or other first bytes: truncated while we were stopped
            self._copies.append((os.path.dirname(path) or ".", rec["head_len"], rec["head"], rec["offset"], key))
            pos = 0
        elif rec is None and first and not self._had_offsets and self.config.start_at == "end":
            pos = size
            # start after the last complete line so a half-written one is read whole
            if size:
                tail = os.pread(fh.fileno(), min(size, self.config.max_line), max(0, size - self.config.max_line))
                nl = tail.rfind(b"\n")
                pos = size - (len(tail) - nl - 1) if nl >= 0 else size
        else:
            pos = 0
        fh.seek(pos)
        self._files[key] = _Tailed(path, fh, key, pos, self.config.max_line, skipping)
        self._stats["files_opened_total"] += 1
        self._dirty = True
        log.info("tailing file", extra={"path": path, "offset": pos})

    def _adopt_rotated_while_down(self, seen: dict[str, str]) -> None:
        """A file we were tailing was renamed while we were stopped: finish it from the saved offset."""
        for key, rec in self._saved.items():
            if key in seen or key in self._files:
                continue
            directory = os.path.dirname(rec["path"]) or "."
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if f"{st.st_dev}:{st.st_ino}" == key and entry.is_file(follow_symlinks=False):
                    self._open(key, entry.path, False)
                    t = self._files.get(key)
                    if t is not None:
                        t.gone_since = time.monotonic()
                    break

    def _check_truncated(self, t: _Tailed) -> None:
        try:
            size = os.fstat(t.fh.fileno()).st_size
            # copytruncate followed by fast writes can regrow the file past our offset before we
            # look: its first bytes then differ from the ones we read
            regrown = t.head_len and _head_crc(t.fh, t.head_len) != t.head_crc
        except OSError:
            return
        if size < t.pos or regrown:
            self._stats["truncations_total"] += 1
            log.info("file truncated, reading from the start", extra={"path": t.path})
            if t.head_len:
                self._copies.append((os.path.dirname(t.path) or ".", t.head_len, t.head_crc, t.committed, t.key))
            t.fh.seek(0)
            t.pos = t.committed = 0
            t.framer = LineFramer(self.config.max_line)
            t.head_len = t.head_crc = 0
            self._dirty = True
        elif t.head_len < _HEAD and t.committed > t.head_len:
            t.head_len = min(t.committed, _HEAD)
            t.head_crc = _head_crc(t.fh, t.head_len)

    async def _read_copy(self, directory: str, head_len: int, head_crc: int, offset: int, key: str, emit: Emit) -> None:
        """copytruncate: the lines after `offset` that we had not read went into the copy. Find it
        (a regular file beside the original, another inode, same first bytes, at least `offset`
        long; the newest if several) and emit its rest. None found: the truncation came first."""
        best = None
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or f"{st.st_dev}:{st.st_ino}" == key or st.st_size <= offset:
                continue
            if best is not None and st.st_mtime_ns <= best[0]:
                continue
            try:
                with open(entry.path, "rb", buffering=0) as fh:
                    if _head_crc(fh, head_len) == head_crc:
                        best = (st.st_mtime_ns, entry.path)
            except OSError:
                continue
        if best is None:
            return
        framer = LineFramer(self.config.max_line)
        with open(best[1], "rb", buffering=0) as fh:
            fh.seek(offset)
            while True:
                data = fh.read(self.config.read_chunk)
                if not data:
                    break
                out = framer.feed(data)
                if out:
                    await emit(out, best[1])
            rest = framer.flush()  # the copy will not grow: its last unterminated line is whole
            if rest:
                await emit(rest, best[1])
        lines = framer.lines  # flush() counted the unterminated last line
        self._stats["copy_recoveries_total"] += 1
        self._stats["copy_recovered_lines_total"] += lines
        self._stats["lines_total"] += lines
        log.info("read the unread rest of a truncated file from its copy", extra={"copy": best[1], "offset": offset, "lines": lines})

    async def _close(self, t: _Tailed, emit: Emit) -> None:
        rest = t.framer.flush()  # the file will not grow any more: its last unterminated line is whole
        if rest:
            await emit(rest, t.path)
            self._stats["lines_total"] += 1
        t.fh.close()
        del self._files[t.key]
        self._dirty = True

    # --- reading ---------------------------------------------------------------------------
    async def _drain(self, t: _Tailed, emit: Emit) -> None:
        for _ in range(self.config.chunks_per_turn):
            try:
                data = t.fh.read(self.config.read_chunk)
            except OSError as exc:
                self._stats["errors_total"] += 1
                log.warning("read failed", extra={"path": t.path, "error": str(exc)})
                return
            if not data:
                return
            t.pos += len(data)
            lines0, cut0 = t.framer.lines, t.framer.cut
            out = t.framer.feed(data)
            if out:
                await emit(out, t.path)
            # only now is it safe to remember: a crash before this line re-reads, never loses
            t.committed = t.pos - t.framer.pending
            self._stats["lines_total"] += t.framer.lines - lines0
            self._stats["cut_lines_total"] += t.framer.cut - cut0
            self._stats["bytes_total"] += len(data)
            self._dirty = True
        await asyncio.sleep(0)

    # --- offsets ---------------------------------------------------------------------------
    def _load_offsets(self) -> None:
        path = self.config.offsets_path
        try:
            raw = orjson.loads(path.read_bytes())
            self._saved = {k: v for k, v in raw.get("files", {}).items()
                           if isinstance(v, dict) and isinstance(v.get("offset"), int)}
            self._had_offsets = True
        except FileNotFoundError:
            self._saved, self._had_offsets = {}, False
        except (OSError, orjson.JSONDecodeError, AttributeError) as exc:
            # a damaged offsets file must not stop log collection; start over from the beginning
            self._stats["errors_total"] += 1
            log.error("offsets file unreadable, files are read from the start", extra={"path": str(path), "error": str(exc)})
            self._saved, self._had_offsets = {}, True

    def _save_offsets(self) -> None:
        files = {}
        for key, t in self._files.items():
            head_len = min(t.committed, _HEAD)
            try:
                head = _head_crc(t.fh, head_len)
            except (OSError, ValueError):
                continue
            files[key] = {"path": t.path, "offset": t.committed, "head_len": head_len, "head": head,
                          "skipping": bool(t.framer._skipping) and t.committed == t.pos}
        path = self.config.offsets_path
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "wb") as fh:
                fh.write(orjson.dumps({"version": 1, "files": files}))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            self._stats["offset_saves_total"] += 1
            self._dirty = False
        except OSError as exc:
            self._stats["errors_total"] += 1
            log.error("cannot save file offsets", extra={"path": str(path), "error": str(exc)})

    @property
    def offsets(self) -> dict[str, int]:
        """Committed offset per tailed path (for tests and `status`)."""
        return {t.path: t.committed for t in self._files.values()}
