"""Collectors: where log lines come from (files, syslog UDP/TCP, stdin).

Every collector has the same shape (see base.Collector): built from a config dataclass,
`await run(emit)` delivers buffers of whole lines, `metrics()` reports counters.
`build_collectors(config, data_dir)` makes the ones [log_pipeline] asks for.
"""

from __future__ import annotations

from pathlib import Path

from ironpost.core.config import Config
from ironpost.core.errors import LogPipelineError
from ironpost.core.netaddr import parse_addr
from ironpost.log_pipeline.collectors.base import Collector, Emit
from ironpost.log_pipeline.collectors.file_tail import FileTail, FileTailConfig
from ironpost.log_pipeline.collectors.stdin import StdinCollector, StdinConfig
from ironpost.log_pipeline.collectors.syslog_tcp import SyslogTcp, SyslogTcpConfig
from ironpost.log_pipeline.collectors.syslog_udp import SyslogUdp, SyslogUdpConfig


def build_collectors(config: Config, data_dir: str | Path | None = None) -> list[Collector]:
    """The collectors `sources` selects that have something to read: file needs watch_paths,
    syslog an address (syslog_bind for both protocols, syslog_udp / syslog_tcp for one)."""
    lp = config.section("log_pipeline")
    data_dir = Path(data_dir) if data_dir is not None else config.data_dir
    out: list[Collector] = []
    if "file" in lp.sources and lp.watch_paths:
        offsets = Path(lp.file_offsets_path) if lp.file_offsets_path else data_dir / "file_offsets.json"
        out.append(FileTail(FileTailConfig(
            globs=list(lp.watch_paths), offsets_path=offsets, max_line=lp.max_line_bytes,
            poll_interval=lp.files_poll_interval_secs, start_at=lp.files_start_at)))
    if "syslog" not in lp.sources:
        return out
    udp = lp.syslog_udp or lp.syslog_bind
    tcp = lp.syslog_tcp or lp.syslog_bind
    if udp:
        host, port = _addr("syslog_udp" if lp.syslog_udp else "syslog_bind", udp)
        out.append(SyslogUdp(SyslogUdpConfig(host, port, max_line=lp.max_line_bytes, queue_size=lp.udp_queue_size)))
    if tcp:
        host, port = _addr("syslog_tcp" if lp.syslog_tcp else "syslog_bind", tcp)
        out.append(SyslogTcp(SyslogTcpConfig(
            host, port, max_line=lp.max_line_bytes, idle_timeout=lp.tcp_idle_timeout_secs,
            max_connections=lp.tcp_max_connections)))
    return out


def _addr(key: str, value: str) -> tuple[str, int]:
    try:
        return parse_addr(value)
    except ValueError as exc:
        raise LogPipelineError(f"log_pipeline.{key}: expected host:port, found {value!r}") from exc


__all__ = [
    "Collector", "Emit", "build_collectors",
    "FileTail", "FileTailConfig", "SyslogUdp", "SyslogUdpConfig", "SyslogTcp", "SyslogTcpConfig",
    "StdinCollector", "StdinConfig",
]
