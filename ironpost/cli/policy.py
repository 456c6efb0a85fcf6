"""ironpost cli policy validate|test: check container-guard policy files and dry-run them on an alert."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import orjson
import typer

from ironpost.container.model import ContainerInfo
from ironpost.container.policies import load_policies
from ironpost.core.errors import ContainerError
from ironpost.core.events import AlertEvent

from ironpost.cli.common import ConfigOption, load_cli_config

app = typer.Typer(help="Container-guard policies: validate files, see which policy would act on an alert.", no_args_is_help=True)

DirOption = typer.Option(None, "--dir", "-d", help="Policy directory (or one file). Default: [container] policy_path.", show_default=False)


def _policy_dir(config: Optional[Path], directory: Optional[Path]) -> Path:
    return directory if directory is not None else Path(load_cli_config(config).section("container").policy_path)


@app.command()
def validate(
    directory: Optional[Path] = DirOption,
    config: Optional[Path] = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="Print policies and errors as JSON."),
) -> None:
    """Load every *.toml policy file and report each problem with file and line.

    Exit 0 when every file is valid, 2 when any file has a problem (the valid ones are still listed).
    Example: ironpost cli policy validate --dir /etc/ironpost/policies
    """
    path = _policy_dir(config, directory)
    ps = load_policies(path)
    if json_out:
        typer.echo(orjson.dumps({"policies": [p.to_dict() for p in ps.policies], "errors": [e.to_dict() for e in ps.errors],
                                 "files": ps.files}, option=orjson.OPT_INDENT_2).decode())
    else:
        if not ps.files:
            typer.echo(f"no policy files in {path}")
        for p in ps.policies:
            filters = ", ".join(f"{k}={list(v)}" for k, v in (("names", p.container_names), ("images", p.image_patterns)) if v) or "no filters"
            nets = f" networks={list(p.networks)}" if p.networks else ""
            typer.echo(f"ok    {p.name:<24} priority {p.priority:<5} >= {p.severity_threshold:<8} {p.action}{nets}  ({filters})  {p.file}:{p.line}")
        for e in ps.errors:
            typer.echo(f"error {e}", err=True)
        typer.echo(f"{len(ps.policies)} policies loaded from {len(ps.files)} files, {len(ps.errors)} errors")
    if ps.errors:
        raise typer.Exit(2)


@app.command()
def test(
    alert: str = typer.Option(..., "--alert", "-a", help="The alert as JSON (AlertEvent fields; severity required).", show_default=False),
    directory: Optional[Path] = DirOption,
    config: Optional[Path] = ConfigOption,
    offline: bool = typer.Option(False, "--offline", help="Do not ask the Docker engine for its containers."),
    json_out: bool = typer.Option(False, "--json", help="Print the decisions as JSON."),
) -> None:
    """Show which policy would act on which containers for an alert. Nothing is changed.

    Containers come from the configured Docker engine; with --offline (or when the engine is
    unreachable) only a container the alert names is considered.
    Exit 0 when some policy would act, 1 when none would, 2 for a bad alert or policy file.
    Example: ironpost cli policy test --alert '{"severity": "high", "container_name": "web-1"}'
    """
    try:
        raw = orjson.loads(alert)
        if not isinstance(raw, dict):
            raise ValueError("the alert must be a JSON object")
        raw.setdefault("rule_id", "cli.test")
        raw.setdefault("title", "policy test")
        raw.pop("kind", None)
        ev = AlertEvent.from_dict(raw)
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
        typer.echo(f"error: --alert: {exc}", err=True)
        raise typer.Exit(2) from None
    cfg = load_cli_config(config)
    path = directory if directory is not None else Path(cfg.section("container").policy_path)
    ps = load_policies(path)
    for e in ps.errors:
        typer.echo(f"error {e}", err=True)
    containers: list[ContainerInfo] = []
    source = "alert only (offline)"
    if not offline:
        try:
            containers = _engine_containers(cfg)
            source = f"engine {cfg.section('container').docker_socket}"
        except ContainerError as exc:
            typer.echo(f"warning: {exc}; using only the container the alert names", err=True)
            source = "alert only (engine unreachable)"
    if not containers and (ev.container_name or ev.container_id):
        containers = [ContainerInfo(id=ev.container_id or "", name=ev.container_name or "", image="", state="unknown")]
    plan = ps.plan(ev, containers)
    if json_out:
        typer.echo(orjson.dumps({"containers_from": source, "decisions": [
            {"policy": d.policy.name, "action": d.policy.action, "container": d.container.name, "container_id": d.container.id,
             "exempt": d.container.exempt, "networks": list(d.policy.networks)} for d in plan.decisions],
            "unresolved": plan.named if plan.unresolved else None}, option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(f"containers from {source}; {len(ps.policies)} policies")
        for d in plan.decisions:
            note = "  (exempt: would be skipped)" if d.container.exempt else ""
            nets = f" {list(d.policy.networks)}" if d.policy.networks else ""
            typer.echo(f"{d.policy.name}: {d.policy.action}{nets} -> {d.container.name}{note}")
        if plan.unresolved:
            typer.echo(f"the alert names {plan.named!r}, which is not a known container")
        if not plan.decisions:
            typer.echo("no policy would act on this alert")
    if ps.errors:
        raise typer.Exit(2)
    if not plan.decisions:
        raise typer.Exit(1)


def _engine_containers(cfg) -> list[ContainerInfo]:
    from ironpost.container.client import Engine

    sec = cfg.section("container")
    engine = Engine(sec.docker_socket, min(sec.docker_timeout_secs, 5.0))
    try:
        return [ContainerInfo.from_summary(s) for s in engine.containers()]
    finally:
        engine.close()
