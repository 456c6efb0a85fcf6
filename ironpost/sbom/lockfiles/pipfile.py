"""Pipfile.lock: "default" and "develop" maps of name -> {version: "==x", hashes: [...]}; no graph."""

from __future__ import annotations

import os

from ironpost.sbom.lockfiles.common import LockfileError, check_count, expect_dict, load_json
from ironpost.sbom.lockfiles.pyproject import declared
from ironpost.sbom.model import Package, make_purl, normalize_pypi

FILENAMES = ("Pipfile.lock",)
ECOSYSTEM = "PyPI"


def parse(path: str | os.PathLike) -> list[Package]:
    doc = expect_dict(load_json(path), "the lockfile", path, 1)
    direct = declared(path)
    out: dict[str, Package] = {}
    for section in ("default", "develop"):
        entries = doc.get(section) or {}
        expect_dict(entries, f'"{section}"', path)
        check_count(len(out) + len(entries), path)
        for name, meta in entries.items():
            if not isinstance(meta, dict):
                raise LockfileError(f'{section}["{name}"] must be an object', path)
            ver = meta.get("version")
            if not isinstance(ver, str):
                continue  # path, git or file requirements: nothing a registry advisory can name
            if not ver.startswith("=="):
                raise LockfileError(f'{section}["{name}"]: expected a pinned "==x" version, found {ver!r}', path)
            ver = ver.lstrip("=")
            hashes = {}
            for h in meta.get("hashes") or ():
                if isinstance(h, str) and h.startswith("sha256:") and len(h) == 71:
                    hashes = {"SHA-256": h[7:]}
                    break
            purl = make_purl(ECOSYSTEM, name, ver)
            if purl in out:
                if section == "default":
                    out[purl].scope = "required"
                continue
            out[purl] = Package(name, ver, ECOSYSTEM, purl, hashes, lockfile=str(path),
                                direct=direct is None or normalize_pypi(name) in direct,
                                scope="required" if section == "default" else "optional")
    return list(out.values())
