"""ironpost cli net: the kernel blocklist and counters of the network module.

Through the running daemon's control socket when it runs (the daemon records each block and
unblock as an action); otherwise directly on the maps pinned under [ebpf] pin_dir (root
needed), which the XDP program reads when it is next attached, or right away if it still is.
A direct block/unblock is recorded here, as an ActionEvent written to the configured store,
so `ironpost cli actions list` shows it either way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import orjson
import typer

from ironpost.core.errors import DaemonError, EbpfError
from ironpost.core.events import ActionEvent

from ironpost.cli.common import ConfigOption, load_cli_config, record_action

app = typer.Typer(help="Network module: kernel (XDP) blocklist and packet counters.", no_args_is_help=True)

DirectOption = typer.Option(False, "--direct", help="Skip the daemon; edit the pinned maps directly (root).")
JsonOption = typer.Option(False, "--json", help="Print JSON.")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_ttl(text: str) -> float:
    """'90' / '90s' / '30m' / '1h' / '2d' / '1w' -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "")
    if not m or float(m.group(1)) <= 0:
        raise typer.BadParameter(f"{text!r}: expected a duration such as 90s, 30m, 1h, 2d")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def _usage(message: str):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _fail(message: str):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _via_daemon(cfg, op: str, args: dict[str, Any]) -> dict | None:
    """The daemon's answer, or None when no daemon (or no running network module) can answer."""
    try:
        from ironpost.daemon.client import request
    except ImportError:
        return None
    sock = cfg.resolve_path("general", "control_socket", "ironpost.sock")
    if not sock.exists():
        return None
    try:
        resp = request(sock, {"cmd": "module", "module": "ebpf", "op": op, "args": args})
    except DaemonError:
        return None
    if not resp.get("ok") and str(resp.get("error", "")).startswith("module 'ebpf' is not running"):
        return None
    return resp


def _direct_action(action: str, net: str, **details) -> ActionEvent:
    return ActionEvent(action=action, target=net, source_module="ebpf", dry_run=False, result="ok",
                       details={"reason": "manual", "via": "cli", **details})


def _on_pinned(cfg, action: str, net: str, op, **details):
    """Run op(blocklist, event) on the maps pinned under [ebpf] pin_dir (no daemon) and record it
    as an action; exit 1 when it fails. Returns what op returned."""
    from ironpost.ebpf.maps import Blocklist

    try:
        bl = Blocklist.open_pinned(cfg.section("ebpf").pin_dir)
    except EbpfError as exc:
        _fail(str(exc))
    ev = _direct_action(action, net, **details)
    result = None
    try:
        result = op(bl, ev)
    except EbpfError as exc:
        ev.result, ev.error = "failed", str(exc)
    finally:
        bl.close()
    record_action(cfg, ev)
    if ev.result == "failed":
        _fail(ev.error)
    return result


def _check_target(target: str) -> str:
    from ironpost.ebpf.maps import parse_target

    try:
        return str(parse_target(target))
    except EbpfError as exc:
        _usage(str(exc))


def _exempt_reason(cfg, net: str) -> str | None:
    """The exempt network `net` touches, seen from this shell (its own SSH session included)."""
    from ironpost.core.netaddr import Exemptions
    from ironpost.ebpf.maps import parse_target

    c = cfg.section("ebpf")
    return Exemptions(c.ban_exempt, include_host=c.ban_exempt_host).reason(parse_target(net))


def _fmt_expiry(expires_at: float | None) -> str:
    import time

    if expires_at is None:
        return "never"
    left = expires_at - time.time()
    return "expired" if left <= 0 else f"in {left:.0f}s"


@app.command()
def block(
    target: str = typer.Argument(..., help="IP address or CIDR, IPv4 or IPv6."),
    ttl: Optional[str] = typer.Option(None, "--ttl", help="Ban duration (90s, 30m, 1h, 2d); default: permanent."),
    config: Optional[Path] = ConfigOption,
    direct: bool = DirectOption,
    force: bool = typer.Option(False, "--force", help="Block even an exempt address (this host, its gateways, "
                               "your SSH peer, [ebpf] ban_exempt)."),
) -> None:
    """Drop all packets from an address or network in the kernel (XDP). The block is recorded as an
    action in the store (by the daemon, or by this command when it edits the pinned maps directly).
    A target that touches an exempt network (this host's addresses, default gateways, the SSH
    session you are in, [ebpf] ban_exempt) is refused unless --force is given.

    Example: ironpost cli net block 203.0.113.7 --ttl 1h
    Example: ironpost cli net block 2001:db8::/32
    """
    net = _check_target(target)
    ttl_secs = parse_ttl(ttl) if ttl is not None else None
    cfg = load_cli_config(config)
    why = _exempt_reason(cfg, net)
    if why and not force:
        _usage(f"{net} touches an exempt network {why}; add --force to block it anyway")
    resp = None if direct else _via_daemon(cfg, "block", {"target": net, "ttl_secs": ttl_secs, "force": force})
    if resp is not None:
        if resp.get("exempt") and not force:
            _usage(resp.get("error", "exempt"))
        if not resp.get("ok"):
            _fail(resp.get("error", "daemon refused"))
        entry = resp.get("entry") or {}
        typer.echo(f"blocked {net} (expires {_fmt_expiry(entry.get('expires_at'))}) via the daemon")
        return

    def add(bl, ev):
        bl.add(net, ttl_secs)
        return bl.get(net)

    entry = _on_pinned(cfg, "block", net, add, ttl_secs=ttl_secs)
    typer.echo(f"blocked {net} (expires {_fmt_expiry(entry.expires_at)}) in the pinned maps")


@app.command()
def unblock(
    target: str = typer.Argument(..., help="The exact IP or CIDR that was blocked."),
    config: Optional[Path] = ConfigOption,
    direct: bool = DirectOption,
) -> None:
    """Remove a blocklist entry. Exit code 1 when it was not there.

    Example: ironpost cli net unblock 203.0.113.7
    """
    net = _check_target(target)
    cfg = load_cli_config(config)
    resp = None if direct else _via_daemon(cfg, "unblock", {"target": net})
    if resp is not None:
        if not resp.get("ok"):
            _fail(resp.get("error", "daemon refused"))
        removed = resp.get("removed")
    else:
        def remove(bl, ev):
            if not bl.remove(net):
                ev.result, ev.error = "skipped", "not in the blocklist"
                return False
            return True

        removed = _on_pinned(cfg, "unblock", net, remove)
    if not removed:
        _fail(f"{net} is not in the blocklist")
    typer.echo(f"unblocked {net}")


def _read(cfg, direct: bool, op: str, key: str, pinned, read):
    """resp[key] of a daemon op, or the same data read from the pinned map (`pinned`) when
    no daemon runs or --direct is given."""
    resp = None if direct else _via_daemon(cfg, op, {})
    if resp is not None:
        if not resp.get("ok"):
            _fail(resp.get("error", "daemon refused"))
        return resp[key]
    try:
        m = pinned.open_pinned(cfg.section("ebpf").pin_dir)
        try:
            return read(m)
        finally:
            m.close()
    except EbpfError as exc:
        _fail(str(exc))


@app.command("list")
def list_(
    config: Optional[Path] = ConfigOption,
    direct: bool = DirectOption,
    json_out: bool = JsonOption,
) -> None:
    """Show blocklist entries with their hit counts and expiry.

    Example: ironpost cli net list --json
    """
    from ironpost.ebpf.maps import Blocklist

    cfg = load_cli_config(config)
    entries = _read(cfg, direct, "list", "entries", Blocklist, lambda bl: [e.to_dict() for e in bl.entries()])
    if json_out:
        typer.echo(orjson.dumps(entries, option=orjson.OPT_INDENT_2).decode())
        return
    if not entries:
        typer.echo("blocklist is empty")
        return
    typer.echo(f"{'NETWORK':<44} {'HITS':>12}  EXPIRES")
    for e in sorted(entries, key=lambda e: e["network"]):
        typer.echo(f"{e['network']:<44} {e['hits']:>12}  {_fmt_expiry(e['expires_at'])}")


@app.command()
def stats(
    config: Optional[Path] = ConfigOption,
    direct: bool = DirectOption,
    json_out: bool = JsonOption,
) -> None:
    """Show the XDP program's counters: packets and bytes per protocol, drops, parse errors.

    Example: ironpost cli net stats
    """
    from ironpost.ebpf.maps import Stats

    cfg = load_cli_config(config)
    kernel = _read(cfg, direct, "stats", "kernel", Stats, lambda st: st.read())
    if json_out:
        typer.echo(orjson.dumps(kernel, option=orjson.OPT_INDENT_2).decode())
        return
    from ironpost.ebpf.layout import PROTO_CLASSES

    typer.echo(f"{'PROTO':<8} {'PACKETS':>14} {'BYTES':>16}")
    for p in PROTO_CLASSES:
        typer.echo(f"{p:<8} {kernel[f'packets_{p}']:>14} {kernel[f'bytes_{p}']:>16}")
    for k in ("dropped_packets", "dropped_bytes", "parse_errors", "ringbuf_full", "records_sent", "handshakes_completed"):
        typer.echo(f"{k:<22} {kernel[k]:>14}")
