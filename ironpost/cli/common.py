"""What every CLI group shares: finding and loading the config, reporting errors with the
right exit code (0 ok, 1 findings or failure, 2 usage or config error)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn, Optional

import typer

from ironpost.core.config import Config, load_config
from ironpost.core.errors import ConfigError, IronpostError

DEFAULT_CONFIG = Path("/etc/ironpost/ironpost.toml")
# The seed's quick start copies the example to ./ironpost.toml and then runs commands without
# --config, so the working directory's file comes before the system one.
LOCAL_CONFIG = Path("ironpost.toml")

ConfigOption = typer.Option(
    None, "--config", "-c",
    help="Path to ironpost.toml. Default: $IRONPOST_CONFIG, else ./ironpost.toml, else /etc/ironpost/ironpost.toml "
         "(the first that exists), else built-in defaults.",
    show_default=False,
)


def config_path(path: Optional[Path]) -> Optional[Path]:
    if path is not None:
        return path
    env = os.environ.get("IRONPOST_CONFIG")
    if env:
        return Path(env)
    return next((p for p in (LOCAL_CONFIG, DEFAULT_CONFIG) if p.is_file()), None)


def load_cli_config(path: Optional[Path]) -> Config:
    """Load the config for a CLI command, or exit 2 with every problem listed."""
    try:
        return load_config(config_path(path))
    except ConfigError as exc:
        report_config_error(exc)


def report_config_error(exc: ConfigError) -> NoReturn:
    where = exc.source or "config"
    typer.echo(f"error: {where} is invalid ({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}):", err=True)
    for p in exc.problems:
        typer.echo(f"  - {p}", err=True)
    raise typer.Exit(2)


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def fail_from(exc: IronpostError) -> NoReturn:
    if isinstance(exc, ConfigError):
        report_config_error(exc)
    fail(str(exc), getattr(exc, "exit_code", 1))


def record_action(cfg: Config, ev) -> None:
    """Write an action the CLI took itself (no daemon) to the store, as the daemon would have;
    a store that cannot be reached is a warning, since the action is already done."""
    from ironpost.core.errors import StorageError
    from ironpost.storage import open_store

    try:
        store = open_store(cfg)
        try:
            store.migrate()
            store.write_actions([ev])
        finally:
            store.close()
    except StorageError as exc:
        typer.echo(f"warning: action not recorded: {exc}", err=True)
