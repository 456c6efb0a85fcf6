"""One scan: discover lockfiles, parse each (a broken one is reported, the rest still scanned), match."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ironpost.core.errors import SbomError
from ironpost.sbom.discovery import discover
from ironpost.sbom.lockfiles import parse_file
from ironpost.sbom.matching import Finding, Matcher, MatchStats
from ironpost.sbom.model import LockfileError, Package
from ironpost.sbom.severity import at_least
from ironpost.sbom.vulndb import VulnDB

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class ScanResult:
    lockfiles: list[str] = field(default_factory=list)
    packages: list[Package] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[LockfileError] = field(default_factory=list)
    stats: MatchStats = field(default_factory=MatchStats)
    filtered_out: int = 0
    seconds: float = 0.0

    def summary(self) -> dict:
        by_sev: dict[str, int] = {}
        for f in self.findings:
            by_sev[f.severity] = by_sev.get(f.severity, 0) + 1
        return {
            "lockfiles": len(self.lockfiles),
            "packages": len(self.packages),
            "findings": len(self.findings),
            "by_severity": by_sev,
            "filtered_out": self.filtered_out,
            "errors": [str(e) for e in self.errors],
            "withdrawn_skipped": self.stats.withdrawn_skipped,
            "git_ranges_skipped": self.stats.git_ranges_skipped,
            "workspace_crates_excluded": self.stats.workspace_crates_excluded,
            "seconds": round(self.seconds, 3),
        }


def collect(dirs: Iterable[str | os.PathLike], exclude: Iterable[str] = (), progress: Progress | None = None) -> ScanResult:
    """Discover and parse lockfiles; no database needed (SBOM generation uses this alone)."""
    t0 = time.perf_counter()
    res = ScanResult()
    files = discover(dirs, exclude)
    for i, f in enumerate(files):
        if progress:
            progress(str(f), i, len(files))
        try:
            pkgs = parse_file(f)
        except LockfileError as exc:
            res.errors.append(exc)
            continue
        except (RecursionError, MemoryError, ValueError, TypeError, KeyError, AttributeError) as exc:
            # a parser bug on hostile input must not stop the scan: report it against the file
            res.errors.append(LockfileError(f"could not parse: {type(exc).__name__}: {exc}", f))
            continue
        res.lockfiles.append(str(f))
        res.packages.extend(pkgs)
    if progress:
        progress("", len(files), len(files))
    res.seconds = time.perf_counter() - t0
    return res


def keep(f: Finding, min_severity: str, show_unknown: bool = True) -> bool:
    """Unscored advisories are still vulnerabilities: shown whatever min_severity says, unless show_unknown is off."""
    if f.severity == "unknown":
        return show_unknown or min_severity == "unknown"
    return at_least(f.severity, min_severity)


def scan(dirs: Iterable[str | os.PathLike], db_path: str | os.PathLike, *, exclude: Iterable[str] = (),
         min_severity: str = "unknown", show_unknown: bool = True, include_workspace: bool = True,
         progress: Progress | None = None) -> ScanResult:
    """include_workspace: match workspace crates named like a published crate (see matching)."""
    t0 = time.perf_counter()
    if not Path(db_path).exists():
        raise SbomError(f"no vulnerability database at {db_path}: run `ironpost cli db import PATH` first")
    res = collect(dirs, exclude, progress)
    try:
        with VulnDB(db_path) as db:
            findings, res.stats = Matcher(db, include_workspace).match(res.packages)
    except sqlite3.Error as exc:
        raise SbomError(f"vulnerability database {db_path} unreadable: {exc}; re-import it with `ironpost cli db import PATH`") from None
    res.findings = [f for f in findings if keep(f, min_severity, show_unknown)]
    res.filtered_out = len(findings) - len(res.findings)
    res.seconds = time.perf_counter() - t0
    return res
