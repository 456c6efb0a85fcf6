"""ironpost cli config validate|show"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import orjson
import typer

from ironpost.cli.common import ConfigOption, config_path, load_cli_config
from ironpost.core.config import redact

app = typer.Typer(help="Check and print the configuration (ironpost.toml).", no_args_is_help=True)


@app.command()
def validate(config: Optional[Path] = ConfigOption) -> None:
    """Validate a config file and list every problem at once (with line numbers).

    Example: ironpost cli config validate --config /etc/ironpost/ironpost.toml

    Exit code 0 when valid, 2 when invalid. Environment overrides (IRONPOST_<SECTION>_<KEY>) are applied too.
    """
    load_cli_config(config)
    where = config_path(config)
    typer.echo(f"ok: {where or 'built-in defaults'} is valid")


@app.command()
def show(
    config: Optional[Path] = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of TOML-like text."),
) -> None:
    """Print the effective config (defaults + file + environment), with passwords in URLs redacted.

    Example: IRONPOST_GENERAL_LOG_LEVEL=debug ironpost cli config show --config ironpost.toml
    """
    cfg = load_cli_config(config)
    values = redact(cfg.as_dict())
    if json_out:
        typer.echo(orjson.dumps(values, option=orjson.OPT_INDENT_2).decode())
        return
    for section, table in values.items():
        typer.echo(f"[{section}]")
        for key, value in table.items():
            typer.echo(f"{key} = {_toml_value(value)}")
        typer.echo("")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return orjson.dumps(value).decode()
