"""Where the SBOM module keeps its files."""

from __future__ import annotations

import os
from pathlib import Path

from ironpost.core.config import Config

DB_NAME = "vulndb.sqlite"
_DB_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def vulndb_path(cfg: Config, override: str | os.PathLike | None = None) -> Path:
    """The vulnerability DB file: an explicit override, else [sbom] vuln_db_path, else <data_dir>/vulndb.sqlite.

    vuln_db_path names a directory (the seed's form, /var/lib/ironpost/vuln-db) holding vulndb.sqlite,
    or the database file itself (our earlier vulndb_path); a *.sqlite/*.db name or an existing file is a file."""
    if override:
        return Path(override)
    value = cfg.section("sbom").vuln_db_path
    if not value:
        return cfg.data_dir / DB_NAME
    p = Path(value)
    if p.suffix in _DB_SUFFIXES or p.is_file():
        return p
    return p / DB_NAME


def sbom_dir(data_dir: Path) -> Path:
    """Where the daemon writes the SBOM of each scan."""
    return data_dir / "sbom"
