"""Read a file or an http(s) URL, bounded in size and time (lists and the CrowdSec stream)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from ironpost.core.errors import IronpostError

MAX_BYTES = 256 << 20


class FeedError(IronpostError):
    """A decision feed could not be read or parsed."""


def fetch(where: str, *, headers: dict[str, str] | None = None, timeout: float = 10.0, limit: int = MAX_BYTES) -> bytes:
    if "://" not in where or where.startswith("file://"):
        path = Path(where[len("file://"):] if where.startswith("file://") else where)
        try:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
        except OSError as exc:
            raise FeedError(f"{path}: {exc.strerror or exc}") from None
    else:
        if not where.startswith(("http://", "https://")):
            raise FeedError(f"{where}: only files, http:// and https:// URLs can be read")
        req = urllib.request.Request(where, headers={"User-Agent": "ironpost", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (scheme checked above)
                data = resp.read(limit + 1)
        except urllib.error.HTTPError as exc:
            raise FeedError(f"{where}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FeedError(f"{where}: {getattr(exc, 'reason', exc)}") from None
    if len(data) > limit:
        raise FeedError(f"{where}: larger than {limit} bytes")
    return data
