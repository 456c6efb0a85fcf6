"""Compile, load, attach and detach the XDP program (bcc), and hand out its maps.

One compile per start (about 1.5-2 s). Maps named in layout.PIN_NAMES are pinned under the
pin dir: bcc reuses an existing pin, so the blocklist survives restarts and the CLI can
edit it with no daemon. The ring buffer is not pinned (one consumer: this process).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from ironpost.core.errors import EbpfError
from ironpost.ebpf import layout
from ironpost.ebpf.bpfsys import RawMap, possible_cpus
from ironpost.ebpf.maps import Blocklist, Stats

log = logging.getLogger("ironpost.ebpf")

# XDP_FLAGS_* from linux/if_link.h; IFLA_XDP_ATTACHED modes as `ip -j link` reports them.
XDP_FLAGS = {"skb": 1 << 1, "native": 1 << 2, "hw": 1 << 3}
ATTACHED_MODE_FLAGS = {1: XDP_FLAGS["native"], 2: XDP_FLAGS["skb"], 3: XDP_FLAGS["hw"]}
MODE_NAMES = {1: "native", 2: "skb", 3: "hw", 4: "multi"}


def source_path() -> Path:
    """The C source in the repository's bpf/, or bpf/ inside a PyInstaller bundle."""
    name = "ironpost_xdp.c"
    candidates = [Path(__file__).resolve().parents[2] / "bpf" / name]
    if getattr(sys, "frozen", False):
        candidates.insert(0, Path(getattr(sys, "_MEIPASS", "")) / "bpf" / name)
    candidates.append(Path("/usr/share/ironpost/bpf") / name)
    for c in candidates:
        if c.is_file():
            return c
    raise EbpfError(f"XDP program source {name} not found (looked in {', '.join(map(str, candidates))})")


def ensure_bpffs(pin_dir: str) -> None:
    """Pins need a bpffs; mount one on /sys/fs/bpf when the host has not (as systemd does)."""
    root = "/sys/fs/bpf"
    if pin_dir.startswith(root + "/"):
        with open("/proc/mounts") as f:
            mounted = any(line.split()[1:3] == [root, "bpf"] for line in f)
        if not mounted:
            r = subprocess.run(["mount", "-t", "bpf", "bpf", root], capture_output=True, text=True)
            if r.returncode != 0:
                raise EbpfError(f"{root} is not a bpffs and mounting one failed: {r.stderr.strip()}")
    try:
        os.makedirs(pin_dir, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise EbpfError(f"cannot create pin dir {pin_dir}: {exc.strerror}") from None


def xdp_state(interface: str) -> dict | None:
    """The XDP program attached to an interface per `ip -j -d link`: {mode, id, name} or None."""
    r = subprocess.run(["ip", "-j", "-d", "link", "show", "dev", interface], capture_output=True, text=True)
    if r.returncode != 0:
        raise EbpfError(f"interface {interface!r} not found ({r.stderr.strip() or 'ip link failed'})")
    try:
        info = json.loads(r.stdout)[0]
    except (ValueError, IndexError) as exc:
        raise EbpfError(f"cannot parse `ip -j link` output for {interface}: {exc}") from None
    xdp = info.get("xdp")
    if not xdp:
        return None
    prog = xdp.get("prog") or {}
    if not prog and xdp.get("attached"):
        prog = xdp["attached"][0].get("prog") or {}
    return {"mode": xdp.get("mode", 0), "id": prog.get("id"), "name": prog.get("name", "")}


class XdpLoader:
    def __init__(self, interface: str, mode: str = "skb", pin_dir: str = layout.DEFAULT_PIN_DIR,
                 ringbuf_pages: int = 2048, sample_rate: int = 1, scan_refresh_ms: int = 1000):
        if mode not in XDP_FLAGS:
            raise EbpfError(f"xdp_mode {mode!r}: expected one of {', '.join(XDP_FLAGS)}")
        if ringbuf_pages <= 0 or ringbuf_pages & (ringbuf_pages - 1):
            raise EbpfError(f"ringbuf_pages {ringbuf_pages}: must be a power of two")
        self.interface = interface
        self.mode = mode
        self.pin_dir = pin_dir
        self.ringbuf_pages = ringbuf_pages
        self.sample_rate = sample_rate
        self.scan_refresh_ms = scan_refresh_ms
        self._bpf = None
        self._fn = None
        self.attached = False
        self.replaced_stale: dict | None = None
        self.blocklist: Blocklist | None = None
        self.stats: Stats | None = None
        self._config: RawMap | None = None

    # -- compile ---------------------------------------------------------------------
    def compile(self) -> None:
        try:
            from bcc import BPF
        except ImportError as exc:
            raise EbpfError(f"bcc is not importable ({exc}): install python3-bpfcc and run packaging/setup-bcc.sh") from None
        ensure_bpffs(self.pin_dir)
        p = self.pin_dir.rstrip("/")
        cflags = [f'-DPIN_{n.upper()}="{p}/{n}"' for n in layout.PIN_NAMES]
        cflags.append(f"-DRB_PAGES={self.ringbuf_pages}")
        cflags.append("-w")
        try:
            self._bpf = BPF(src_file=str(source_path()).encode(), cflags=cflags)
            self._fn = self._bpf.load_func(layout.PROG_NAME.encode(), BPF.XDP)
        except Exception as exc:  # bcc raises bare Exception for compile and verifier failures
            raise EbpfError(f"compiling/loading {source_path().name} failed: {exc} (pinned maps under "
                            f"{self.pin_dir} from another Ironpost version must be removed first)") from None
        b = self._bpf
        ncpu = possible_cpus()
        self.blocklist = Blocklist(
            RawMap(b[b"block_v4"].map_fd, layout.LPM_V4_KEY.size, layout.BLOCK_VAL.size),
            RawMap(b[b"block_v6"].map_fd, layout.LPM_V6_KEY.size, layout.BLOCK_VAL.size),
        )
        self.stats = Stats(RawMap(b[b"stats"].map_fd, 4, 8 * ncpu))
        self._config = RawMap(b[b"config"].map_fd, 4, 4)
        self.set_sample_rate(self.sample_rate)
        self.set_scan_refresh(self.scan_refresh_ms)

    @property
    def compiled(self) -> bool:
        return self._fn is not None

    @property
    def ringbuf_fd(self) -> int:
        self._need_compiled()
        return self._bpf[b"events"].map_fd

    def _need_compiled(self) -> None:
        if self._bpf is None:
            raise EbpfError("XDP program not compiled yet")

    def set_sample_rate(self, rate: int) -> None:
        self._need_compiled()
        self.sample_rate = max(1, int(rate))
        self._config.update(layout.CONFIG_SAMPLE_RATE.to_bytes(4, "little"), self.sample_rate.to_bytes(4, "little"))

    def set_scan_refresh(self, ms: int) -> None:
        """Under sampling, a UDP (source, destination port) pair is always sent when new and
        again after `ms` (bpf/ironpost_xdp.c port_first_seen)."""
        self._need_compiled()
        self.scan_refresh_ms = max(1, min(int(ms), 2**32 - 1))
        self._config.update(layout.CONFIG_SCAN_REFRESH_MS.to_bytes(4, "little"), self.scan_refresh_ms.to_bytes(4, "little"))

    # -- attach / detach -----------------------------------------------------------
    def attach(self) -> None:
        from bcc import BPF

        self._need_compiled()
        state = xdp_state(self.interface)
        if state is not None:
            if state["name"] != layout.PROG_NAME:
                raise EbpfError(
                    f"interface {self.interface} already has a foreign XDP program "
                    f"(id {state['id']}, name {state['name']!r}); not replacing it")
            # Left by a crashed Ironpost: drop it in whatever mode it was attached.
            flags = ATTACHED_MODE_FLAGS.get(state["mode"], 0)
            try:
                BPF.remove_xdp(self.interface.encode(), flags)
            except Exception as exc:
                raise EbpfError(f"cannot remove stale Ironpost XDP program id {state['id']} from {self.interface}: {exc}") from None
            self.replaced_stale = state
            log.warning("replaced a stale Ironpost XDP program", extra={
                "interface": self.interface, "prog_id": state["id"], "mode": MODE_NAMES.get(state["mode"], "?")})
        try:
            BPF.attach_xdp(self.interface.encode(), self._fn, XDP_FLAGS[self.mode])
        except Exception as exc:
            hint = ' (set xdp_mode = "skb" for generic mode)' if self.mode != "skb" else ""
            raise EbpfError(f"interface {self.interface} refused XDP in {self.mode} mode: {_reason(exc)}{hint}") from None
        self.attached = True
        log.info("XDP attached", extra={"interface": self.interface, "mode": self.mode})

    def detach(self) -> None:
        if not self.attached:
            return
        from bcc import BPF

        try:
            BPF.remove_xdp(self.interface.encode(), XDP_FLAGS[self.mode])
        except Exception as exc:
            # The interface may be gone (veth deleted): then nothing is attached anymore.
            log.warning("XDP detach failed", extra={"interface": self.interface, "error": str(exc)})
        self.attached = False

    def close(self) -> None:
        """Detach and free everything (pinned maps stay)."""
        self.detach()
        if self._bpf is not None:
            self._bpf.cleanup()
            self._bpf = None
            self._fn = None


def _reason(exc: Exception) -> str:
    msg = str(exc)
    return msg.rsplit(": ", 1)[-1] if ": " in msg else msg or errno.errorcode.get(0, "?")
