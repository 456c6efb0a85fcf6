"""Severity of an OSV record: CVSS v4 or v3 vector first, then the database's own label.

RustSec informational advisories (unmaintained, unsound, notice) are `info` whatever else they say,
since they describe a risk rather than an exploitable flaw. A record with nothing to go on is `unknown`.
"""

from __future__ import annotations

from typing import Any

LEVELS = ("unknown", "info", "low", "medium", "high", "critical")
RANK = {name: i for i, name in enumerate(LEVELS)}
_LABELS = {"none": "info", "informational": "info", "low": "low", "moderate": "medium", "medium": "medium",
           "important": "high", "high": "high", "critical": "critical"}


def at_least(severity: str, threshold: str) -> bool:
    return RANK.get(severity, 0) >= RANK.get(threshold, 0)


def from_score(score: float) -> str:
    if score <= 0.0:
        return "info"
    if score < 4.0:
        return "low"
    if score < 7.0:
        return "medium"
    if score < 9.0:
        return "high"
    return "critical"


def _cvss(entries: Any) -> tuple[float, str] | None:
    if not isinstance(entries, list):
        return None
    from cvss import CVSS2, CVSS3, CVSS4, CVSSError  # only imports, not scans, score vectors

    best = None
    for kind in ("CVSS_V4", "CVSS_V3", "CVSS_V2"):
        for e in entries:
            if not isinstance(e, dict) or e.get("type") != kind or not isinstance(e.get("score"), str):
                continue
            try:
                cls = {"CVSS_V4": CVSS4, "CVSS_V3": CVSS3, "CVSS_V2": CVSS2}[kind]
                score = float(cls(e["score"]).base_score)
            except (CVSSError, ValueError, KeyError, ZeroDivisionError):
                continue  # a malformed vector falls back to the next source
            if best is None or score > best[0]:
                best = (score, e["score"])
        if best is not None:
            return best
    return None


def informational(record: dict) -> str | None:
    for aff in record.get("affected") or ():
        ds = aff.get("database_specific") if isinstance(aff, dict) else None
        if isinstance(ds, dict) and isinstance(ds.get("informational"), str):
            return ds["informational"]
    return None


def assess(record: dict) -> tuple[str, float | None, str | None]:
    """-> (severity, cvss base score or None, vector or None)."""
    if informational(record):
        return "info", None, None
    found = _cvss(record.get("severity"))
    if found is None:
        for aff in record.get("affected") or ():
            if isinstance(aff, dict):
                found = _cvss(aff.get("severity"))
                if found:
                    break
    if found is not None:
        return from_score(found[0]), found[0], found[1]
    labels = []
    ds = record.get("database_specific")
    if isinstance(ds, dict):
        labels.append(ds.get("severity"))
    for aff in record.get("affected") or ():
        if isinstance(aff, dict):
            for key in ("ecosystem_specific", "database_specific"):
                d = aff.get(key)
                if isinstance(d, dict):
                    labels.append(d.get("severity"))
    for e in record.get("severity") or ():
        if isinstance(e, dict) and e.get("type") == "Ubuntu":
            labels.append(e.get("score"))
    for label in labels:
        if isinstance(label, str) and label.strip().lower() in _LABELS:
            return _LABELS[label.strip().lower()], None, None
    return "unknown", None, None
