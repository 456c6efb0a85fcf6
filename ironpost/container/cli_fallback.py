"""A stand-in for ironpost.cli.common (the lead's shared CLI helpers) until it is on this branch.
Same names and behaviour for what the container CLI groups use; delete once common.py is merged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from ironpost.core.config import Config, load_config
from ironpost.core.errors import ConfigError

ConfigOption = typer.Option(
    None, "--config", "-c",
    help="Path to ironpost.toml. Default: $IRONPOST_CONFIG, else /etc/ironpost/ironpost.toml if it exists, else built-in defaults.",
    show_default=False,
)


def load_cli_config(path: Optional[Path]) -> Config:
    if path is None:
        env = os.environ.get("IRONPOST_CONFIG")
        default = Path("/etc/ironpost/ironpost.toml")
        path = Path(env) if env else (default if default.exists() else None)
    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
