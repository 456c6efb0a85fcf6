"""ironpost cli status|reload|metrics: talk to the running daemon over its control socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import orjson
import typer

from ironpost.cli.common import ConfigOption, fail, load_cli_config
from ironpost.core.errors import DaemonError
from ironpost.daemon.client import request, runtime_paths


def daemon_request(config: Optional[Path], payload: dict[str, Any]) -> dict[str, Any]:
    cfg = load_cli_config(config)
    _, sock = runtime_paths(cfg)
    try:
        return request(sock, payload)
    except DaemonError as exc:
        fail(f"{exc}. Is the daemon running? Start it with: ironpost daemon --config PATH")


def status(
    config: Optional[Path] = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="Print the raw JSON status."),
) -> None:
    """Show the running daemon's state: modules, queues, store, spool.

    Example: ironpost cli status --config ironpost.toml
    """
    resp = daemon_request(config, {"cmd": "status"})
    if json_out:
        typer.echo(orjson.dumps(resp, option=orjson.OPT_INDENT_2).decode())
        return
    typer.echo(f"ironpost {resp['version']}  pid {resp['pid']}  up {resp['uptime_secs']:.0f}s  store {resp['store']}")
    typer.echo(f"bus pending {resp['bus_pending']}  spooled {resp['spooled']}  alerts written {resp['alerts_written']}")
    ext = resp.get("extensions") or {}
    if ext.get("missing"):
        typer.echo("extensions MISSING (the Python twins run, about 50x slower; rebuild with `make build`):")
        for name, why in sorted(ext["missing"].items()):
            typer.echo(f"  {name:<14} {why}")
    elif ext.get("mode") == "twins":
        typer.echo("extensions: Python twins (IRONPOST_NO_EXTENSIONS is set)")
    else:
        typer.echo("extensions: compiled")
    for name, st in sorted(resp["modules"].items()):
        err = f"  ({st['last_error']})" if st.get("last_error") else ""
        extra = "".join(f"  {label} {st[key]}" for key, label in (("retries", "retries"), ("stalls", "stalls")) if st.get(key))
        if "retry_in_secs" in st:
            extra += f"  next try in {st['retry_in_secs']}s"
        typer.echo(f"  {name:<14} {st['state']:<12} restarts {st['restarts']}{extra}{err}")
    if not resp["modules"]:
        typer.echo("  no modules enabled")


def reload(config: Optional[Path] = ConfigOption) -> None:
    """Ask the daemon to reload its config file (same as SIGHUP).

    Modules re-read their files (rules, policies). An invalid config file, or rules a module
    refuses, are rejected and what was running is kept; the problems are printed (exit 2).
    Example: ironpost cli reload --config ironpost.toml
    """
    resp = daemon_request(config, {"cmd": "reload"})
    if not resp.get("ok"):
        typer.echo(f"error: {resp.get('error')}", err=True)
        for p in resp.get("problems", []):
            typer.echo(f"  - {p}", err=True)
        raise typer.Exit(2)
    typer.echo("reloaded; changed sections: " + (", ".join(resp["changed"]) or "none")
               + "; modules that re-read their files: " + (", ".join(resp.get("reloaded", [])) or "none"))
    if resp.get("restart_needed"):
        typer.echo("these keys take effect only after a restart: " + ", ".join(resp["restart_needed"]))


def metrics(
    config: Optional[Path] = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of Prometheus text."),
) -> None:
    """Print the daemon's metrics (the same numbers /metrics serves).

    Example: ironpost cli metrics --config ironpost.toml
    """
    from ironpost.daemon.http import render_prometheus

    resp = daemon_request(config, {"cmd": "metrics"})
    if json_out:
        typer.echo(orjson.dumps(resp["metrics"], option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(render_prometheus(resp["metrics"]), nl=False)
