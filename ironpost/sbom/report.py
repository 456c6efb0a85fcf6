"""Scan results as JSON (for scripts), SARIF 2.1.0 (for code-scanning UIs) and a rich table (for people)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.table import Table

from ironpost.sbom.scan import ScanResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note", "unknown": "warning"}
# GitHub code scanning reads `security-severity` as a CVSS-like number; used when the record has no score.
_NOMINAL = {"critical": 9.5, "high": 8.0, "medium": 5.5, "low": 2.0, "info": 0.0, "unknown": 5.0}
WORKSPACE_LABEL = "workspace crate"
_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim", "unknown": "magenta"}


def to_json(res: ScanResult) -> dict[str, Any]:
    return {
        "summary": res.summary(),
        "findings": [
            {
                "advisory_id": f.advisory_id, "aliases": f.aliases, "summary": f.summary, "ecosystem": f.ecosystem,
                "package": f.package, "version": f.version, "purl": f.purl, "severity": f.severity, "score": f.score,
                "fixed_versions": f.fixed, "lockfile": f.lockfile, "direct": f.direct,
                "workspace": f.workspace,
            }
            for f in res.findings
        ],
        "errors": [{"file": e.file, "line": e.line, "message": e.reason} for e in res.errors],
    }


def _uri(path: str, base: str | None) -> str:
    if base:
        try:
            rel = os.path.relpath(path, base)
            if not rel.startswith(".."):
                return rel.replace(os.sep, "/")
        except ValueError:
            pass
    p = Path(path)
    return p.resolve().as_uri() if p.is_absolute() or p.exists() else path  # SARIF wants a URI, not a bare absolute path


def to_sarif(res: ScanResult, base: str | None = None, version: str = "0.1.0") -> dict[str, Any]:
    rules: dict[str, dict] = {}
    results = []
    for f in res.findings:
        if f.advisory_id not in rules:
            score = f.score if f.score is not None else _NOMINAL[f.severity]
            rules[f.advisory_id] = {
                "id": f.advisory_id,
                "name": f.advisory_id.replace("-", ""),
                "shortDescription": {"text": f.summary or f.advisory_id},
                "fullDescription": {"text": f.summary or f.advisory_id},
                "helpUri": f"https://osv.dev/vulnerability/{f.advisory_id}",
                "help": {"text": f"{f.advisory_id} ({', '.join(f.aliases) or 'no aliases'}): {f.summary}"},
                "properties": {"security-severity": f"{score:.1f}", "tags": ["security", "vulnerability", f.ecosystem], "aliases": f.aliases},
            }
        fix = f"; fixed in {', '.join(f.fixed)}" if f.fixed else "; no fixed version"
        mine = f" ({WORKSPACE_LABEL}: the scanned project's own code)" if f.workspace else ""
        results.append({
            "ruleId": f.advisory_id,
            "ruleIndex": list(rules).index(f.advisory_id),
            "level": _LEVEL[f.severity],
            "message": {"text": f"{f.package} {f.version} ({f.ecosystem}) is affected by {f.advisory_id} [{f.severity}]{fix}{mine}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(f.lockfile, base)}, "region": {"startLine": 1}}}],
            "partialFingerprints": {"ironpostFinding/v1": f"{f.advisory_id}:{f.ecosystem}:{f.package}:{f.version}"},
            "properties": {"severity": f.severity, "purl": f.purl, "fixedVersions": f.fixed, "workspace": f.workspace},
        })
    notifications = [
        {"level": "error", "message": {"text": str(e)}, "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(e.file, base)}, **({"region": {"startLine": e.line}} if e.line else {})}}]}
        for e in res.errors
    ]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "ironpost", "version": version, "informationUri": "https://github.com/ironpost/ironpost", "rules": list(rules.values())}},
        "results": results,
    }
    if notifications:
        run["invocations"] = [{"executionSuccessful": False, "toolExecutionNotifications": notifications}]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def table(res: ScanResult) -> Table:
    t = Table(title=f"{len(res.findings)} findings in {len(res.packages)} packages from {len(res.lockfiles)} lockfiles")
    for col in ("Severity", "Advisory", "Aliases", "Package", "Version", "Fixed in", "Lockfile"):
        t.add_column(col, overflow="fold")
    order = {"critical": 0, "high": 1, "medium": 2, "unknown": 3, "low": 4, "info": 5}
    for f in sorted(res.findings, key=lambda f: (order.get(f.severity, 9), f.package, f.advisory_id)):
        t.add_row(f"[{_STYLE[f.severity]}]{f.severity}[/]", f.advisory_id, ", ".join(f.aliases), f"{f.package} ({f.ecosystem}{', ' + WORKSPACE_LABEL if f.workspace else ''})",
                  f.version, ", ".join(f.fixed) or "-", f.lockfile)
    return t
