"""Pinned requirements files (pip freeze, pip-compile): `name[extras]==version ; markers --hash=...`.

Only exact pins (== or ===) describe what is installed; ranges are skipped, since they name no
version to match. pip-compile's "# via" comments give the graph: a package "via -r file" is
direct, one via other packages is their dependency. Options (-r, -c, -e, --index-url) are skipped.
"""

from __future__ import annotations

import os
import re

from ironpost.sbom.lockfiles.common import LockfileError, check_count
from ironpost.sbom.model import Package, make_purl, normalize_pypi, read_text

FILENAMES = ("requirements.txt", "requirements-dev.txt", "requirements-test.txt", "dev-requirements.txt", "requirements.lock")
ECOSYSTEM = "PyPI"

_REQ = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*"
    r"(?P<op>===|==|~=|!=|<=|>=|<|>)?\s*(?P<ver>[^\s;,#\\]*)(?P<rest>.*)$"
)
_HASH = re.compile(r"--hash[=\s]sha256:([0-9a-fA-F]{64})")


def _logical_lines(text: str):
    """Join backslash continuations; yield (first physical line number, text, comment after #)."""
    buf, start = [], 0
    for n, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = n
        if raw.rstrip().endswith("\\"):
            buf.append(raw.rstrip()[:-1])
            continue
        buf.append(raw)
        yield start, " ".join(buf)
        buf = []
    if buf:
        yield start, " ".join(buf)


def parse(path: str | os.PathLike) -> list[Package]:
    text = read_text(path)
    pkgs: dict[str, Package] = {}
    via: dict[str, list[str]] = {}
    last: str | None = None
    in_via = False
    for n, line in _logical_lines(text):
        stripped = line.strip()
        if stripped.startswith("#"):
            comment = stripped.lstrip("#").strip()
            if last and comment.startswith("via"):
                rest = comment[3:].strip()
                in_via = not rest
                if rest:
                    via[last].append(rest)
            elif last and in_via and comment:
                via[last].append(comment)
            else:
                in_via = False
            continue
        in_via = False
        body = line.split(" #", 1)[0].strip()
        if not body or body.startswith("-") or "://" in body or body.startswith((".", "/")):
            last = None
            continue
        m = _REQ.match(body)
        if m is None:
            raise LockfileError(f"not a requirement: {body[:80]!r}", path, n)
        op, ver = m.group("op"), m.group("ver")
        if op in ("==", "===") and not ver:
            raise LockfileError(f"{m.group('name')}: '{op}' without a version", path, n)
        if op not in ("==", "===") or "*" in ver:
            last = None
            continue  # a range or wildcard names no installed version
        name = m.group("name")
        hashes = {}
        hm = _HASH.search(m.group("rest"))
        if hm:
            hashes["SHA-256"] = hm.group(1).lower()
        purl = make_purl(ECOSYSTEM, name, ver)
        if purl not in pkgs:
            pkgs[purl] = Package(name, ver, ECOSYSTEM, purl, hashes, lockfile=str(path))
            check_count(len(pkgs), path)
        last = purl
        via.setdefault(purl, [])
    by_name = {normalize_pypi(p.name): p for p in pkgs.values()}
    for purl, parents in via.items():
        child = pkgs[purl]
        if not parents or any(v.startswith(("-r", "-c")) for v in parents):
            child.direct = True
        for parent_name in parents:
            parent = by_name.get(normalize_pypi(parent_name.split()[0]))
            if parent is not None and purl not in parent.dependencies:
                parent.dependencies.append(purl)
    return list(pkgs.values())
