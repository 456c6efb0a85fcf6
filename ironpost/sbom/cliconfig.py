"""Config loading for the sbom/scan/db CLI groups until ironpost.cli.common lands on this branch.

Same rule as the project CLI: --config, else $IRONPOST_CONFIG, else /etc/ironpost/ironpost.toml
when it exists, else built-in defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

from ironpost.core.config import Config, load_config

DEFAULT_PATH = Path("/etc/ironpost/ironpost.toml")


def load_cli_config(path: str | os.PathLike | None) -> Config:
    try:
        from ironpost.cli.common import load_cli_config as shared  # the lead's loader, when present
    except ImportError:
        shared = None
    if shared is not None:
        return shared(path)
    if path is None:
        path = os.environ.get("IRONPOST_CONFIG") or (DEFAULT_PATH if DEFAULT_PATH.exists() else None)
    return load_config(path)


def vulndb_path(cfg: Config, override: str | os.PathLike | None = None) -> Path:
    if override:
        return Path(override)
    return cfg.resolve_path("sbom", "vulndb_path", "vulndb.sqlite")
