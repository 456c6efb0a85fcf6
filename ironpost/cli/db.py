"""`ironpost cli db ...`: the local vulnerability database."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ironpost.core.errors import ConfigError, IronpostError
from ironpost.cli.common import load_cli_config
from ironpost.sbom.paths import vulndb_path

app = typer.Typer(help="Manage the local OSV vulnerability database.", no_args_is_help=True)

_DB = typer.Option(None, "--db", help="database file (default: sbom.vuln_db_path, else <data_dir>/vulndb.sqlite)")
_CONFIG = typer.Option(None, "--config", help="config file (default: $IRONPOST_CONFIG, ./ironpost.toml, /etc/ironpost/ironpost.toml)")


def _db_path(config: Optional[Path], db: Optional[Path]) -> Path:
    try:
        return vulndb_path(load_cli_config(config), db)
    except ConfigError as exc:
        typer.echo(f"config error: {exc}", err=True)
        raise typer.Exit(2)


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="folder or zip of OSV records (.json, .yaml)"),
    db: Optional[Path] = _DB,
    json_out: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    config: Optional[Path] = _CONFIG,
) -> None:
    """Import OSV advisories; only records newer (by `modified`) than the stored ones are written.

    Exit code 1 when some records could not be read (the others are imported), 2 on a bad path or config.

    Example: ironpost cli db import ./osv/crates.io   or   ironpost cli db import all.zip
    """
    import orjson

    from ironpost.sbom.vulndb import import_osv

    target = _db_path(config, db)
    if not path.exists():
        typer.echo(f"error: {path}: no such file or folder", err=True)
        raise typer.Exit(2)
    try:
        stats = import_osv(path, target)
    except IronpostError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    summary = stats.as_dict() | {"db": str(target)}
    if json_out:
        typer.echo(orjson.dumps(summary | {"error_details": stats.errors[:100]}).decode())
    else:
        typer.echo(f"imported into {target}: {stats.added} added, {stats.updated} updated, {stats.unchanged} unchanged, "
                   f"{stats.withdrawn} withdrawn, {stats.git_ranges} GIT ranges skipped, {len(stats.errors)} errors in {stats.seconds:.2f} s")
    for e in stats.errors[:20]:
        typer.echo(f"record error: {e}", err=True)
    if len(stats.errors) > 20:
        typer.echo(f"... and {len(stats.errors) - 20} more", err=True)
    if stats.errors:
        raise typer.Exit(1)


@app.command("stats")
def stats(db: Optional[Path] = _DB, json_out: bool = typer.Option(False, "--json", help="print as JSON"), config: Optional[Path] = _CONFIG) -> None:
    """Show what the database holds: advisories per ecosystem and severity, last import.

    Example: ironpost cli db stats --json
    """
    import orjson
    from rich.console import Console
    from rich.table import Table

    from ironpost.sbom.vulndb import VulnDB

    target = _db_path(config, db)
    if not target.exists():
        typer.echo(f"error: no vulnerability database at {target}: run `ironpost cli db import PATH` first", err=True)
        raise typer.Exit(2)
    try:
        with VulnDB(target) as vdb:
            s = vdb.stats()
    except IronpostError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if json_out:
        typer.echo(orjson.dumps(s).decode())
        return
    t = Table(title=f"vulnerability database {s['path']}")
    t.add_column("what")
    t.add_column("value")
    t.add_row("advisories", str(s["advisories"]))
    t.add_row("withdrawn", str(s["withdrawn"]))
    t.add_row("packages", str(s["packages"]))
    for eco, n in s["by_ecosystem"].items():
        t.add_row(f"ecosystem {eco}", str(n))
    for sev, n in sorted(s["by_severity"].items()):
        t.add_row(f"severity {sev}", str(n))
    t.add_row("last import", str(s["last_import"]))
    t.add_row("newest record", str(s["newest_modified"]))
    Console().print(t)
