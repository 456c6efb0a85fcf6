"""`ironpost cli alerts ...`: read stored alerts from whichever store is configured
(SQLite by default, PostgreSQL when [log_pipeline.storage] postgres_url is set)."""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import orjson
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ironpost.core.errors import ConfigError, StorageError
from ironpost.core.events import SEVERITIES

app = typer.Typer(help="Read stored alerts (SQLite or PostgreSQL, as configured).", no_args_is_help=True)



@app.callback()
def _group() -> None:
    """Read stored alerts (SQLite or PostgreSQL, as configured)."""



_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


def parse_since(text: str, now: float | None = None) -> float:
    """A point in time from "1 hour ago", "30m", "2d", "1h30m", "now", or an ISO timestamp
    (a timestamp without an offset is local time). Raises ValueError saying what it expected."""
    now = time.time() if now is None else now
    raw = text.strip()
    s = raw.lower()
    if s == "now":
        return now
    if s.endswith(" ago"):
        s = s[:-4]
    compact = re.sub(r"(?:,|\band\b|\s)+", "", s)
    pos, total = 0, 0.0
    for m in _PART.finditer(compact):
        if m.start() != pos or m.group(2) not in _UNITS:
            pos = -1
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if compact and pos == len(compact):
        return now - total
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"cannot read {text!r} as a time: expected a duration such as '1 hour ago', '30m', '2d', '1h30m', "
            "or an ISO timestamp such as 2026-11-30T12:00:00Z") from None
    return dt.timestamp()  # naive: local time, like journalctl --since


from ironpost.cli.common import load_cli_config  # noqa: E402


def _fmt_ts(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


_SEV_STYLE = {"info": "dim", "low": "cyan", "medium": "yellow", "high": "bold red", "critical": "bold white on red"}


@app.command("list")
def list_alerts(
    since: Optional[str] = typer.Option(None, "--since", help="only alerts from this time on: '1 hour ago', '30m', '2d', ISO timestamp"),
    severity: Optional[str] = typer.Option(None, "--severity", help=f"minimum severity: {', '.join(SEVERITIES)}"),
    limit: int = typer.Option(100, "--limit", min=1, max=1_000_000, help="at most this many alerts (newest first)"),
    node: Optional[str] = typer.Option(None, "--node", help="only alerts stored by this node ([fleet] node_id, else its host name); "
                                                          "nodes that share one PostgreSQL store their alerts side by side"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line instead of a table"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="ironpost.toml (default: $IRONPOST_CONFIG, ./ironpost.toml, /etc/ironpost/ironpost.toml)"),
) -> None:
    """List stored alerts, newest first.

    Example: ironpost cli alerts list --since "1 hour ago" --severity high --limit 20 --json
             ironpost cli alerts list --node web-3
    """
    err = Console(stderr=True)
    try:
        since_ts = parse_since(since) if since else None
    except ValueError as exc:
        err.print(f"[red]error:[/red] --since: {exc}")
        raise typer.Exit(2)
    if severity is not None and severity not in SEVERITIES:
        err.print(f"[red]error:[/red] --severity: expected one of {', '.join(SEVERITIES)}, found {severity!r}")
        raise typer.Exit(2)
    try:
        cfg = load_cli_config(config)
    except ConfigError as exc:
        err.print(f"[red]config error:[/red] {exc}")
        raise typer.Exit(2)
    from ironpost.storage import open_store

    store = None
    try:
        store = open_store(cfg)
        store.migrate()  # a store that never received an alert has no tables yet
        rows = store.query_alerts(since=since_ts, min_severity=severity, node=node, limit=limit)
    except StorageError as exc:
        err.print(f"[red]error:[/red] cannot read alerts from the {cfg.section('log_pipeline.storage').postgres_url and 'PostgreSQL' or 'SQLite'} store: {exc}")
        raise typer.Exit(1)
    finally:
        if store is not None:
            store.close()

    if as_json:
        out = typer.get_text_stream("stdout")
        for row in rows:
            out.write(orjson.dumps(row, option=orjson.OPT_SORT_KEYS).decode() + "\n")
        return
    # piped or redirected, rich assumes 80 columns and folds the title into a letter per line
    console = Console() if sys.stdout.isatty() else Console(width=200)
    if not rows:
        console.print("no alerts" + (f" since {_fmt_ts(since_ts)} UTC" if since_ts else "") + (f" at {severity} or above" if severity else "")
                      + (f" from node {node}" if node else ""))
        return
    # one node's own store needs no node column; a fleet's shared PostgreSQL does
    show_node = bool(cfg.section("log_pipeline.storage").postgres_url) or len({a.get("node") for a in rows}) > 1
    table = Table(title=f"{len(rows)} alert(s)", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("time (UTC)", *(("node",) if show_node else ()), "severity", "rule", "source"):
        table.add_column(col, no_wrap=True)
    table.add_column("count", no_wrap=True, justify="right")
    table.add_column("title", overflow="fold")
    for a in rows:
        source = a.get("src_ip") or a.get("container_name") or ", ".join(f"{k}={v}" for k, v in (a.get("group") or {}).items()) or "-"
        sev = a.get("severity", "?")
        table.add_row(_fmt_ts(a.get("timestamp", 0.0)), *((a.get("node") or "-",) if show_node else ()),
                      f"[{_SEV_STYLE.get(sev, '')}]{sev}[/]", a.get("rule_id", "?"),
                      source, str(a.get("count", "")), a.get("title", ""))
    console.print(table)
