"""yarn.lock: classic (v1, yarn's own indented format) and berry (v2+, YAML with __metadata).

Both key an entry by every "name@range" that resolved to it, which is how dependencies are
resolved to entries. Classic keeps npm's integrity (kept as hashes); berry's checksum is a hash
of yarn's own cache archive, not of the published tarball, so it is not reported.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from ironpost.sbom.lockfiles.common import LockfileError, add_edge, check_count, sri_to_hashes
from ironpost.sbom.lockfiles.npm import _package_json_deps
from ironpost.sbom.model import Package, make_purl, read_text

FILENAMES = ("yarn.lock",)
ECOSYSTEM = "npm"
_DEP_SECTIONS = ("dependencies", "optionalDependencies")
try:
    _LOADER = yaml.CSafeLoader
except AttributeError:
    _LOADER = yaml.SafeLoader


def _split_spec(spec: str) -> tuple[str, str]:
    """'@scope/name@^1.0' -> ('@scope/name', '^1.0')."""
    at = spec.find("@", 1)
    return (spec, "") if at < 0 else (spec[:at], spec[at + 1:])


def _unquote(s: str) -> str:
    s = s.strip()
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] == '"' else s


def _parse_classic(text: str, path) -> list[tuple[list[str], dict, int]]:
    entries: list[tuple[list[str], dict, int]] = []
    cur: dict | None = None
    section: dict | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0:
            if not line.endswith(":"):
                raise LockfileError(f"expected an entry header ending in ':', found {line[:60]!r}", path, n)
            cur = {}
            section = None
            entries.append(([_unquote(s) for s in line[:-1].split(",")], cur, n))
        elif cur is None:
            raise LockfileError("indented line before any entry", path, n)
        elif indent == 2:
            if line.endswith(":"):
                section = cur.setdefault(line[:-1], {})
                continue
            section = None
            key, _, value = line.partition(" ")
            if not value:
                raise LockfileError(f"expected 'key value', found {line[:60]!r}", path, n)
            cur[_unquote(key)] = _unquote(value)
        elif indent == 4 and section is not None:
            key, _, value = line.partition(" ")
            section[_unquote(key)] = _unquote(value)
        else:
            raise LockfileError(f"unexpected indentation ({indent} spaces)", path, n)
    return entries


def _parse_berry(text: str, path) -> list[tuple[list[str], dict, int]]:
    try:
        doc = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise LockfileError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", path, mark.line + 1 if mark else None) from None
    if not isinstance(doc, dict):
        raise LockfileError("expected a mapping of entries", path, 1)
    out = []
    for key, meta in doc.items():
        if key == "__metadata":
            continue
        if not isinstance(meta, dict):
            raise LockfileError(f"entry {str(key)[:60]!r} must be a mapping", path)
        out.append(([s.strip() for s in str(key).split(",")], meta, 0))
    return out


def parse(path: str | os.PathLike) -> list[Package]:
    text = read_text(path)
    berry = "__metadata:" in text
    entries = _parse_berry(text, path) if berry else _parse_classic(text, path)
    check_count(len(entries), path)
    spec_map: dict[str, Package] = {}
    by_purl: dict[str, Package] = {}
    deps_of: list[tuple[Package, dict, str]] = []
    for specs, meta, line in entries:
        version = meta.get("version")
        if version is None or version == "":
            raise LockfileError(f"entry {specs[0]!r} has no version", path, line or None)
        version = str(version)
        resolution = str(meta.get("resolution") or "")
        local = "@workspace:" in resolution or version == "0.0.0-use.local"
        name, rng = _split_spec(resolution if berry and resolution else specs[0])
        if not berry and rng.startswith("npm:"):  # alias "x@npm:real@^1": the real package
            name = _split_spec(rng[4:])[0]
        if berry and name.startswith("npm:"):
            name = name[4:]
        purl = make_purl(ECOSYSTEM, name, None if local and version.endswith("use.local") else version)
        p = by_purl.get(purl)
        if p is None:
            p = by_purl[purl] = Package(name, version if not local else version.replace("0.0.0-use.local", ""), ECOSYSTEM, purl,
                                        {} if berry else sri_to_hashes(meta.get("integrity")), lockfile=str(path), local=local, direct=local)
            check_count(len(by_purl), path)
        for s in specs:
            spec_map[s] = p
        deps: dict = {}
        for sec in _DEP_SECTIONS:
            if isinstance(meta.get(sec), dict):
                deps.update(meta[sec])
        deps_of.append((p, deps, specs[0]))
    for p, deps, spec in deps_of:
        for dname, rng in deps.items():
            rng = str(rng)
            key = f"{dname}@{rng}" if not berry or ":" in rng else f"{dname}@npm:{rng}"
            target = spec_map.get(key)
            if target is None:
                continue  # optional dependency not installed on the platform that locked
            add_edge(p, target)
    pkgs = list(by_purl.values())
    if not any(p.local for p in pkgs):
        wanted = _package_json_deps(path)
        if wanted is not None:
            by_name: dict[str, Package] = {}
            for spec, p in spec_map.items():  # keyed by the name package.json uses, so aliases resolve
                by_name.setdefault(_split_spec(spec)[0], p)
            root_name = Path(path).resolve().parent.name
            root = Package(root_name, "", ECOSYSTEM, make_purl(ECOSYSTEM, root_name, None), lockfile=str(path), local=True, direct=True)
            for dname in sorted(wanted):
                p = by_name.get(dname)
                if p is not None:  # with several versions locked, the first entry stands for the direct one
                    add_edge(root, p)
            pkgs.insert(0, root)
    return pkgs
