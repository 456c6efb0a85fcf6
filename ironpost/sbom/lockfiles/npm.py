"""package-lock.json (lockfileVersion 1, 2, 3) and npm-shrinkwrap.json (same format).

v2/v3 list every installed folder under "packages", keyed by its path ("node_modules/a/node_modules/b");
a dependency resolves the way Node does: the nearest node_modules folder going up. v1 nests the same
tree under "dependencies". The root project ("" in v2/v3) is returned as a local package.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from ironpost.sbom.lockfiles.common import LockfileError, check_count, expect_dict, load_json, sri_to_hashes
from ironpost.sbom.model import Package, make_purl

FILENAMES = ("package-lock.json", "npm-shrinkwrap.json")
ECOSYSTEM = "npm"
NM = "node_modules/"
_DEP_KEYS = ("dependencies", "optionalDependencies", "peerDependencies")
_ROOT_DEP_KEYS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")


def parse(path: str | os.PathLike) -> list[Package]:
    doc = expect_dict(load_json(path), "the lockfile", path, 1)
    lv = doc.get("lockfileVersion", 1)
    if lv not in (1, 2, 3):
        raise LockfileError(f"unsupported lockfileVersion {lv!r} (expected 1, 2 or 3)", path)
    if lv >= 2 and isinstance(doc.get("packages"), dict):
        return _parse_packages(doc, path)
    return _parse_v1(doc, path)


class _Collector:
    """Deduplicates name@version across install paths (one component per purl, edges merged)."""

    def __init__(self, path):
        self.path = str(path)
        self.by_purl: dict[str, Package] = {}
        self.deps: dict[str, dict[str, None]] = {}

    def add(self, name: str, version: str, meta: dict, local: bool = False) -> Package:
        purl = make_purl(ECOSYSTEM, name, version or None)
        p = self.by_purl.get(purl)
        if p is None:
            scope = "optional" if (meta.get("dev") or meta.get("optional") or meta.get("devOptional")) else "required"
            p = Package(name, version, ECOSYSTEM, purl, sri_to_hashes(_s(meta.get("integrity"))), lockfile=self.path, local=local, scope=scope)
            self.by_purl[purl] = p
            self.deps[purl] = {}
            check_count(len(self.by_purl), self.path)
        elif not (meta.get("dev") or meta.get("optional") or meta.get("devOptional")):
            p.scope = "required"
        return p

    def edge(self, src: Package, dst: Package) -> None:
        if src.purl != dst.purl:
            self.deps[src.purl][dst.purl] = None

    def finish(self) -> list[Package]:
        for purl, p in self.by_purl.items():
            p.dependencies = list(self.deps[purl])
        return list(self.by_purl.values())


def _s(v) -> str:
    """Strings only: a lockfile with a number or list where a name belongs is treated as not saying."""
    return v if isinstance(v, str) else ""


def _name_from_key(key: str) -> str:
    i = key.rfind(NM)
    return key[i + len(NM):] if i >= 0 else key.rsplit("/", 1)[-1]


def _parse_packages(doc: dict, path) -> list[Package]:
    packages = doc["packages"]
    check_count(len(packages), path)
    col = _Collector(path)
    root_meta = packages.get("") if isinstance(packages.get(""), dict) else {}
    root_name = _s(root_meta.get("name")) or _s(doc.get("name")) or Path(path).resolve().parent.name
    root = col.add(root_name, _s(root_meta.get("version")) or _s(doc.get("version")), {}, local=True)
    root.direct = True
    nodes: dict[str, Package] = {"": root}
    links: dict[str, str] = {}
    for key, meta in packages.items():
        if key == "":
            continue
        if not isinstance(meta, dict):
            raise LockfileError(f'packages["{key}"] must be an object', path)
        if meta.get("link"):
            links[key] = _s(meta.get("resolved"))
            continue
        name = _s(meta.get("name")) or _name_from_key(key)
        if not name:
            raise LockfileError(f'packages["{key}"]: cannot tell the package name', path)
        version = meta.get("version")
        local = NM not in key  # a workspace folder inside the project
        if not isinstance(version, str) or not version:
            if local:
                version = ""
            else:
                continue  # extraneous folder npm could not describe; nothing to match
        nodes[key] = col.add(name, version, meta, local=local)

    def resolve(start: str, dep: str) -> Package | None:
        base = start
        while True:
            cand = f"{base}/{NM}{dep}" if base else f"{NM}{dep}"
            if cand in links:
                cand = links[cand]
            node = nodes.get(cand)
            if node is not None:
                return node
            if not base:
                return None
            i = base.rfind(NM)
            base = base[: i - 1] if i > 0 else ""

    for key, node in nodes.items():
        meta = packages.get(key) if key else root_meta
        if not isinstance(meta, dict):
            continue
        keys = _ROOT_DEP_KEYS if (key == "" or node.local) else _DEP_KEYS
        for k in keys:
            deps = meta.get(k)
            if not isinstance(deps, dict):
                continue
            for dep in deps:
                target = resolve(key, dep)
                if target is None:
                    continue  # optional or peer dependency that was not installed
                col.edge(node, target)
                if node.local and not target.local:
                    target.direct = True
    return col.finish()


def _parse_v1(doc: dict, path) -> list[Package]:
    col = _Collector(path)
    root = col.add(_s(doc.get("name")) or Path(path).resolve().parent.name, _s(doc.get("version")), {}, local=True)
    root.direct = True
    top = doc.get("dependencies") or {}
    expect_dict(top, '"dependencies"', path)
    required: set[str] = set()
    # (node, metadata, scope chain) — scope chain is the list of "dependencies" dicts visible from the node
    todo: list[tuple[Package, dict, list[dict]]] = []
    seen_nodes: dict[int, Package] = {}

    def visit(deps: dict, chain: list[dict], depth: int) -> None:
        if depth > 256:
            raise LockfileError("dependency tree nested deeper than 256 levels", path)
        for name, meta in deps.items():
            if not isinstance(meta, dict):
                raise LockfileError(f'dependency "{name}" must be an object', path)
            version = meta.get("version")
            if not isinstance(version, str) or not version:
                raise LockfileError(f'dependency "{name}" has no version', path)
            real_name = name
            if version.startswith("npm:"):  # alias: "npm:real-name@1.2.3"
                spec = version[4:]
                at = spec.rfind("@")
                if at > 0:
                    real_name, version = spec[:at], spec[at + 1:]
            node = col.add(real_name, version, meta)
            seen_nodes[id(meta)] = node
            inner = meta.get("dependencies")
            sub_chain = [inner, *chain] if isinstance(inner, dict) else chain
            todo.append((node, meta, sub_chain))
            if isinstance(inner, dict):
                visit(inner, sub_chain, depth + 1)

    visit(top, [top], 0)
    for node, meta, chain in todo:
        reqs = meta.get("requires")
        if not isinstance(reqs, dict):
            continue
        for dep in reqs:
            for scope in chain:
                target_meta = scope.get(dep)
                if isinstance(target_meta, dict):
                    col.edge(node, seen_nodes[id(target_meta)])
                    if scope is top:
                        required.add(dep)
                    break

    direct_names = _package_json_deps(path)
    for name, meta in top.items():
        node = seen_nodes[id(meta)]
        is_direct = name in direct_names if direct_names is not None else name not in required
        if is_direct:
            node.direct = True
            col.edge(root, node)
    return col.finish()


def _package_json_deps(lock_path) -> set[str] | None:
    """v1 lockfiles do not say which packages are direct; the package.json beside them does."""
    pj = Path(lock_path).with_name("package.json")
    try:
        doc = orjson.loads(pj.read_bytes()) if pj.stat().st_size < 1_000_000 else None
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    out: set[str] = set()
    for k in _ROOT_DEP_KEYS:
        if isinstance(doc.get(k), dict):
            out.update(doc[k])
    return out
