"""Config loading for the sbom/scan/db CLI groups.

Uses the project's `ironpost.cli.common.load_cli_config` when it is part of this same source tree
(it is once the CLI root lands); otherwise the same rule locally: --config, else $IRONPOST_CONFIG,
else /etc/ironpost/ironpost.toml when it exists, else built-in defaults. The same-tree check keeps
an editable install of another checkout from supplying a different loader.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ironpost.core.config import Config, load_config

DEFAULT_PATH = Path("/etc/ironpost/ironpost.toml")
_TREE = Path(__file__).resolve().parents[1]


def _shared_loader():
    try:
        spec = importlib.util.find_spec("ironpost.cli.common")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or Path(spec.origin).resolve().parents[1] != _TREE:
        return None
    from ironpost.cli.common import load_cli_config as shared

    return shared


def load_cli_config(path: str | os.PathLike | None) -> Config:
    shared = _shared_loader()
    if shared is not None:
        return shared(Path(path) if path is not None else None)
    if path is None:
        path = os.environ.get("IRONPOST_CONFIG") or (DEFAULT_PATH if DEFAULT_PATH.exists() else None)
    return load_config(path)


def vulndb_path(cfg: Config, override: str | os.PathLike | None = None) -> Path:
    if override:
        return Path(override)
    return cfg.resolve_path("sbom", "vulndb_path", "vulndb.sqlite")
