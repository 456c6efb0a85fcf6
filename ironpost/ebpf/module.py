"""EbpfModule: the XDP program, its ring buffer drained in batches, detectors and bans.

run(): check the host (root/caps, bcc, kernel headers) -> compile once -> load the config
blocklist -> attach (replacing a stale Ironpost program) -> drain the ring buffer when the
kernel signals it (epoll on the map fd) -> detectors -> alerts; alerts from any module ->
bans. Whatever happens, the program is detached on the way out.

What the detectors are guaranteed to see, whatever `sample_rate` and `packet_events_per_sec`:
every passed bare SYN and completed handshake (SYN flood, port scan), every drop, and the
first UDP packet from a source to each destination port, resent after scan_refresh_ms (port
scan; bpf/ironpost_xdp.c port_first_seen). Sampling only thins repeats of a known UDP
(source, port) pair and other traffic; packet_events_per_sec only limits PacketEvents, as
detectors read every drained record. Not guaranteed: records lost when the ring buffer is
full (counted, ebpf_kernel_ringbuf_full_total) and UDP fragments without ports.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from pathlib import Path

from ironpost.core.bus import SUPPRESSED_TOPIC
from ironpost.core.config import Config
from ironpost.core.config.sections.ebpf import PAGE
from ironpost.core.config.sections.fleet import node_id_of
from ironpost.core.decisions import DECISIONS_IN, Decision, DecisionLedger
from ironpost.core.errors import EbpfError
from ironpost.core.events import AlertEvent, PacketEvent
from ironpost.core.module import ModuleContext, ModuleUnavailable, wake_or_timeout
from ironpost.ebpf import layout
from ironpost.ebpf.bans import PORT_SCAN_RULE, SYN_FLOOD_RULE, BanManager
from ironpost.ebpf.detectors import BUCKETS, PortScanDetector, SynFloodDetector, slot_ns_for
from ironpost.ebpf.maps import parse_target
from ironpost.ebpf.memory_blocklist import MemoryBlocklist

log = logging.getLogger("ironpost.ebpf")

CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF = 12, 21, 39
MAX_ROUNDS_PER_WAKE = 16  # batches drained before yielding to the event loop


def effective_caps() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def host_problem() -> str | None:
    """One line saying why this host cannot run the module, or None."""
    caps = effective_caps()
    if not (caps >> CAP_BPF & 1 or caps >> CAP_SYS_ADMIN & 1) or not caps >> CAP_NET_ADMIN & 1:
        return (f"network module needs root or CAP_BPF+CAP_NET_ADMIN "
                f"(uid {os.geteuid()} lacks {'CAP_BPF' if not caps >> CAP_BPF & 1 else 'CAP_NET_ADMIN'})")
    try:
        import bcc  # noqa: F401
    except ImportError as exc:
        return (f"network module needs bcc, which is not importable ({exc}): "
                f"apt-get install python3-bpfcc libbpfcc, then run packaging/setup-bcc.sh")
    except OSError as exc:  # libbcc.so missing or broken under a frozen binary
        return f"network module needs Debian's libbpfcc (bcc failed to load: {exc})"
    build = Path(f"/lib/modules/{os.uname().release}/build")
    if not build.exists():
        return f"network module needs kernel headers at {build}: install linux-headers-amd64 and run packaging/setup-bcc.sh"
    return None


def _ntop(family: int, raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if family == 4 else socket.AF_INET6, raw)


class EbpfModule:
    name = "ebpf"

    def __init__(self, config: Config, loader=None):
        # `loader`: an already compiled XdpLoader (tests share one compile); it is detached,
        # not closed, at the end.
        self._wall_offset = time.time() - time.monotonic()  # packet ts_ns is CLOCK_MONOTONIC
        self._apply(config)
        self._given_loader = loader
        self.loader = loader
        self.bans: BanManager | None = None
        self.blocklist = None  # the loader's kernel Blocklist, or a MemoryBlocklist
        self.reader = None
        self.counters = {
            "records": 0, "records_bad": 0, "batches": 0, "packet_events": 0,
            "packet_events_dropped": 0, "packet_events_sampled_out": 0, "alerts": 0,
            "evidence_packets": 0,
        }
        self.alerts_by_rule: dict[str, int] = {}
        self.latency_last = 0.0
        self.latency_max = 0.0
        self._tokens = 0.0
        self._tokens_at = time.monotonic()
        self.running = asyncio.Event()

    def _apply(self, config: Config) -> None:
        self.config = config
        c = self.cfg = config.section("ebpf")
        self.slot_ns = slot_ns_for(c.syn_flood_window_secs, c.port_scan_window_secs)
        self.syn = SynFloodDetector(c.syn_flood_threshold, c.syn_flood_window_secs, self.slot_ns,
                                    c.detector_max_keys, self._wall_offset)
        self.scan = PortScanDetector(c.port_scan_threshold, c.port_scan_window_secs, self.slot_ns,
                                     c.detector_max_keys, self._wall_offset)
        # Under sampling the kernel resends a UDP (source, port) pair after this long, so a
        # port that stays in use stays inside the port-scan window.
        self.scan_refresh_ms = max(1, min(1000, int(c.port_scan_window_secs * 1000 / BUCKETS)))

    # -- lifecycle -------------------------------------------------------------------
    async def run(self, ctx: ModuleContext) -> None:
        if self.cfg.backend == "memory":
            await self._run_memory(ctx)
        else:
            await self._run_xdp(ctx)

    def _ban_manager(self, ctx: ModuleContext, blocklist) -> BanManager:
        ledger = ctx.decisions if ctx.decisions is not None else DecisionLedger()
        bans = BanManager(blocklist, ctx.bus, history_path=Path(ctx.data_dir) / "ban_history.db", ledger=ledger,
                          node_id=node_id_of(self.config), **self._ban_settings(self.cfg))
        log.info("ban exemptions", extra={"exempt": bans.exemptions.as_list()})
        return bans

    def _ban_tasks(self, ctx: ModuleContext, subs) -> list[asyncio.Task]:
        alerts_sub, suppressed_sub, decisions_sub = subs
        return [
            asyncio.create_task(self._alert_loop(alerts_sub), name="ebpf-bans"),
            asyncio.create_task(self._alert_loop(suppressed_sub, suppressed=True), name="ebpf-bans-suppressed"),
            asyncio.create_task(self._decision_loop(decisions_sub), name="ebpf-decisions"),
            asyncio.create_task(self._housekeeping(), name="ebpf-expire"),
        ]

    def _subscribe(self, ctx: ModuleContext):
        return (ctx.bus.subscribe("alerts", "ebpf-bans"), ctx.bus.subscribe(SUPPRESSED_TOPIC, "ebpf-bans"),
                ctx.bus.subscribe(DECISIONS_IN, "ebpf-bans"))

    async def _run_memory(self, ctx: ModuleContext) -> None:
        """Bans without the kernel: decided, recorded, served, expired, but enforced elsewhere."""
        subs = self._subscribe(ctx)
        tasks: list[asyncio.Task] = []
        self.blocklist = MemoryBlocklist()
        try:
            self.bans = self._ban_manager(ctx, self.blocklist)
            restored = self.bans.restore()
            log.info("ban backend: memory (nothing is dropped by Ironpost itself)", extra={"restored": restored})
            tasks = self._ban_tasks(ctx, subs)
            self.running.set()
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                t.result()
        finally:
            self.running.clear()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sub in subs:
                ctx.bus.unsubscribe(sub)
            if self.bans is not None:
                self.bans.close()

    async def _run_xdp(self, ctx: ModuleContext) -> None:
        from ironpost.ebpf.loader import XdpLoader
        from ironpost.ebpf.ringbuf import RingReader

        c = self.cfg
        if self.loader is None:
            problem = host_problem()
            if problem:
                raise ModuleUnavailable(problem)
            loader = XdpLoader(c.interface, c.xdp_mode, c.pin_dir, c.ring_buffer_size // PAGE, c.sample_rate)
            t0 = time.monotonic()
            try:
                await asyncio.to_thread(loader.compile)
            except BaseException:
                loader.close()
                raise
            self.loader = loader
            log.info("XDP program compiled", extra={"secs": round(time.monotonic() - t0, 2)})
        loader = self.loader
        subs = self._subscribe(ctx)
        fd = None
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task] = []
        try:
            loader.set_sample_rate(c.sample_rate)
            loader.set_scan_refresh(self.scan_refresh_ms)
            if c.blocklist:
                loader.blocklist.add_many(c.blocklist)
            self.blocklist = loader.blocklist
            self.bans = self._ban_manager(ctx, loader.blocklist)
            self.bans.adopt_existing()
            restored = self.bans.restore()
            if restored:
                log.info("bans restored from the decision ledger", extra={"restored": restored})
            self.reader = RingReader(loader.ringbuf_fd)
            self.reader.discard_all()  # records from before this start (a crashed run) are stale
            loader.attach()
            wake = asyncio.Event()
            fd = loader.ringbuf_fd
            loop.add_reader(fd, wake.set)
            tasks = [asyncio.create_task(self._drain_loop(ctx, wake), name="ebpf-drain"), *self._ban_tasks(ctx, subs)]
            self.running.set()
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                t.result()  # re-raise the failure for the supervisor
        finally:
            self.running.clear()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if fd is not None:
                loop.remove_reader(fd)
            for sub in subs:
                ctx.bus.unsubscribe(sub)
            if self.bans is not None:
                self.bans.close()
            loader.detach()
            if self.reader is not None:
                self.reader.close()
                self.reader = None
            if self._given_loader is None:
                loader.close()
                self.loader = None

    async def reload(self, config: Config) -> None:
        old = self.cfg
        self._apply(config)
        c = self.cfg
        if self.loader is not None and self.loader.compiled:
            self.loader.set_sample_rate(c.sample_rate)
            self.loader.set_scan_refresh(self.scan_refresh_ms)
        if self.bans is not None:
            self.bans.configure(**self._ban_settings(c))
        restart = [k for k in ("interface", "xdp_mode", "pin_dir", "ring_buffer_size") if getattr(old, k) != getattr(c, k)]
        if restart:
            log.warning("these ebpf keys take effect after a restart", extra={"keys": restart})

    @staticmethod
    def _ban_settings(c) -> dict:
        return dict(auto_block=c.auto_block, ttl_secs=c.ban_ttl_secs, exempt=c.ban_exempt, exempt_host=c.ban_exempt_host,
                    detector_auto_block={SYN_FLOOD_RULE: c.syn_flood_auto_block, PORT_SCAN_RULE: c.port_scan_auto_block},
                    detector_bans_per_minute=c.detector_bans_per_minute, ttl_factor=c.ban_ttl_factor,
                    ttl_max_secs=c.ban_ttl_max_secs)

    # -- loops -----------------------------------------------------------------------
    async def _drain_loop(self, ctx: ModuleContext, wake: asyncio.Event) -> None:
        while True:
            await wake_or_timeout(wake, 0.25)
            wake.clear()
            for _ in range(MAX_ROUNDS_PER_WAKE):
                n = self.reader.read_batch()
                if n == 0:
                    break
                await self._process(ctx, n)
                await asyncio.sleep(0)

    def _pick_budget(self) -> int:
        rate = self.cfg.packet_events_per_sec
        now = time.monotonic()
        self._tokens = min(float(rate), self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        return int(self._tokens)

    def _packet_event(self, rec: tuple) -> PacketEvent:
        fam, sa, da, sport, dport, proto, flags, length, action, ts, vlan, rflags = rec
        return PacketEvent(
            src_ip=_ntop(fam, sa), dst_ip=_ntop(fam, da), src_port=sport, dst_port=dport,
            protocol=layout.PROTO_NAMES.get(proto, str(proto)), tcp_flags=flags, length=length,
            action="drop" if action == layout.XDP_DROP else "pass", timestamp=self._wall_offset + ts / 1e9,
        )

    async def _process(self, ctx: ModuleContext, n: int) -> None:
        from ironpost.ebpf.ringbuf import decode, record_at

        budget = self._pick_budget()
        buf = self.reader.buf
        counts, syn, scan, picked = decode(buf, n, budget, self.slot_ns)
        self._tokens -= len(picked)
        cnt = self.counters
        cnt["batches"] += 1
        cnt["records"] += counts[0]
        cnt["records_bad"] += counts[1]
        cnt["packet_events_sampled_out"] += counts[0] - len(picked)
        evidence: list[PacketEvent] = []

        def packet_at(i: int) -> PacketEvent:
            # The record that triggered an alert becomes a PacketEvent whatever the budget,
            # so the alert's trace_id names a packet that was really published.
            ev = self._packet_event(record_at(buf, i))
            evidence.append(ev)
            return ev

        alerts: list[AlertEvent] = []
        if syn:
            alerts += self.syn.feed(syn, packet_at)
        if scan:
            alerts += self.scan.feed(scan, packet_at)
        bus = ctx.bus
        for ev in evidence:
            cnt["evidence_packets"] += 1
            if not bus.publish_nowait("packets", ev):
                cnt["packet_events_dropped"] += 1
        for a in alerts:
            cnt["alerts"] += 1
            self.alerts_by_rule[a.rule_id] = self.alerts_by_rule.get(a.rule_id, 0) + 1
            log.warning(a.title, extra={"rule_id": a.rule_id, "src_ip": a.src_ip, "count": a.count,
                                        "trace_id": a.trace_id})
            await bus.publish("alerts", a)
        if picked:
            mono = time.monotonic_ns()
            worst = 0
            make = self._packet_event
            for rec in picked:
                worst = max(worst, mono - rec[9])
                if not bus.publish_nowait("packets", make(rec)):
                    cnt["packet_events_dropped"] += 1
            cnt["packet_events"] += len(picked)
            self.latency_last = worst / 1e9
            self.latency_max = max(self.latency_max, self.latency_last)

    async def _alert_loop(self, sub, suppressed: bool = False) -> None:
        async for alert in sub:
            if isinstance(alert, AlertEvent):
                await self.bans.on_alert(alert, suppressed=suppressed)

    async def _decision_loop(self, sub) -> None:
        """Decisions made elsewhere (peer nodes, CrowdSec, lists), applied like our own."""
        while True:
            first = await sub.get()
            batch = [d for d in [first, *sub.drain_nowait(10_000)] if isinstance(d, Decision)]
            await self.bans.apply_many(batch)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            await self.bans.expire()

    # -- observability and control ------------------------------------------------------
    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {f"ebpf_{k}_total": v for k, v in self.counters.items()}
        for rule, n in self.alerts_by_rule.items():
            out[f'ebpf_alerts_by_rule_total{{rule="{rule}"}}'] = n
        out["ebpf_event_latency_seconds"] = self.latency_last
        out["ebpf_event_latency_max_seconds"] = self.latency_max
        out["ebpf_syn_detector_evicted_total"] = self.syn.evicted
        out["ebpf_scan_detector_evicted_total"] = self.scan.evicted
        out["ebpf_syn_detector_late_records_total"] = self.syn.late
        out["ebpf_syn_detector_tracked"] = len(self.syn.keys)
        out["ebpf_scan_detector_tracked"] = len(self.scan.keys)
        if self.bans is not None:
            out["ebpf_bans_active"] = self.bans.active
            for k, v in self.bans.counts.items():
                out[f'ebpf_ban_events_total{{kind="{k}"}}'] = v
        if self.reader is not None:
            out["ebpf_records_bad_size_total"] = self.reader.bad_size
        if self.loader is not None and self.loader.stats is not None:
            try:
                out.update(kernel_metrics(self.loader.stats.read()))
            except EbpfError:
                pass
        return out

    async def control(self, op: str, args: dict) -> dict:
        try:
            if self.blocklist is None or self.bans is None or not self.running.is_set():
                return {"ok": False, "error": "network module is not running yet"}
            if op == "block":
                ttl = args.get("ttl_secs")
                why = self.bans.exempt_reason(parse_target(args.get("target", "")))
                if why and not args.get("force"):
                    return {"ok": False, "exempt": why,
                            "error": f"{args.get('target')} touches an exempt network {why}; add --force to block it anyway"}
                ev = await self.bans.ban(args.get("target", ""), float(ttl) if ttl else None, reason="manual")
                if ev.result != "ok":
                    return {"ok": False, "error": ev.error}
                e = self.blocklist.get(ev.target)
                return {"ok": True, "entry": e.to_dict() if e else None}
            if op == "unblock":
                ev = await self.bans.unban(args.get("target", ""))
                if ev.result == "failed":
                    return {"ok": False, "error": ev.error}
                return {"ok": True, "removed": ev.result == "ok", "network": ev.target}
            if op == "list":
                return {"ok": True, "entries": [e.to_dict() for e in self.blocklist.entries()]}
            if op == "decisions":
                return {"ok": True, "decisions": [d.to_dict() for d in self.bans.ledger.active.values()]}
            if op == "stats" and self.loader is None:
                return {"ok": False, "error": "no kernel counters: [ebpf] backend is memory"}
            if op == "stats":
                return {"ok": True, "kernel": self.loader.stats.read(), "metrics": self.metrics()}
            return {"ok": False, "error": f"unknown op {op!r}; expected block, unblock, list, decisions or stats"}
        except EbpfError as exc:
            return {"ok": False, "error": str(exc)}


def kernel_metrics(stats: dict[str, int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in layout.PROTO_CLASSES:
        out[f'ebpf_kernel_packets_total{{proto="{p}"}}'] = stats[f"packets_{p}"]
        out[f'ebpf_kernel_bytes_total{{proto="{p}"}}'] = stats[f"bytes_{p}"]
    for k in ("dropped_packets", "dropped_bytes", "parse_errors", "ringbuf_full", "records_sent",
              "handshakes_completed", "ipv4_packets", "ipv6_packets"):
        out[f"ebpf_kernel_{k}_total"] = stats[k]
    return out


__all__ = ["EbpfModule", "host_problem", "parse_target"]
