"""Direct dependencies of a Python project, from the pyproject.toml or Pipfile beside its lockfile.

Python lockfiles (poetry.lock, Pipfile.lock) list everything installed without saying which
packages the project asked for; the manifest does. None means "no manifest to tell".
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from ironpost.sbom.model import normalize_pypi

FILENAMES: tuple[str, ...] = ()  # a helper, not a lockfile parser


def _req_name(spec: str) -> str | None:
    try:
        return normalize_pypi(Requirement(spec).name)
    except InvalidRequirement:
        return None


def _load(path: Path) -> dict | None:
    try:
        if path.stat().st_size > 2_000_000:
            return None
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def declared(lock_path: str | os.PathLike) -> set[str] | None:
    folder = Path(lock_path).parent
    names: set[str] = set()
    found = False
    doc = _load(folder / "pyproject.toml")
    if doc is not None:
        found = True
        project = doc.get("project") if isinstance(doc.get("project"), dict) else {}
        specs = list(project.get("dependencies") or [])
        for group in (project.get("optional-dependencies") or {}).values():
            specs += list(group or [])
        for group in (doc.get("dependency-groups") or {}).values():
            specs += [s for s in group or [] if isinstance(s, str)]
        names.update(n for n in (_req_name(s) for s in specs if isinstance(s, str)) if n)
        poetry = (doc.get("tool") or {}).get("poetry") or {}
        tables = [poetry.get("dependencies"), poetry.get("dev-dependencies")]
        tables += [g.get("dependencies") for g in (poetry.get("group") or {}).values() if isinstance(g, dict)]
        for t in tables:
            if isinstance(t, dict):
                names.update(normalize_pypi(k) for k in t if k.lower() != "python")
    pipfile = _load(folder / "Pipfile")
    if pipfile is not None:
        found = True
        for key in ("packages", "dev-packages"):
            if isinstance(pipfile.get(key), dict):
                names.update(normalize_pypi(k) for k in pipfile[key])
    return names if found else None
