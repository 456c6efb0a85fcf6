"""Version ordering per ecosystem, as OSV ranges need it.

SEMVER (crates.io, npm, Go): SemVer 2.0 precedence, section 11 — build metadata ignored, a
pre-release sorts before its release, numeric identifiers before alphanumeric ones, a shorter
identifier list first. Go versions carry a "v" prefix, accepted here. PyPI uses PEP 440 through
packaging.version. Unparseable versions give None: they can only match an explicit `versions` list.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable

from packaging.version import InvalidVersion, Version

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*|\d+)(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z.-]+)?$"
)
_RELEASE = (1,)  # sorts after every pre-release tuple, which starts with 0


@lru_cache(maxsize=262_144)  # keys are immutable; the same bounds recur across thousands of advisories
def semver_key(v: str) -> tuple | None:
    m = _SEMVER.match(v.strip())
    if m is None:
        return None
    major, minor, patch, pre = m.groups()
    if pre is None:
        pre_key: tuple = _RELEASE
    else:
        pre_key = (0, *[(0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")])
    return (int(major), int(minor or 0), int(patch or 0), pre_key)


@lru_cache(maxsize=262_144)
def pypi_key(v: str) -> Version | None:
    try:
        return Version(v)
    except InvalidVersion:
        return None


def key_function(ecosystem: str) -> Callable[[str], Any]:
    """The ordering OSV expects for this ecosystem's SEMVER or ECOSYSTEM ranges."""
    if ecosystem.split(":", 1)[0] == "PyPI":
        return pypi_key
    return semver_key
