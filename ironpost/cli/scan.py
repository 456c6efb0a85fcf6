"""`ironpost cli scan ...`: vulnerability scans from the command line."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Optional

import typer

from ironpost.cli.common import ConfigOption
from ironpost.sbom.severity import LEVELS

# Heavy modules (rich, the parsers, SQLite) are imported inside the command so `ironpost --help` stays fast.

app = typer.Typer(help="Scan for known vulnerabilities.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Scan for known vulnerabilities (offline, against the local OSV database)."""


def _severity(value: Optional[str], option: str) -> Optional[str]:
    if value is not None and value not in LEVELS:
        raise typer.BadParameter(f"expected one of {', '.join(LEVELS)}, found {value!r}", param_hint=option)
    return value


@app.command("sbom")
def sbom(
    dirs: list[Path] = typer.Option(..., "--dir", "-d", help="directory (or lockfile) to scan; repeat for several"),
    fmt: str = typer.Option("table", "--format", "-f", help="table (default), json or sarif"),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="exit 1 when a reported finding is at or above this severity"),
    min_severity: Optional[str] = typer.Option(None, "--min-severity", help="report findings at or above this (overrides sbom.min_severity)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="write the report here instead of stdout"),
    exclude: list[str] = typer.Option([], "--exclude", help="glob of paths to skip (added to sbom.exclude)"),
    workspace: Optional[bool] = typer.Option(
        None, "--include-workspace-crates/--exclude-workspace-crates",
        help="match Cargo workspace crates named like a published crate (reported as \"workspace crate\"); "
             "default: sbom.include_workspace_crates (true)"),
    db: Optional[Path] = typer.Option(None, "--db", help="vulnerability database (default: sbom.vuln_db_path)"),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="progress on stderr (default: when stderr is a terminal)"),
    config: Optional[Path] = typer.Option(None, "--config", help="config file (default: $IRONPOST_CONFIG, ./ironpost.toml, /etc/ironpost/ironpost.toml)"),
) -> None:
    """Find lockfiles under --dir and report packages with known vulnerabilities.

    Exit code: 0 clean (or nothing at/above --fail-on), 1 a finding at/above --fail-on or a lockfile
    that could not be parsed, 2 usage, config or database error.

    Example: ironpost cli scan sbom --dir ./project --format sarif --fail-on high -o scan.sarif
    """
    import orjson
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ironpost.core.errors import ConfigError, IronpostError
    from ironpost.cli.common import load_cli_config
    from ironpost.sbom.paths import vulndb_path
    from ironpost.sbom.report import table, to_json, to_sarif
    from ironpost.sbom.scan import scan as run_scan
    from ironpost.sbom.severity import at_least

    if fmt not in ("table", "json", "sarif"):
        raise typer.BadParameter(f"expected table, json or sarif, found {fmt!r}", param_hint="--format")
    _severity(fail_on, "--fail-on")
    _severity(min_severity, "--min-severity")
    err = Console(stderr=True)
    try:
        cfg = load_cli_config(config)
        sec = cfg.section("sbom")
        threshold = min_severity or sec.min_severity
        show_unknown = sec.show_unknown if min_severity is None else True
        show_progress = sys.stderr.isatty() if progress is None else progress
        kwargs = {"exclude": [*sec.exclude, *exclude], "min_severity": threshold, "show_unknown": show_unknown,
                  "include_workspace": sec.include_workspace_crates if workspace is None else workspace}
        if show_progress:
            with Progress(TextColumn("scanning lockfiles"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("{task.description}"), console=err, transient=True) as bar:
                task = bar.add_task("", total=None)
                res = run_scan(dirs, vulndb_path(cfg, db), **kwargs, progress=lambda what, done, total: bar.update(
                    task, completed=done, total=total, description=Path(what).name if what else "matching"))
        else:
            res = run_scan(dirs, vulndb_path(cfg, db), **kwargs)
    except ConfigError as exc:
        typer.echo(f"config error: {exc}", err=True)
        raise typer.Exit(2)
    except IronpostError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)

    base = str(dirs[0]) if len(dirs) == 1 and dirs[0].is_dir() else None
    if fmt == "table":
        with open(output, "w", encoding="utf-8") if output else contextlib.nullcontext(None) as fh:
            out = Console(file=fh, width=200 if output else None)
            out.print(table(res))
            s = res.summary()
            out.print(f"{s['findings']} findings ({', '.join(f'{k}: {v}' for k, v in sorted(s['by_severity'].items())) or 'none'}), "
                      f"{s['filtered_out']} below {threshold}, {s['lockfiles']} lockfiles, {s['packages']} packages, {s['seconds']} s")
    else:
        doc = to_json(res) if fmt == "json" else to_sarif(res, base)
        data = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
        if output:
            output.write_bytes(data + b"\n")
        else:
            sys.stdout.write(data.decode() + "\n")
    for e in res.errors:
        typer.echo(f"lockfile error: {e}", err=True)
    # an unscored finding trips only --fail-on unknown: it cannot be said to be "high"
    failing = [f for f in res.findings if fail_on and (at_least(f.severity, fail_on) if f.severity != "unknown" else fail_on == "unknown")]
    if failing:
        typer.echo(f"{len(failing)} findings at or above {fail_on}", err=True)
        raise typer.Exit(1)
    if res.errors:
        raise typer.Exit(1)


@app.command("now")
def now(
    config: Optional[Path] = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="print the daemon's summary as JSON"),
) -> None:
    """Ask the running daemon to scan [sbom] scan_dirs now; new findings become alerts.

    Example: ironpost cli scan now --config /etc/ironpost/ironpost.toml

    Exit code 1 when the scan failed or the daemon does not run the sbom module.
    """
    import orjson

    from ironpost.cli.control import daemon_request

    resp = daemon_request(config, {"cmd": "module", "module": "sbom", "op": "scan"})
    if not resp.get("ok"):
        typer.echo(f"error: {resp.get('error')}", err=True)
        raise typer.Exit(1)
    if json_out:
        typer.echo(orjson.dumps(resp, option=orjson.OPT_INDENT_2).decode())
        return
    if resp.get("note"):
        typer.echo(resp["note"])
    typer.echo(f"{resp.get('findings', 0)} findings ({resp.get('new', 0)} new) in {resp.get('lockfiles', 0)} lockfiles, "
               f"{resp.get('packages', 0)} packages")
