"""uv.lock (version 1): [[package]] with `source` (registry, git, editable, virtual, directory),
`dependencies` as [{name, version?}], and sdist/wheel hashes."""

from __future__ import annotations

import os

from ironpost.sbom.lockfiles.common import LockfileError, add_edge, check_count, line_finder, load_toml
from ironpost.sbom.model import Package, make_purl, normalize_pypi

FILENAMES = ("uv.lock",)
ECOSYSTEM = "PyPI"
_LOCAL_SOURCES = ("editable", "virtual", "directory", "path")
_DEP_KEYS = ("dependencies", "dev-dependencies", "optional-dependencies")


def _hash(entry: dict) -> dict[str, str]:
    sd = entry.get("sdist")
    cands = [sd] if isinstance(sd, dict) else []
    cands += [w for w in entry.get("wheels") or [] if isinstance(w, dict)]
    for c in cands:
        h = c.get("hash")
        if isinstance(h, str) and h.startswith("sha256:") and len(h) == 71:
            return {"SHA-256": h[7:]}
    return {}


def _dep_lists(entry: dict):
    for key in _DEP_KEYS:
        val = entry.get(key)
        if isinstance(val, list):
            yield from val
        elif isinstance(val, dict):  # optional-dependencies / dev-dependencies: group -> list
            for group in val.values():
                if isinstance(group, list):
                    yield from group


def parse(path: str | os.PathLike) -> list[Package]:
    doc, text = load_toml(path)
    version = doc.get("version")
    if version not in (1, None):
        raise LockfileError(f"unsupported uv.lock version {version!r} (expected 1)", path, line_finder(text, r"^version")(0))
    entries = doc.get("package", [])
    if not isinstance(entries, list):
        raise LockfileError("expected [[package]] entries", path)
    check_count(len(entries), path)
    pkg_line = line_finder(text, r"^[ \t]*\[\[[ \t]*package[ \t]*\]\]")
    pkgs: list[Package] = []
    by_name: dict[str, list[Package]] = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise LockfileError("expected a [[package]] with a name", path, pkg_line(i))
        src = e.get("source") if isinstance(e.get("source"), dict) else {}
        local = any(k in src for k in _LOCAL_SOURCES)
        ver = e.get("version") if isinstance(e.get("version"), str) else ""
        if not ver and not local:
            raise LockfileError(f"package {e['name']} has no version", path, pkg_line(i))
        p = Package(e["name"], ver, ECOSYSTEM, make_purl(ECOSYSTEM, e["name"], ver or None), _hash(e), lockfile=str(path), local=local)
        pkgs.append(p)
        by_name.setdefault(normalize_pypi(e["name"]), []).append(p)
    for i, (p, e) in enumerate(zip(pkgs, entries)):
        for dep in _dep_lists(e):
            if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
                raise LockfileError(f"dependencies of {p.name} must be tables with a name", path, pkg_line(i))
            cands = by_name.get(normalize_pypi(dep["name"]), [])
            if isinstance(dep.get("version"), str):
                cands = [c for c in cands if c.version == dep["version"]] or cands
            if not cands:
                raise LockfileError(f"{p.name} depends on {dep['name']!r}, which is not in the lockfile", path, pkg_line(i))
            add_edge(p, cands[0])
    for p in pkgs:
        if p.local:
            p.direct = True
    return pkgs
