"""The typer app: `ironpost daemon` and `ironpost cli <group> <command>`.

Each group lives in its own file here and defines `app`; GROUPS lists them. Group files
import heavy libraries (docker, bcc, cyclonedx) inside commands, so `--version` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Optional

import typer

from ironpost import __version__

GROUPS = [
    ("config", "ironpost.cli.config"),
    ("net", "ironpost.cli.net"),
    ("rules", "ironpost.cli.rules"),
    ("alerts", "ironpost.cli.alerts"),
    ("actions", "ironpost.cli.actions"),
    ("policy", "ironpost.cli.policy"),
    ("container", "ironpost.cli.container"),
    ("sbom", "ironpost.cli.sbom"),
    ("scan", "ironpost.cli.scan"),
    ("db", "ironpost.cli.db"),
    ("bouncers", "ironpost.cli.bouncers"),
    ("fleet", "ironpost.cli.fleet"),
]

app = typer.Typer(
    help="Ironpost: host security in one daemon. XDP blocklist, log detection, container guard, SBOM scanning.",
    no_args_is_help=True,
    add_completion=False,
)
cli_app = typer.Typer(help="Commands for operators: config, status, rules, alerts, scans and more.", no_args_is_help=True,
                      add_completion=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ironpost {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Ironpost: host security in one daemon."""


@cli_app.callback()
def cli_root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Commands for operators: config, status, rules, alerts, scans and more (also installed as ironpost-cli)."""


@app.command()
def daemon(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Path to ironpost.toml (default: $IRONPOST_CONFIG, ./ironpost.toml, /etc/ironpost/ironpost.toml, or built-in defaults)."),
) -> None:
    """Run the daemon in the foreground (stop with SIGTERM or Ctrl-C, reload with SIGHUP).

    Example: ironpost daemon --config /etc/ironpost/ironpost.toml
    """
    from ironpost.cli.common import config_path, fail_from, report_config_error
    from ironpost.core.errors import ConfigError, IronpostError
    from ironpost.daemon.app import Daemon

    path = config_path(config)
    try:
        d = Daemon(str(path) if path else None)
        code = d.run()
    except ConfigError as exc:
        report_config_error(exc)
    except IronpostError as exc:
        fail_from(exc)
    raise typer.Exit(code)


def _register() -> None:
    from ironpost.cli import control

    for name, module in GROUPS:
        cli_app.add_typer(importlib.import_module(module).app, name=name)
    cli_app.command()(control.status)
    cli_app.command()(control.reload)
    cli_app.command()(control.metrics)
    app.add_typer(cli_app, name="cli")


_register()


def cli_main() -> None:
    """`ironpost-cli ...`, the seed's name for `ironpost cli ...`."""
    cli_app(prog_name="ironpost-cli")


def daemon_main() -> None:
    """`ironpost-daemon --config PATH`, the seed's name for `ironpost daemon`."""
    one = typer.Typer(add_completion=False)
    one.command()(daemon)  # a Typer with one command runs it without a subcommand name
    one(prog_name="ironpost-daemon")


# Invoked under one of these names (console script, or a symlink to the frozen binary), we act as it.
PROGRAMS = {"ironpost-cli": cli_main, "ironpost-daemon": daemon_main}


def main() -> None:
    PROGRAMS.get(Path(sys.argv[0]).name, app)()
