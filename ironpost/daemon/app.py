"""The daemon: one process, one event loop (uvloop), the enabled modules under a supervisor.

Lifecycle: load config -> PID file -> store (migrations) -> storage writer -> modules ->
control socket and HTTP. SIGTERM/SIGINT drain the queues and flush storage within
shutdown_timeout_secs, then remove the PID file. SIGHUP (or `cli reload`) loads the config
again and applies it, or keeps the old one and says why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from typing import Any

from ironpost import __version__
from ironpost.core import extensions
from ironpost.core.bus import Bus
from ironpost.core.config import Config, load_config
from ironpost.core.decisions import DecisionLedger
from ironpost.core.errors import ConfigError, DaemonError, IronpostError
from ironpost.core.fsmode import UMASK, check_data_dir, tighten
from ironpost.core.logging import set_level, setup_logging
from ironpost.core.module import ModuleContext, ModuleUnavailable
from ironpost.daemon.client import runtime_paths
from ironpost.daemon.control import ControlServer
from ironpost.daemon.http import HttpServer
from ironpost.daemon.pidfile import PidFile
from ironpost.daemon.storage_writer import StorageWriter
from ironpost.daemon.supervisor import Supervisor
from ironpost.daemon.wiring import MODULES, build_module
from ironpost.storage import open_store

log = logging.getLogger("ironpost.daemon")

# Keys that only take effect on restart: the reload reports them rather than pretending.
RESTART_ONLY = {"general": {"data_dir", "pid_file", "control_socket", "http_listen", "bus_capacity"}}


class Daemon:
    def __init__(self, config_path: str | None, config: Config | None = None):
        self.config_path = config_path
        self.config = config or load_config(config_path)
        self.pid_path, self.socket_path = runtime_paths(self.config)
        self.started = time.time()
        self.stopping = False
        self.reloads = {"applied": 0, "rejected": 0}
        self._stop: asyncio.Event | None = None
        self.http: HttpServer | None = None

    # ---- lifecycle -------------------------------------------------------------------
    def run(self) -> int:
        import uvloop

        g = self.config.general
        # Before the first file is created: the store holds log lines other users must not read.
        os.umask(UMASK)
        setup_logging(g.log_level, g.log_format)
        check_data_dir(self.config.data_dir)
        pid = PidFile(self.pid_path)
        pid.acquire()  # a second daemon stops here, having changed nothing
        if pid.stale_replaced:
            log.warning("replaced a stale PID file", extra={"pid_file": str(self.pid_path)})
        tighten(self.config.data_dir)
        try:
            return uvloop.run(self.main())
        finally:
            pid.release()

    async def main(self) -> int:
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        # Handlers first: a SIGTERM during start-up must still end in an orderly shutdown.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        cfg = self.config
        self.bus = Bus(cfg.general.bus_capacity)
        self.store = open_store(cfg)
        try:
            await asyncio.to_thread(self.store.migrate)
        except IronpostError as exc:
            log.warning("store not ready, alerts will be spooled until it is: %s", exc)
        st = cfg.section("log_pipeline.storage")
        lp = cfg.section("log_pipeline")
        self.writer = StorageWriter(self.bus, self.store, batch_size=lp.batch_size, flush_interval=lp.flush_interval_secs,
                                    retention_days=st.retention_days)
        writer_task = asyncio.create_task(self.writer.run(), name="storage-writer")
        ext = extensions.report()  # a broken build is said here, in the daemon's own log format
        if ext["missing"]:
            log.error("extensions missing: their pure-Python twins run, about 50x slower; rebuild (make build)",
                      extra={"missing": ext["missing"]})
        elif ext["mode"] == "twins":
            log.info("extensions disabled (IRONPOST_NO_EXTENSIONS): the pure-Python twins run")
        # What is banned, by whom, until when: kept across restarts; the ban manager writes it,
        # the CrowdSec-compatible API reads it.
        self.decisions = DecisionLedger(cfg.data_dir / "decisions.db")
        self.ctx = ModuleContext(config=cfg, bus=self.bus, data_dir=cfg.data_dir, store=self.store, log=log,
                                 decisions=self.decisions)
        if cfg.general.http_listen:
            # bound before any module starts (a taken port stops the daemon before it reads
            # anything) and before the control socket appears (`status` names the real port)
            http = HttpServer(cfg.general.http_listen, self.health, self.metrics)
            try:
                await http.start()
            except OSError as exc:
                writer_task.cancel()
                self.store.close()
                raise DaemonError(f"cannot listen on {cfg.general.http_listen} for /healthz and /metrics "
                                  f"([general] http_listen): {exc.strerror or exc}") from exc
            self.http = http
            if not http.loopback:
                log.warning("/metrics and /healthz listen beyond loopback, as configured",
                            extra={"http_listen": cfg.general.http_listen})
        self.supervisor = Supervisor(self.ctx)
        self.unavailable: dict[str, str] = {}
        for section in MODULES:
            if cfg.section(section).enabled:
                self._start_module(section, cfg)

        self.control = ControlServer(self.socket_path, self.handle_control)
        await self.control.start()
        log.info(
            "ironpost daemon started",
            extra={"version": __version__, "pid": os.getpid(), "modules": sorted(self.supervisor.modules),
                   "control_socket": str(self.socket_path), "http": cfg.general.http_listen},
        )
        await self._stop.wait()
        return await self.shutdown(writer_task)

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def shutdown(self, writer_task: asyncio.Task) -> int:
        self.stopping = True
        timeout = self.config.general.shutdown_timeout_secs
        log.info("stopping: draining queues and flushing storage", extra={"timeout_secs": timeout})
        await self.control.close()
        if self.http:
            await self.http.close()
        code = 0
        try:
            async with asyncio.timeout(timeout):
                await self.supervisor.stop_all()  # sources stop producing first
                writer_task.cancel()
                try:
                    await writer_task
                except asyncio.CancelledError:
                    pass
                flushed = await self.writer.flush()
                await asyncio.to_thread(self.store.replay)
                log.info("storage flushed", extra={"flushed": flushed, "written": self.writer.written})
        except TimeoutError:
            # Whatever is still queued goes to the spool so a restart replays it.
            left = [e for sub in self.writer.subs for e in sub.drain_nowait()]
            if left:
                self.store.spool(left)
            log.error("shutdown timed out; spooled %d queued events", len(left))
            code = 1
        self.store.close()
        self.decisions.close()
        log.info("ironpost daemon stopped")
        return code

    # ---- modules -------------------------------------------------------------------------
    def _start_module(self, section: str, cfg: Config) -> None:
        try:
            module = build_module(section, cfg)
        except ModuleUnavailable as exc:
            self.unavailable[section] = str(exc)
            log.warning("module %s unavailable: %s", section, exc)
            return
        except ImportError as exc:
            self.unavailable[section] = f"not installed in this build: {exc}"
            log.error("module %s cannot be loaded: %s", section, exc)
            return
        self.unavailable.pop(section, None)
        self.supervisor.start(module)

    async def reload(self) -> dict[str, Any]:
        async with self._reload_lock:  # SIGHUP and `cli reload` at once must not interleave
            return await self._reload()

    async def _reload(self) -> dict[str, Any]:
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            self.reloads["rejected"] += 1
            log.error("reload rejected, keeping the running config", extra={"problems": exc.problems})
            return {"ok": False, "error": "invalid config; the running config is kept", "problems": exc.problems}
        old = self.config
        changed, restart_needed = [], []
        for name, keys in RESTART_ONLY.items():
            for key in keys:
                if getattr(old.section(name), key) != getattr(new.section(name), key):
                    restart_needed.append(f"{name}.{key}")
        g = new.general
        set_level(g.log_level)
        if g.log_format != old.general.log_format:
            setup_logging(g.log_level, g.log_format)
        if old.general != new.general:
            changed.append("general")
        self.config = new
        self.ctx.config = new
        reloaded, failed = [], {}
        for section in MODULES:
            was, now = old.section(section), new.section(section)
            sub_changed = section == "log_pipeline" and old.section("log_pipeline.storage") != new.section("log_pipeline.storage")
            section_changed = was != now or sub_changed
            if section_changed:
                changed.append(section)
            running = self.supervisor.modules.get(section)
            if not now.enabled:
                if running is not None:
                    await self.supervisor.stop(section)
            elif running is None:
                if section_changed:
                    self._start_module(section, new)
            elif hasattr(running.module, "reload"):
                # Called even when the section is unchanged: reload is how rules and policies
                # on disk are read again. A module that refuses keeps what it had.
                try:
                    await running.module.reload(new)
                    reloaded.append(section)
                except IronpostError as exc:
                    failed[section] = str(exc)
            elif section_changed:
                await self.supervisor.stop(section)
                self._start_module(section, new)
        self.reloads["applied"] += 1
        log.info("config reloaded", extra={"changed": changed, "reloaded": reloaded, "restart_needed": restart_needed})
        if failed:
            self.reloads["rejected"] += 1
            log.error("reload refused by modules; they keep their previous state", extra={"problems": failed})
            return {"ok": False, "error": "some modules refused the reload and keep their previous state",
                    "problems": [f"{m}: {why}" for m, why in failed.items()], "changed": changed, "reloaded": reloaded}
        return {"ok": True, "changed": changed, "reloaded": reloaded, "restart_needed": restart_needed}

    # ---- control and observability -----------------------------------------------------
    def status_or_none(self) -> dict[str, Any] | None:
        """The status once start-up has wired everything, else None (for tests and probes)."""
        return self.status() if hasattr(self, "control") else None

    def status(self) -> dict[str, Any]:
        modules = self.supervisor.status()
        for name, why in self.unavailable.items():
            modules[name] = {"state": "unavailable", "restarts": 0, "last_error": why}
        return {
            "ok": True,
            "version": __version__,
            "pid": os.getpid(),
            "uptime_secs": round(time.time() - self.started, 3),
            "config": self.config_path,
            "modules": modules,
            "bus_pending": self.bus.pending(),
            "store": self.store.name,
            "spooled": self.store.spooled(),
            "alerts_written": self.writer.written,
            "http": f"{self.http.host}:{self.http.port}" if self.http else None,
            "stopping": self.stopping,
            "extensions": extensions.report(),
        }

    def health(self) -> dict[str, Any]:
        failing = [n for n, s in self.supervisor.status().items() if s["state"] == "backoff"]
        return {"status": "degraded" if failing else "ok", "failing": failing, "uptime_secs": round(time.time() - self.started, 3)}

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {"up": 1, "uptime_seconds": time.time() - self.started}
        out.update(self.bus.metrics())
        out.update(self.store.metrics())
        out.update(extensions.metrics())
        out["storage_written_total"] = self.writer.written
        out["reloads_total{result=\"applied\"}"] = self.reloads["applied"]
        out["reloads_total{result=\"rejected\"}"] = self.reloads["rejected"]
        now = time.monotonic()
        for name, st in self.supervisor.modules.items():
            out[f'module_up{{module="{name}"}}'] = 1 if st.state == "running" else 0
            out[f'module_unavailable{{module="{name}"}}'] = 1 if st.state == "unavailable" else 0
            out[f'module_restarts_total{{module="{name}"}}'] = st.restarts
            out[f'module_retries_total{{module="{name}"}}'] = st.retries
            out[f'module_stalls_total{{module="{name}"}}'] = st.stalls
            waiting = st.next_attempt_at is not None and st.state in ("backoff", "unavailable")
            out[f'module_retry_in_seconds{{module="{name}"}}'] = round(max(0.0, st.next_attempt_at - now), 1) if waiting else 0
            try:
                out.update(st.module.metrics())
            except Exception as exc:  # a module's metrics bug must not break /metrics
                log.warning("metrics of %s failed: %s", name, exc)
        for name in self.unavailable:  # could not even be loaded (not in this build)
            out[f'module_up{{module="{name}"}}'] = 0
            out[f'module_unavailable{{module="{name}"}}'] = 1
        try:
            import resource

            out["resident_memory_max_kilobytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        except ImportError:
            pass
        return out

    async def handle_control(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req.get("cmd")
        if cmd == "status":
            return self.status()
        if cmd == "reload":
            return await self.reload()
        if cmd == "metrics":
            return {"ok": True, "metrics": self.metrics()}
        if cmd == "stop":
            self.request_stop()
            return {"ok": True}
        if cmd == "module":
            name = req.get("module", "")
            st = self.supervisor.modules.get(name)
            if st is None:
                why = self.unavailable.get(name, "not enabled in the config")
                return {"ok": False, "error": f"module {name!r} is not running ({why})"}
            if not hasattr(st.module, "control"):
                return {"ok": False, "error": f"module {name!r} has no control operations"}
            result = await st.module.control(req.get("op", ""), req.get("args") or {})
            return {"ok": True, **result} if "ok" not in result else result
        return {"ok": False, "error": f"unknown command {cmd!r}; expected status, reload, metrics, stop or module"}
