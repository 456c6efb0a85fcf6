"""Cargo.lock, format versions 1 to 4.

v1 writes dependencies as "name version (source)" and keeps checksums in a [metadata] table;
v2+ shortens a dependency to "name" (or "name version") when that is unambiguous and puts
`checksum` on each package. Packages without `source` are the workspace's own crates.

Cargo writes these files in one fixed layout, so `_read_canonical` reads that layout line by
line (about 8x faster than tomllib on a 10,000-package file) and gives up on anything else;
the file then goes through tomllib, which also produces the error messages for broken TOML.
"""

from __future__ import annotations

import os
import re

from ironpost.sbom.lockfiles.common import LockfileError, add_edge, check_count, line_finder, load_toml
from ironpost.sbom.model import Package, make_purl, read_text

FILENAMES = ("Cargo.lock",)
ECOSYSTEM = "crates.io"

_S = r'"([^"\\\n]+)"\n'
# One [[package]] block in the key order cargo writes: name, version, source, checksum, dependencies.
_BLOCK = re.compile(
    r"\[\[package\]\]\n"
    r"name = " + _S + r"version = " + _S + r"(?:source = " + _S + r")?(?:checksum = " + _S + r")?"
    r'(?:dependencies = \[\n((?: "[^"\\\n]+",\n)*)\]\n)?\n*'
)
_SAFE_PAIR = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9._-]+")  # needs no percent-encoding in a purl
_HEADER_LINE = re.compile(r"^(?:#.*|version = (\d+)|\s*)$")
_META_KV = re.compile(r'^"([^"\\]*)" = "([^"\\]*)"$')


class _NotCanonical(Exception):
    pass


def _read_canonical(text: str) -> tuple[dict, list[int]]:
    """The layout cargo writes -> (document, start offset of each [[package]]); packages are
    already-checked (name, version, source, checksum, dependencies) tuples."""
    doc: dict = {}
    first = text.find("[[package]]")
    head = text if first < 0 else text[:first]
    for line in head.split("\n"):
        m = _HEADER_LINE.match(line)
        if m is None:
            raise _NotCanonical
        if m.group(1):
            doc["version"] = int(m.group(1))
    packages: list[dict] = []
    starts: list[int] = []
    pos = len(text) if first < 0 else first
    match = _BLOCK.match
    while True:
        m = match(text, pos)
        if m is None:
            break
        name, version, source, checksum, deps = m.groups()
        packages.append((name, version, source, checksum, [d[2:-2] for d in deps.split("\n") if d] if deps else ()))
        starts.append(pos)
        pos = m.end()
    rest = text[pos:]
    if rest.strip():
        if not rest.startswith("[metadata]\n"):
            raise _NotCanonical  # [patch.unused], other key orders, CRLF: let tomllib handle them
        meta = doc["metadata"] = {}
        for line in rest.split("\n")[1:]:
            if not line or line[0] == "#":
                continue
            mm = _META_KV.match(line)
            if mm is None:
                raise _NotCanonical
            meta[mm.group(1)] = mm.group(2)
    if packages:
        doc["package"] = packages
    return doc, starts


def parse(path: str | os.PathLike) -> list[Package]:
    text = read_text(path)
    try:
        doc, starts = _read_canonical(text)
        pkg_line = lambda i: text.count("\n", 0, starts[i]) + 1 if 0 <= i < len(starts) else None  # noqa: E731
    except _NotCanonical:
        doc, text = load_toml(path)
        pkg_line = line_finder(text, r"^[ \t]*\[\[[ \t]*package[ \t]*\]\]")
    version = doc.get("version", 1)
    if not isinstance(version, int) or not 1 <= version <= 4:
        raise LockfileError(f"unsupported Cargo.lock version {version!r} (expected 1 to 4)", path, line_finder(text, r"^version[ \t]*=")(0))
    entries = doc.get("package", [])
    if not isinstance(entries, list):
        raise LockfileError("expected [[package]] entries", path)
    offset = 0
    if isinstance(doc.get("root"), dict):  # very old v1 files keep the root crate under [root]
        entries = [doc["root"], *entries]
        offset = 1
    check_count(len(entries), path)
    metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}

    rows = entries if entries and isinstance(entries[0], tuple) else _checked_rows(entries, path, pkg_line, offset)
    pkgs: list[Package] = []
    raw_deps: list = []
    by_name: dict[str, list[Package]] = {}
    lockfile = str(path)
    safe = _SAFE_PAIR.fullmatch
    for name, ver, source, checksum, deps in rows:
        if checksum is None and metadata:
            checksum = metadata.get(f"checksum {name} {ver} ({source})")
        purl = f"pkg:cargo/{name}@{ver}" if safe(f"{name}@{ver}") else make_purl(ECOSYSTEM, name, ver)
        # positional: this runs once per package and keyword passing costs a third of the loop
        p = Package(name, ver, ECOSYSTEM, purl, {"SHA-256": checksum} if checksum and len(checksum) == 64 else {},
                    False, [], lockfile, source is None, "required")
        pkgs.append(p)
        raw_deps.append(deps)
        if name in by_name:
            by_name[name].append(p)
        else:
            by_name[name] = [p]

    for i, (p, deps) in enumerate(zip(pkgs, raw_deps)):
        for d in deps:
            target = _resolve(d, by_name)
            if target is None:
                raise LockfileError(f"{p.name} depends on {d!r}, which is not in the lockfile", path, pkg_line(i - offset))
            add_edge(p, target)
    for p in pkgs:
        if p.local:
            p.direct = True
    return pkgs


def _checked_rows(entries: list, path, pkg_line, offset: int) -> list[tuple]:
    """tomllib's tables -> the reader's tuples, with every type checked."""
    rows = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise LockfileError("expected a [[package]] table", path, pkg_line(i - offset))
        name = e.get("name")
        ver = e.get("version")
        if not isinstance(name, str) or not name:
            raise LockfileError(f"expected a package name, found {name!r}", path, pkg_line(i - offset))
        if not isinstance(ver, str) or not ver:
            raise LockfileError(f"expected a version of {name}, found {ver!r}", path, pkg_line(i - offset))
        deps = e.get("dependencies", ())
        if not isinstance(deps, (list, tuple)) or not all(isinstance(d, str) for d in deps):
            raise LockfileError(f"dependencies of {name} must be a list of strings", path, pkg_line(i - offset))
        checksum = e.get("checksum")
        source = e.get("source")
        rows.append((name, ver, source if isinstance(source, str) else None, checksum if isinstance(checksum, str) else None, deps))
    return rows


def _resolve(dep: str, by_name: dict[str, list[Package]]) -> Package | None:
    parts = dep.split(" ", 2)
    cands = by_name.get(parts[0], [])
    if len(parts) == 1:
        return cands[0] if len(cands) == 1 else None
    for c in cands:
        if c.version == parts[1]:
            return c
    return None
