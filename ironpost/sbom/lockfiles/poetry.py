"""poetry.lock (lock-version 1.x and 2.x).

Each [[package]] has name, version, its dependencies as a table (name -> constraint) and the
hashes of its files (`files` in 2.x, [metadata.files] in 1.x). The sdist hash is kept when there
is one, since it identifies the release rather than one platform's wheel.
"""

from __future__ import annotations

import os

from ironpost.sbom.lockfiles.common import LockfileError, check_count, line_finder, load_toml
from ironpost.sbom.lockfiles.pyproject import declared
from ironpost.sbom.model import Package, make_purl, normalize_pypi

FILENAMES = ("poetry.lock",)
ECOSYSTEM = "PyPI"


def file_hashes(files) -> dict[str, str]:
    if not isinstance(files, list):
        return {}
    chosen = None
    for f in files:
        if isinstance(f, dict) and isinstance(f.get("hash"), str) and f["hash"].startswith("sha256:"):
            if chosen is None or str(f.get("file", "")).endswith((".tar.gz", ".zip")):
                chosen = f["hash"][7:]
    return {"SHA-256": chosen} if chosen and len(chosen) == 64 else {}


def parse(path: str | os.PathLike) -> list[Package]:
    doc, text = load_toml(path)
    entries = doc.get("package", [])
    if not isinstance(entries, list):
        raise LockfileError("expected [[package]] entries", path)
    check_count(len(entries), path)
    pkg_line = line_finder(text, r"^[ \t]*\[\[[ \t]*package[ \t]*\]\]")
    meta_files = ((doc.get("metadata") or {}).get("files") or {}) if isinstance(doc.get("metadata"), dict) else {}
    direct = declared(path)
    pkgs: list[Package] = []
    by_name: dict[str, Package] = {}
    raw: list[dict] = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not isinstance(e.get("version"), str):
            raise LockfileError("expected a [[package]] with name and version strings", path, pkg_line(i))
        name, ver = e["name"], e["version"]
        src = e.get("source") if isinstance(e.get("source"), dict) else {}
        local = src.get("type") in ("directory", "file") and bool(src.get("url"))
        hashes = file_hashes(e.get("files")) or file_hashes(meta_files.get(name))
        p = Package(name, ver, ECOSYSTEM, make_purl(ECOSYSTEM, name, ver), hashes, lockfile=str(path), local=local,
                    scope="optional" if e.get("category") == "dev" or e.get("optional") is True else "required")
        pkgs.append(p)
        by_name[normalize_pypi(name)] = p
        raw.append(e.get("dependencies") if isinstance(e.get("dependencies"), dict) else {})
    required: set[str] = set()
    for p, deps in zip(pkgs, raw):
        for dep in deps:
            target = by_name.get(normalize_pypi(dep))
            if target is not None:  # extras-only or platform-excluded dependencies are not locked
                p.dependencies.append(target.purl)
                required.add(normalize_pypi(dep))
    for p in pkgs:
        key = normalize_pypi(p.name)
        p.direct = key in direct if direct is not None else key not in required
    return pkgs
