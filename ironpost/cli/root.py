"""The typer app: `ironpost daemon` and `ironpost cli <group> <command>`.

Each group lives in its own file here and defines `app`; GROUPS lists them. Group files
import heavy libraries (docker, bcc, cyclonedx) inside commands. `build(argv)` registers only
the group a command line names (`cli rules test ...` imports the rules group alone), and every
group for help and anything it cannot tell, so start-up stays short.
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


CONTROL_COMMANDS = ("status", "reload", "metrics")  # in ironpost.cli.control, straight under `cli`


def _register(only: str | None = None) -> None:
    for name, module in GROUPS:
        if only is None or name == only:
            cli_app.add_typer(importlib.import_module(module).app, name=name)
    if only is None or only in CONTROL_COMMANDS:
        from ironpost.cli import control

        for name in CONTROL_COMMANDS:
            cli_app.command()(getattr(control, name))
    app.add_typer(cli_app, name="cli")


def group_named(args: list[str]) -> str | None:
    """The one group (or control command) `args` (after `cli`) runs, or None when help or
    anything else may need them all."""
    if not args or args[0] not in {name for name, _ in GROUPS} | set(CONTROL_COMMANDS):
        return None
    return args[0]


def build(argv: list[str] | None = None, *, under_cli: bool = False) -> None:
    """Register the groups once: only the named one when argv names one (see group_named)."""
    global _built
    if _built:
        return
    _built = True
    if argv is None:
        _register()
        return
    args = argv if under_cli else (argv[1:] if argv[:1] == ["cli"] else None)
    _register(group_named(args) if args is not None else None)


_built = False


def cli_main() -> None:
    """`ironpost-cli ...`, the seed's name for `ironpost cli ...`."""
    build(sys.argv[1:], under_cli=True)
    cli_app(prog_name="ironpost-cli")


def daemon_main() -> None:
    """`ironpost-daemon --config PATH`, the seed's name for `ironpost daemon`."""
    one = typer.Typer(add_completion=False)
    one.command()(daemon)  # a Typer with one command runs it without a subcommand name
    one(prog_name="ironpost-daemon")


def main() -> None:
    build(sys.argv[1:])
    app()
