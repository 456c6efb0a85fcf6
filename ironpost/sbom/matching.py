"""Match packages against the vulnerability database with the OSV evaluation algorithm.

For every (ecosystem, name) present the affected entries are fetched in one query, their ranges
are parsed once into comparable keys, and each distinct installed version is parsed once, so a
10,000-package lockfile costs one SQL join plus tuple comparisons.

OSV semantics (schema "Evaluation"): a version is affected if it equals an entry of `versions`, or
lies in a range: events sorted by version ("introduced: 0" first), walking them: introduced ≤ v →
affected, fixed ≤ v → not, last_affected < v → not; a range with `limit` events applies only to
versions below some limit ("*" is infinity). GIT ranges are skipped (counted); withdrawn records
are skipped (counted).

Workspace crates (Cargo.lock members without `source`) are the project's own code. When one has the
name of a published crate, an advisory for that crate is about the code being shipped, so it is
matched and its finding marked `workspace` (osv-scanner does the same); `include_workspace=False`
leaves them out (counted). Other local packages (npm/yarn workspaces, the root project) are never
matched: their names are not claims on a registry name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import orjson

from ironpost.sbom.model import Package
from ironpost.sbom.versions import key_function, semver_key
from ironpost.sbom.vulndb import VulnDB, package_key

_INF = object()


@dataclass(slots=True)
class Finding:
    advisory_id: str
    aliases: list[str]
    summary: str
    ecosystem: str
    package: str
    version: str
    severity: str
    score: float | None
    fixed: list[str]
    lockfile: str
    purl: str
    direct: bool
    informational: str | None = None
    workspace: bool = False  # a workspace crate of the scanned project, not a dependency fetched from crates.io

    @property
    def key(self) -> str:
        return f"{self.advisory_id}|{self.ecosystem}|{self.package}|{self.version}|{self.lockfile}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MatchStats:
    packages: int = 0
    distinct_packages: int = 0
    affected_entries: int = 0
    withdrawn_skipped: int = 0
    git_ranges_skipped: int = 0
    unparseable_versions: int = 0
    unparseable_ranges: int = 0
    workspace_crates_excluded: int = 0
    findings: int = 0


@dataclass(slots=True)
class _Compiled:
    advisory_id: str
    versions: set[str]
    version_keys: list[Any]
    ranges: list[tuple[list[tuple[str, Any]], list[Any]]]  # (sorted events, limits)
    fixed: list[str]
    git: int = 0
    ranges_bad: int = 0


@lru_cache(maxsize=131_072)  # keyed by the stored blob itself, so an updated record can never hit a stale entry
def _compile(ecosystem: str, advisory_id: str, blob: bytes) -> _Compiled:
    data = orjson.loads(blob)
    eco_key = key_function(ecosystem)
    fixed: list[str] = []
    ranges = []
    bad = 0
    for rtype, events in data["r"]:
        keyf = semver_key if rtype == "SEMVER" else eco_key if rtype == "ECOSYSTEM" else None
        if keyf is None:
            bad += 1  # an unknown range type cannot be ordered
            continue
        evs: list[tuple[str, Any]] = []
        limits: list[Any] = []
        ok = True
        for kind, ver in events:
            if kind == "fixed":
                fixed.append(ver)
            if kind == "introduced" and ver == "0":
                evs.append((kind, None))
                continue
            if kind == "limit" and "*" in ver:
                limits.append(_INF)
                continue
            k = keyf(ver)
            if k is None:
                ok = False
                break
            (limits if kind == "limit" else evs).append((kind, k) if kind != "limit" else k)
        if not ok:
            bad += 1
            continue
        evs.sort(key=lambda e: (0,) if e[1] is None else (1, e[1]))
        ranges.append((evs, limits))
    versions = set(data["v"])
    vkeys = [k for k in (eco_key(v) for v in versions) if k is not None]
    return _Compiled(advisory_id, versions, vkeys, ranges, fixed, data.get("g", 0), bad)


def _before_limits(v: Any, limits: list[Any]) -> bool:
    if not limits:
        return True
    return any(lim is _INF or v < lim for lim in limits)


def in_ranges(v: Any, ranges: list[tuple[list[tuple[str, Any]], list[Any]]]) -> bool:
    for events, limits in ranges:
        if not _before_limits(v, limits):
            continue
        vulnerable = False
        for kind, k in events:
            if kind == "introduced":
                if k is None or v >= k:
                    vulnerable = True
            elif kind == "fixed":
                if v >= k:
                    vulnerable = False
            elif kind == "last_affected":
                if v > k:
                    vulnerable = False
        if vulnerable:
            return True
    return False


def is_affected(version: str, vkey: Any, c: _Compiled) -> bool:
    if version in c.versions:
        return True
    if vkey is None:
        return False
    if c.version_keys and vkey in c.version_keys:
        return True
    return in_ranges(vkey, c.ranges)


# ecosystems whose lockfile members carry a registry name: a member named like a published package is it
WORKSPACE_ECOSYSTEMS = frozenset({"crates.io"})


class Matcher:
    def __init__(self, db: VulnDB, include_workspace: bool = True):
        self.db = db
        self.include_workspace = include_workspace

    def match(self, packages: Iterable[Package]) -> tuple[list[Finding], MatchStats]:
        stats = MatchStats()
        groups: dict[tuple[str, str], list[Package]] = {}
        for p in packages:
            stats.packages += 1
            if not p.version:
                continue
            if p.local:
                if p.ecosystem not in WORKSPACE_ECOSYSTEMS:
                    continue
                if not self.include_workspace:
                    stats.workspace_crates_excluded += 1
                    continue
            groups.setdefault(package_key(p.ecosystem, p.name), []).append(p)
        stats.distinct_packages = len(groups)
        rows = self.db.affected_for(groups.keys())
        hits: list[tuple[Package, _Compiled]] = []
        for key, entries in rows.items():
            eco = key[0]
            keyf = key_function(eco)
            compiled = []
            for rid, blob, withdrawn in entries:
                stats.affected_entries += 1
                if withdrawn:
                    stats.withdrawn_skipped += 1
                    continue
                c = _compile(eco, rid, blob)
                stats.git_ranges_skipped += c.git
                stats.unparseable_ranges += c.ranges_bad
                compiled.append(c)
            vcache: dict[str, Any] = {}
            for p in groups[key]:
                if p.version in vcache:
                    vkey = vcache[p.version]
                else:
                    vkey = vcache[p.version] = keyf(p.version)
                    if vkey is None:
                        stats.unparseable_versions += 1
                seen: set[str] = set()
                for c in compiled:
                    if c.advisory_id not in seen and is_affected(p.version, vkey, c):
                        seen.add(c.advisory_id)  # one finding per advisory even with several affected entries
                        hits.append((p, c))
        info = self.db.advisories(c.advisory_id for _, c in hits)
        findings = []
        for p, c in hits:
            a = info.get(c.advisory_id, {})
            findings.append(Finding(
                advisory_id=c.advisory_id, aliases=a.get("aliases", []), summary=a.get("summary", ""),
                ecosystem=p.ecosystem, package=p.name, version=p.version, severity=a.get("severity", "unknown"),
                score=a.get("score"), fixed=_fixed_list(c.fixed, p.ecosystem), lockfile=p.lockfile, purl=p.purl,
                direct=p.direct, informational=a.get("informational"), workspace=p.local,
            ))
        findings.sort(key=lambda f: (f.lockfile, f.ecosystem, f.package, f.version, f.advisory_id))
        stats.findings = len(findings)
        return findings, stats


def _fixed_list(fixed: list[str], ecosystem: str) -> list[str]:
    keyf = key_function(ecosystem)
    uniq = list(dict.fromkeys(fixed))
    try:
        return sorted(uniq, key=lambda v: (keyf(v) is None, keyf(v) or 0))
    except TypeError:
        return uniq
