"""pnpm-lock.yaml, lockfileVersion 5.x, 6.x and 9.x.

Package keys changed across versions: "/name/1.0.0_peer" (5), "/name@1.0.0(peer)" (6),
"name@1.0.0" with the graph moved to "snapshots" (9). Importers (the workspace projects) list
their direct dependencies; a reference is a version (resolved under the dependency's name), a
full key (aliases), or "link:" (another workspace project).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from ironpost.sbom.lockfiles.common import LockfileError, add_edge, check_count, expect_dict, sri_to_hashes
from ironpost.sbom.model import Package, make_purl, read_text

FILENAMES = ("pnpm-lock.yaml",)
ECOSYSTEM = "npm"
_DEP_KEYS = ("dependencies", "optionalDependencies")
_IMPORTER_KEYS = ("dependencies", "devDependencies", "optionalDependencies")
try:
    _LOADER = yaml.CSafeLoader
except AttributeError:
    _LOADER = yaml.SafeLoader


def _strip_peers(key: str, major: int) -> str:
    if major >= 6:
        i = key.find("(")
        return key if i < 0 else key[:i]
    i = key.find("_", key.rfind("/") + 1)
    return key if i < 0 else key[:i]


def _split_key(key: str, major: int) -> tuple[str, str]:
    k = _strip_peers(key.lstrip("/"), major)
    if major >= 6:
        at = k.rfind("@")
        if at <= 0:
            raise ValueError(key)
        return k[:at], k[at + 1:]
    name, _, version = k.rpartition("/")
    if not name:
        raise ValueError(key)
    return name, version


def parse(path: str | os.PathLike) -> list[Package]:
    text = read_text(path)
    try:
        doc = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise LockfileError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", path, mark.line + 1 if mark else None) from None
    expect_dict(doc, "the lockfile", path, 1)
    try:
        major = int(float(str(doc.get("lockfileVersion", "5")).split(".")[0]))
    except ValueError:
        raise LockfileError(f"unreadable lockfileVersion {doc.get('lockfileVersion')!r}", path) from None
    if major not in (5, 6, 7, 8, 9):
        raise LockfileError(f"unsupported lockfileVersion {doc.get('lockfileVersion')!r} (expected 5, 6 or 9)", path)
    packages = doc.get("packages") or {}
    expect_dict(packages, '"packages"', path)
    graph = doc.get("snapshots") if major >= 9 else packages
    graph = graph or {}
    expect_dict(graph, '"snapshots"', path)
    check_count(len(graph) + len(packages), path)

    nodes: dict[str, Package] = {}  # full key (with peers) -> package
    by_purl: dict[str, Package] = {}
    for key, meta in list(packages.items()) + ([(k, None) for k in graph] if major >= 9 else []):
        if key in nodes:
            continue
        try:
            name, version = _split_key(str(key), major)
        except ValueError:
            raise LockfileError(f"cannot read package key {str(key)[:80]!r}", path) from None
        if major >= 9 and meta is None:
            meta = packages.get(f"{name}@{version}") or {}
        meta = meta if isinstance(meta, dict) else {}
        name = meta.get("name") or name
        version = str(meta.get("version") or version)
        purl = make_purl(ECOSYSTEM, name, version)
        p = by_purl.get(purl)
        if p is None:
            res = meta.get("resolution") if isinstance(meta.get("resolution"), dict) else {}
            p = by_purl[purl] = Package(name, version, ECOSYSTEM, purl, sri_to_hashes(res.get("integrity")),
                                        lockfile=str(path), scope="optional" if meta.get("dev") else "required")
        nodes[str(key)] = p

    def resolve(dep: str, ref) -> Package | None:
        ref = str(ref.get("version") if isinstance(ref, dict) else ref)
        if ref.startswith(("link:", "file:", "workspace:")):
            return None
        if major >= 9:
            return nodes.get(f"{dep}@{ref}") or nodes.get(ref)
        if ref.startswith("/"):
            return nodes.get(ref)
        return nodes.get(f"/{dep}/{ref}" if major == 5 else f"/{dep}@{ref}")

    for key, meta in graph.items():
        if not isinstance(meta, dict):
            continue
        src = nodes[str(key)]
        for k in _DEP_KEYS:
            deps = meta.get(k)
            for dep, ref in (deps.items() if isinstance(deps, dict) else ()):
                target = resolve(dep, ref)
                if target is not None:
                    add_edge(src, target)

    importers = doc.get("importers")
    if not isinstance(importers, dict):
        importers = {".": {k: doc.get(k) for k in _IMPORTER_KEYS if isinstance(doc.get(k), dict)}}
    out = list(by_purl.values())
    for ipath, imp in importers.items():
        if not isinstance(imp, dict):
            continue
        folder = (Path(path).parent / str(ipath)).resolve()
        name = folder.name if str(ipath) != "." else Path(path).resolve().parent.name
        root = Package(name, "", ECOSYSTEM, make_purl(ECOSYSTEM, name, None), lockfile=str(path), local=True, direct=True)
        for k in _IMPORTER_KEYS:
            deps = imp.get(k)
            for dep, ref in (deps.items() if isinstance(deps, dict) else ()):
                target = resolve(dep, ref)
                if target is not None:
                    add_edge(root, target)
        out.insert(0, root)
    return out
