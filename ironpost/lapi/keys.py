"""Bouncer API keys: made by `cli bouncers add NAME`, stored hashed in <data_dir>/bouncers.json.

A key is 32 random bytes (hex); only its SHA-256 is stored (a key this long needs no slow
hash), so the file grants nothing to whoever reads it. The daemon reads the file again when it
changes, so a key added or deleted works without a reload.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path

import orjson

from ironpost.core.errors import IronpostError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class LapiError(IronpostError):
    """The CrowdSec-compatible API: bad bouncer name, unreadable key file, listen failure."""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def bouncers_path(config) -> Path:
    return config.resolve_path("lapi", "bouncers_file", "bouncers.json")


class BouncerKeys:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._mtime: tuple[int, int] | None = None
        self.bouncers: dict[str, dict] = {}

    def load(self) -> "BouncerKeys":
        """Read the file if it changed since the last read (missing file: no bouncers)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self.bouncers, self._mtime = {}, None
            return self
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._mtime:
            return self
        try:
            data = orjson.loads(self.path.read_bytes())
            items = data.get("bouncers", []) if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ValueError("expected {\"bouncers\": [...]}")
            self.bouncers = {b["name"]: b for b in items if isinstance(b, dict) and isinstance(b.get("name"), str)
                             and isinstance(b.get("key_sha256"), str)}
        except (OSError, ValueError) as exc:
            raise LapiError(f"{self.path}: {exc}") from None
        self._mtime = stamp
        return self

    def check(self, key: str | None) -> str | None:
        """The name of the bouncer holding `key`, or None."""
        if not key or len(key) > 256:
            return None
        want = digest(key)
        found = None
        for name, b in self.bouncers.items():
            if hmac.compare_digest(b["key_sha256"], want):
                found = name
        return found

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps({"bouncers": list(self.bouncers.values())}, option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.path)
        self._mtime = None

    def add(self, name: str, key: str | None = None) -> str:
        """Register a bouncer; returns its key (shown once, never stored)."""
        if not NAME_RE.match(name):
            raise LapiError(f"{name!r}: a bouncer name is 1-64 letters, digits, '_', '.', '@' or '-'")
        self.load()
        if name in self.bouncers:
            raise LapiError(f"bouncer {name!r} exists; delete it first to make a new key")
        key = key or secrets.token_hex(32)
        self.bouncers[name] = {"name": name, "key_sha256": digest(key), "created_at": time.time()}
        self._save()
        return key

    def delete(self, name: str) -> bool:
        self.load()
        if self.bouncers.pop(name, None) is None:
            return False
        self._save()
        return True
