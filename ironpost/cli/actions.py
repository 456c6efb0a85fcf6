"""ironpost cli actions list: the recorded container actions (real and dry-run) from the store."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import orjson
import typer

from ironpost.core.errors import StorageError

from ironpost.cli.alerts import parse_since
from ironpost.cli.common import ConfigOption, load_cli_config

app = typer.Typer(help="Actions taken (or, in dry-run mode, that would have been taken) on containers and addresses.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Keeps `list` a subcommand: typer would otherwise collapse a one-command group into the command."""


@app.command("list")
def list_actions(
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=100000, help="How many actions, newest first."),
    since: Optional[str] = typer.Option(None, "--since", show_default=False,
                                        help="Only actions from this time on: '1 hour ago', '30m', an ISO timestamp, "
                                             "or a number of seconds ago (as alerts list)."),
    node: Optional[str] = typer.Option(None, "--node", help="Only actions recorded by this node ([fleet] node_id, else its host name)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per line."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """List recorded actions from the configured store (SQLite or PostgreSQL), newest first.

    Example: ironpost cli actions list --limit 20
             ironpost cli actions list --since "1 hour ago" --json
    """
    from ironpost.storage import open_store

    since_ts = None
    if since is not None:
        try:
            since_ts = time.time() - float(since)
        except ValueError:
            try:
                since_ts = parse_since(since)
            except ValueError as exc:
                typer.echo(f"error: --since: {exc}", err=True)
                raise typer.Exit(2) from None
    cfg = load_cli_config(config)
    try:
        store = open_store(cfg)
        try:
            store.migrate()
            rows = store.query_actions(since=since_ts, node=node, limit=limit)
        finally:
            store.close()
    except StorageError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if json_out:
        for r in rows:
            typer.echo(orjson.dumps(r).decode())
        return
    if not rows:
        typer.echo("no actions recorded")
        return
    typer.echo(f"{'time':<19}  {'action':<18} {'target':<20} {'result':<8} {'policy':<20} error")
    for r in rows:
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.get("timestamp", 0)))
        result = r.get("result", "")
        typer.echo(f"{ts:<19}  {r.get('action', ''):<18} {r.get('target', ''):<20} {result:<8} {r.get('policy') or '-':<20} {r.get('error') or ''}")
