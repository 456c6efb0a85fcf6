"""`ironpost cli sbom ...`: software bills of materials from lockfiles."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ironpost.core.errors import ConfigError
from ironpost.cli.common import load_cli_config
from ironpost.sbom.documents import FORMATS

app = typer.Typer(help="Generate SBOMs (CycloneDX 1.6, SPDX 2.3) from lockfiles.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Generate SBOMs (CycloneDX 1.6 JSON/XML, SPDX 2.3 JSON) from the lockfiles under a folder."""


@app.command("generate")
def generate(
    dirs: list[Path] = typer.Option(..., "--dir", "-d", help="folder (or lockfile) to describe; repeat for several"),
    output: Path = typer.Option(Path("-"), "--output", "-o", help="file to write, - for stdout"),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="cyclonedx (JSON), cyclonedx-xml, spdx (JSON) or spdx-tv (tag-value); default: [sbom] output_format"),
    name: Optional[str] = typer.Option(None, "--name", help="document/project name (default: the folder name)"),
    exclude: list[str] = typer.Option([], "--exclude", help="glob of paths to skip (added to sbom.exclude)"),
    engine: str = typer.Option("fast", "--engine", help="CycloneDX writer: fast (direct) or lib (cyclonedx-python-lib model; slow above a few thousand packages)"),
    config: Optional[Path] = typer.Option(None, "--config", help="config file (default: $IRONPOST_CONFIG, ./ironpost.toml, /etc/ironpost/ironpost.toml)"),
) -> None:
    """Write an SBOM of every package in the lockfiles found under --dir, with the dependency graph.

    Lockfiles that cannot be parsed are reported on stderr and left out; the exit code is then 1.

    Example: ironpost cli sbom generate --dir ./project --format spdx --output project.spdx.json
    """
    from ironpost.sbom.documents import render_sbom
    from ironpost.sbom.scan import collect

    if fmt is not None and fmt not in FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(FORMATS)}, found {fmt!r}", param_hint="--format")
    if engine not in ("fast", "lib"):
        raise typer.BadParameter(f"expected fast or lib, found {engine!r}", param_hint="--engine")
    try:
        cfg = load_cli_config(config)
    except ConfigError as exc:
        typer.echo(f"config error: {exc}", err=True)
        raise typer.Exit(2)
    fmt = fmt or cfg.section("sbom").output_format
    res = collect(dirs, [*cfg.section("sbom").exclude, *exclude])
    doc_name = name or dirs[0].resolve().name or "project"
    text = render_sbom(res.packages, fmt, doc_name, engine=engine)
    if str(output) == "-":
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {fmt} SBOM of {len(res.packages)} packages from {len(res.lockfiles)} lockfiles to {output}", err=True)
    for e in res.errors:
        typer.echo(f"lockfile error: {e}", err=True)
    if res.errors:
        raise typer.Exit(1)
