"""Helpers the lockfile parsers share: decoding with positions, edge resolution, limits."""

from __future__ import annotations

import base64
import os
import re
import tomllib
from typing import Any

import orjson

from ironpost.sbom.model import LockfileError, Package, check_count, read_limited, read_text

_TOML_POS = re.compile(r"\(at line (\d+), column \d+\)")


def load_json(path: str | os.PathLike) -> Any:
    data = read_limited(path)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise LockfileError(f"invalid JSON: {exc.msg} (column {exc.colno})", path, exc.lineno) from None


def load_toml(path: str | os.PathLike) -> tuple[dict, str]:
    text = read_text(path)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_POS.search(str(exc))
        msg = _TOML_POS.sub("", str(exc)).strip()
        raise LockfileError(f"invalid TOML: {msg}", path, int(m.group(1)) if m else None) from None


def expect_dict(value: Any, what: str, path, line: int | None = None) -> dict:
    if not isinstance(value, dict):
        raise LockfileError(f"expected {what} to be a table/object, found {type(value).__name__}", path, line)
    return value


def expect_str(value: Any, what: str, path, line: int | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise LockfileError(f"expected {what} to be a non-empty string, found {value!r}", path, line)
    return value


def sri_to_hashes(integrity: str | None) -> dict[str, str]:
    """npm/yarn Subresource Integrity ("sha512-<base64>") to CycloneDX algorithm -> hex."""
    out: dict[str, str] = {}
    if not isinstance(integrity, str):
        return out
    for part in integrity.split():
        alg, _, b64 = part.partition("-")
        name = {"sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}.get(alg)
        if not name:
            continue
        try:
            out[name] = base64.b64decode(b64, validate=True).hex()
        except ValueError:
            continue  # a hash we cannot decode is dropped, not fatal: the version is what matters
    return out


def add_edge(src: Package, dst: Package) -> None:
    """src depends on dst (once). What a local project package depends on is a direct dependency."""
    if dst is src or dst.purl in src.dependencies:
        return
    src.dependencies.append(dst.purl)
    if src.local and not dst.local:
        dst.direct = True


def line_finder(text: str, pattern: str):
    """Return a function n -> line number of the n-th (0-based) line matching `pattern`, for error messages."""
    lines: list[int] | None = None
    rx = re.compile(pattern, re.M)

    def find(n: int) -> int | None:
        nonlocal lines
        if lines is None:
            lines, line, pos = [], 1, 0
            for m in rx.finditer(text):
                line += text.count("\n", pos, m.start())
                pos = m.start()
                lines.append(line)
        return lines[n] if 0 <= n < len(lines) else None

    return find


__all__ = ["LockfileError", "add_edge", "check_count", "expect_dict", "expect_str", "line_finder", "load_json", "load_toml", "sri_to_hashes"]
