"""Where the SBOM module keeps its files."""

from __future__ import annotations

import os
from pathlib import Path

from ironpost.core.config import Config


def vulndb_path(cfg: Config, override: str | os.PathLike | None = None) -> Path:
    """The vulnerability DB: an explicit override, else [sbom] vulndb_path, else <data_dir>/vulndb.sqlite."""
    if override:
        return Path(override)
    return cfg.resolve_path("sbom", "vulndb_path", "vulndb.sqlite")
