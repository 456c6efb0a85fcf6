"""ironpost cli fleet: the nodes sharing decisions through Redis ([fleet])."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import orjson
import typer

from ironpost.cli.common import ConfigOption, fail, load_cli_config

app = typer.Typer(help="The fleet: nodes sharing decisions and alerts through Redis Streams (the fleet section).",
                  no_args_is_help=True)


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    secs = max(0.0, time.time() - ts)
    return f"{secs:.0f}s ago" if secs < 120 else f"{secs / 60:.0f}m ago" if secs < 7200 else f"{secs / 3600:.0f}h ago"


@app.command()
def nodes(config: Optional[Path] = ConfigOption,
          json_out: bool = typer.Option(False, "--json", help="Print JSON."),
          stale_secs: float = typer.Option(60.0, "--stale-secs", help="Mark nodes silent this long as stale.")) -> None:
    """List the fleet's nodes from their heartbeats: version, last seen, decisions applied, lag.

    Lag is how many entries of the decisions stream the node has not yet applied.

    Example: ironpost cli fleet nodes --config /etc/ironpost/ironpost.toml
    """
    import redis
    from redis.exceptions import RedisError

    cfg = load_cli_config(config)
    c = cfg.section("fleet")
    try:
        client = redis.Redis.from_url(c.redis_url, socket_timeout=c.redis_timeout_secs,
                                      socket_connect_timeout=c.redis_timeout_secs)
        raw = client.hgetall(c.nodes_key)
        client.close()
    except (RedisError, OSError) as exc:
        fail(f"Redis at {c.redis_url.split('@')[-1]} is not reachable: {exc}")
    rows = []
    for name, body in raw.items():
        try:
            beat = orjson.loads(body)
        except orjson.JSONDecodeError:
            beat = {}
        beat.setdefault("node_id", name.decode(errors="replace"))
        beat["stale"] = time.time() - float(beat.get("last_seen") or 0) > stale_secs
        rows.append(beat)
    rows.sort(key=lambda b: b["node_id"])
    if json_out:
        typer.echo(orjson.dumps(rows).decode())
        return
    if not rows:
        typer.echo(f"no node has written a heartbeat to {c.nodes_key}")
        return
    typer.echo(f"{'NODE':<24} {'VERSION':<10} {'LAST SEEN':<12} {'APPLIED':>9} {'PUBLISHED':>9} {'LAG':>6} {'QUEUED':>7}")
    for b in rows:
        seen = _ago(b.get("last_seen")) + (" (stale)" if b["stale"] else "")
        typer.echo(f"{b['node_id']:<24} {str(b.get('version', '?')):<10} {seen:<12} {b.get('applied', 0):>9} "
                   f"{b.get('published', 0):>9} {b.get('lag', 0):>6} {b.get('outbox', 0):>7}")
