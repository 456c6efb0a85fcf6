"""The SBOM module in the daemon: periodic lockfile scans, an alert per finding that is new since the last scan.

The set of findings of the last scan is kept in <data_dir>/sbom_seen.json, so a restart does not
re-alert on everything; a finding that disappears (package upgraded) and comes back alerts again.
Scans run in a worker thread (parsing and SQLite are blocking) and never overlap.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import orjson

from ironpost.core.config import Config
from ironpost.core.errors import SbomError
from ironpost.core.events import AlertEvent
from ironpost.core.module import ModuleContext, wake_or_timeout
from ironpost.sbom.documents import SUFFIX, render_sbom
from ironpost.sbom.matching import Finding
from ironpost.sbom.paths import sbom_dir, vulndb_path
from ironpost.sbom.scan import ScanResult, scan

log = logging.getLogger("ironpost.sbom")
SEEN_FILE = "sbom_seen.json"
# AlertEvent has no "unknown" level: an unscored advisory is treated as a real, medium vulnerability.
_ALERT_SEVERITY = {"unknown": "medium"}


class SbomModule:
    name = "sbom"

    def __init__(self, config: Config):
        self._config = config
        self._ctx: ModuleContext | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._m: dict[str, float] = {
            "sbom_scans_total": 0, "sbom_scan_errors_total": 0, "sbom_alerts_total": 0, "sbom_lockfiles": 0,
            "sbom_packages": 0, "sbom_findings": 0, "sbom_lockfile_errors": 0, "sbom_last_scan_seconds": 0.0,
            "sbom_last_scan_timestamp": 0.0, "sbom_documents_written_total": 0, "sbom_document_errors_total": 0,
        }
        self._by_sev: dict[str, int] = {}

    # ---- protocol ---------------------------------------------------------------------------------
    async def run(self, ctx: ModuleContext) -> None:
        self._ctx = ctx
        while True:
            try:
                await self.scan_now()
            except SbomError as exc:
                log.warning("sbom scan failed", extra={"error": str(exc)})
            self._wake.clear()
            await wake_or_timeout(self._wake, self._config.section("sbom").scan_interval_secs)

    def metrics(self) -> dict[str, float]:
        out = dict(self._m)
        for sev, n in self._by_sev.items():
            out[f'sbom_findings_by_severity{{severity="{sev}"}}'] = n
        return out

    async def reload(self, config: Config) -> None:
        self._config = config
        self._wake.set()  # new dirs or thresholds take effect with a scan now

    async def control(self, op: str, args: dict) -> dict:
        """Ops for the CLI through the daemon: `scan` runs a scan now and returns its summary."""
        if op != "scan":
            return {"ok": False, "error": f"unknown sbom control op {op!r} (known: scan)"}
        try:
            return {"ok": True, **await self.scan_now()}
        except SbomError as exc:
            return {"ok": False, "error": str(exc)}

    # ---- work -------------------------------------------------------------------------------------
    def _data_dir(self) -> Path:
        return Path(self._ctx.data_dir) if self._ctx else self._config.data_dir

    async def scan_now(self) -> dict[str, Any]:
        async with self._lock:
            sec = self._config.section("sbom")
            dirs = list(sec.scan_dirs)
            if not dirs:
                return {"lockfiles": 0, "packages": 0, "findings": 0, "new": 0, "note": "sbom.scan_dirs is empty"}
            db_path = vulndb_path(self._config)
            try:
                res: ScanResult = await asyncio.to_thread(
                    scan, dirs, db_path, exclude=list(sec.exclude), min_severity=sec.min_severity, show_unknown=sec.show_unknown,
                    include_workspace=sec.include_workspace_crates)
            except SbomError:
                self._m["sbom_scan_errors_total"] += 1
                raise
            new = self._new_findings(res.findings)
            for f in new:
                await self._publish(f)
            self._record(res)
            await asyncio.to_thread(self._write_sbom, res, sec.output_format)
            for e in res.errors:
                log.warning("lockfile skipped", extra={"file": e.file, "line": e.line, "error": e.reason})
            summary = res.summary() | {"new": len(new)}
            log.info("sbom scan done", extra={k: v for k, v in summary.items() if k != "errors"})
            return summary

    def _write_sbom(self, res: ScanResult, fmt: str) -> None:
        """The SBOM of what this scan saw, in [sbom] output_format, replaced atomically so a reader
        never sees half a document."""
        path = sbom_dir(self._data_dir()) / f"sbom{SUFFIX[fmt]}"
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(render_sbom(res.packages, fmt, socket.gethostname()) + "\n", encoding="utf-8")
            os.replace(tmp, path)
            self._m["sbom_documents_written_total"] += 1
        except OSError as exc:
            self._m["sbom_document_errors_total"] += 1
            log.warning("sbom document not written", extra={"file": str(path), "error": str(exc)})

    def _new_findings(self, findings: list[Finding]) -> list[Finding]:
        path = self._data_dir() / SEEN_FILE
        try:
            seen = set(orjson.loads(path.read_bytes()))
        except FileNotFoundError:
            seen = set()
        except (OSError, orjson.JSONDecodeError, TypeError) as exc:
            log.warning("sbom seen-set unreadable, starting afresh", extra={"file": str(path), "error": str(exc)})
            seen = set()
        current = {f.key for f in findings}
        tmp = path.with_suffix(".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(orjson.dumps(sorted(current)))
            os.replace(tmp, path)
        except OSError as exc:
            raise SbomError(f"cannot save {path}: {exc}") from None
        return [f for f in findings if f.key not in seen]

    async def _publish(self, f: Finding) -> None:
        sev = _ALERT_SEVERITY.get(f.severity, f.severity)
        fixed = f"fixed in {', '.join(f.fixed)}" if f.fixed else "no fixed version"
        ev = AlertEvent(
            rule_id=f"sbom:{f.advisory_id}",
            title=f"{f.package} {f.version} ({f.ecosystem}) is affected by {f.advisory_id}",
            severity=sev,
            source_module="sbom",
            description=f"{f.summary} — {fixed}; aliases: {', '.join(f.aliases) or 'none'}; lockfile: {f.lockfile}",
            group={"ecosystem": f.ecosystem, "package": f.package, "version": f.version, "lockfile": f.lockfile},
            tags=["sbom", "vulnerability", f.ecosystem, f"severity:{f.severity}", *f.aliases],
            details=f.to_dict(),
        )
        if self._ctx is not None:
            await self._ctx.bus.publish("alerts", ev)
        self._m["sbom_alerts_total"] += 1

    def _record(self, res: ScanResult) -> None:
        m = self._m
        m["sbom_scans_total"] += 1
        m["sbom_lockfiles"] = len(res.lockfiles)
        m["sbom_packages"] = len(res.packages)
        m["sbom_findings"] = len(res.findings)
        m["sbom_lockfile_errors"] = len(res.errors)
        m["sbom_last_scan_seconds"] = res.seconds
        m["sbom_last_scan_timestamp"] = time.time()
        self._by_sev = {}
        for f in res.findings:
            self._by_sev[f.severity] = self._by_sev.get(f.severity, 0) + 1
