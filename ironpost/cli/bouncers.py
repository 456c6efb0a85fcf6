"""ironpost cli bouncers: API keys for CrowdSec bouncers reading Ironpost's decisions (the lapi section)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import orjson
import typer

from ironpost.cli.common import ConfigOption, fail, load_cli_config

app = typer.Typer(help="Keys of CrowdSec bouncers that read Ironpost's decisions (the lapi section).", no_args_is_help=True)


def _keys(config):
    from ironpost.lapi.keys import BouncerKeys, bouncers_path

    return BouncerKeys(bouncers_path(load_cli_config(config)))


@app.command()
def add(
    name: str = typer.Argument(..., help="A name for the bouncer (letters, digits, _ . @ -)."),
    key: Optional[str] = typer.Option(None, "--key", help="Use this key instead of a random one (at least 16 characters)."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """Register a bouncer and print its API key (shown once; only its hash is stored).

    Put the key in the bouncer's config (api_key) with api_url pointing at [lapi] listen.

    Example: ironpost cli bouncers add firewall-web1
    """
    from ironpost.lapi.keys import LapiError

    if key is not None and len(key) < 16:
        fail("--key must be at least 16 characters", 2)
    keys = _keys(config)
    try:
        made = keys.add(name, key)
    except LapiError as exc:
        fail(str(exc), 2 if "name" in str(exc) else 1)
    typer.echo(f"API key for bouncer {name!r} (shown once, stored hashed in {keys.path}):", err=True)
    typer.echo(made)


@app.command("list")
def list_(config: Optional[Path] = ConfigOption,
          json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List registered bouncers (names and creation times; keys are never shown).

    Example: ironpost cli bouncers list
    """
    from ironpost.lapi.keys import LapiError

    try:
        bouncers = _keys(config).load().bouncers
    except LapiError as exc:
        fail(str(exc))
    rows = [{"name": b["name"], "created_at": b.get("created_at")} for b in bouncers.values()]
    if json_out:
        typer.echo(orjson.dumps(rows).decode())
        return
    if not rows:
        typer.echo("no bouncers; add one with `ironpost cli bouncers add NAME`")
    for r in rows:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created_at"])) if r["created_at"] else "?"
        typer.echo(f"{r['name']:<32} created {created}")


@app.command()
def delete(name: str = typer.Argument(..., help="The bouncer to remove."), config: Optional[Path] = ConfigOption) -> None:
    """Remove a bouncer: its key stops working at its next request.

    Example: ironpost cli bouncers delete firewall-web1
    """
    if not _keys(config).delete(name):
        fail(f"no bouncer named {name!r}")
    typer.echo(f"deleted bouncer {name}")
