"""Cargo.lock, format versions 1 to 4.

v1 writes dependencies as "name version (source)" and keeps checksums in a [metadata] table;
v2+ shortens a dependency to "name" (or "name version") when that is unambiguous and puts
`checksum` on each package. Packages without `source` are the workspace's own crates.
"""

from __future__ import annotations

import os

from ironpost.sbom.lockfiles.common import LockfileError, check_count, expect_str, line_finder, load_toml
from ironpost.sbom.model import Package, make_purl

FILENAMES = ("Cargo.lock",)
ECOSYSTEM = "crates.io"


def parse(path: str | os.PathLike) -> list[Package]:
    doc, text = load_toml(path)
    version = doc.get("version", 1)
    if not isinstance(version, int) or not 1 <= version <= 4:
        raise LockfileError(f"unsupported Cargo.lock version {version!r} (expected 1 to 4)", path, line_finder(text, r"^version\s*=")(0))
    entries = doc.get("package", [])
    if not isinstance(entries, list):
        raise LockfileError("expected [[package]] entries", path)
    if isinstance(doc.get("root"), dict):  # very old v1 files keep the root crate under [root]
        entries = [doc["root"], *entries]
    check_count(len(entries), path)
    pkg_line = line_finder(text, r"^\[\[package\]\]")
    metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}

    pkgs: list[Package] = []
    raw_deps: list[list[str]] = []
    by_name: dict[str, list[Package]] = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise LockfileError("expected a [[package]] table", path, pkg_line(i))
        name = expect_str(e.get("name"), "package name", path, pkg_line(i))
        ver = expect_str(e.get("version"), f"version of {name}", path, pkg_line(i))
        source = e.get("source")
        hashes = {}
        checksum = e.get("checksum") or metadata.get(f"checksum {name} {ver} ({source})")
        if isinstance(checksum, str) and len(checksum) == 64:
            hashes["SHA-256"] = checksum
        deps = e.get("dependencies", [])
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise LockfileError(f"dependencies of {name} must be a list of strings", path, pkg_line(i))
        p = Package(name, ver, ECOSYSTEM, make_purl(ECOSYSTEM, name, ver), hashes, lockfile=str(path), local=source is None)
        pkgs.append(p)
        raw_deps.append(deps)
        by_name.setdefault(name, []).append(p)

    for i, (p, deps) in enumerate(zip(pkgs, raw_deps)):
        for d in deps:
            target = _resolve(d, by_name)
            if target is None:
                raise LockfileError(f"{p.name} depends on {d!r}, which is not in the lockfile", path, pkg_line(i))
            p.dependencies.append(target.purl)
            if p.local and not target.local:
                target.direct = True
    for p in pkgs:
        if p.local:
            p.direct = True
    return pkgs


def _resolve(dep: str, by_name: dict[str, list[Package]]) -> Package | None:
    parts = dep.split(" ", 2)
    cands = by_name.get(parts[0], [])
    if len(parts) == 1:
        return cands[0] if len(cands) == 1 else None
    for c in cands:
        if c.version == parts[1]:
            return c
    return None
