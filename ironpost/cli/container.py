"""ironpost cli container ls|release: see the containers the guard knows, undo an isolation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Optional

import orjson
import typer

from ironpost.core.config import Config
from ironpost.core.errors import ContainerError

from ironpost.cli.common import ConfigOption, load_cli_config, record_action

app = typer.Typer(help="Containers under the guard: list them, release an isolated one.", no_args_is_help=True)


def _daemon(cfg: Config, op: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """Ask a running daemon's container module; None when no daemon (or no guard) answers."""
    try:
        from ironpost.core.errors import DaemonError
        from ironpost.daemon.client import request
    except ImportError:
        return None
    sock = cfg.resolve_path("general", "control_socket", "ironpost.sock")
    try:
        resp = request(sock, {"cmd": "module", "module": "container", "op": op, "args": args})
    except DaemonError:
        return None
    if not resp.get("ok") and "is not running" in str(resp.get("error", "")):
        return None
    return resp


@app.command()
def release(
    name: str = typer.Argument(..., help="Container name."),
    config: Optional[Path] = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="Print the recorded ActionEvent as JSON."),
) -> None:
    """Undo an isolation: unpause, start a container the guard stopped, reconnect removed networks.

    Goes through the running daemon when there is one; otherwise acts on the engine directly and
    records the action in the configured store. Exit 1 when the release failed.
    Example: ironpost cli container release web-1
    """
    cfg = load_cli_config(config)
    resp = _daemon(cfg, "release", {"name": name})
    if resp is not None:
        if "action" not in resp:
            typer.echo(f"error: {resp.get('error')}", err=True)
            raise typer.Exit(1)
        action = resp["action"]
    else:
        action = _release_direct(cfg, name)
    if json_out:
        typer.echo(orjson.dumps(action).decode())
    else:
        restored = ", ".join(action.get("details", {}).get("restored", [])) or "nothing"
        typer.echo(f"release {name}: {action['result']} (restored: {restored})" + (f": {action['error']}" if action.get("error") else ""))
    if action["result"] == "failed":
        raise typer.Exit(1)


def _release_direct(cfg: Config, name: str) -> dict[str, Any]:
    from ironpost.container.client import Engine
    from ironpost.container.module import build_executor

    sec = cfg.section("container")
    engine = Engine(sec.docker_socket, sec.docker_timeout_secs)
    try:
        ev = asyncio.run(build_executor(cfg, engine).release(name, reason="cli"))
    finally:
        engine.close()
    record_action(cfg, ev)
    return ev.to_dict()


@app.command("ls")
def ls(
    config: Optional[Path] = ConfigOption,
    all_: bool = typer.Option(True, "--all/--running", help="Include stopped containers (default) or only running ones."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the engine's containers with their state, networks, exemption and any isolation by the guard.

    Example: ironpost cli container ls --running
    """
    from ironpost.container.client import Engine
    from ironpost.container.model import ContainerInfo
    from ironpost.container.module import state_path
    from ironpost.container.state import IsolationState

    cfg = load_cli_config(config)
    sec = cfg.section("container")
    engine = Engine(sec.docker_socket, sec.docker_timeout_secs)
    try:
        summaries = engine.containers(all_=all_)
    except ContainerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.close()
    isolations = IsolationState(state_path(cfg)).all()
    containers = sorted((ContainerInfo.from_summary(s) for s in summaries), key=lambda c: c.name)
    if json_out:
        typer.echo(orjson.dumps([{**c.to_dict(), "exempt": c.exempt, "isolation": isolations.get(c.name)} for c in containers],
                                option=orjson.OPT_INDENT_2).decode())
        return
    typer.echo(f"{'name':<24} {'id':<12} {'state':<10} {'image':<30} networks / notes")
    for c in containers:
        notes = []
        if c.exempt:
            notes.append("exempt")
        iso = isolations.get(c.name)
        if iso:
            parts = [k for k in ("paused", "stopped") if iso.get(k)] + [f"-{n['name']}" for n in iso.get("networks", [])]
            notes.append("isolated: " + " ".join(parts))
        typer.echo(f"{c.name:<24} {c.id[:12]:<12} {c.state:<10} {c.image[:30]:<30} {','.join(c.networks) or '-'}  {'; '.join(notes)}")
