"""LapiModule: serves the decision ledger to CrowdSec bouncers (lapi/server.py)."""

from __future__ import annotations

import asyncio
import logging

from ironpost.core.config import Config
from ironpost.core.module import ModuleContext, ModuleUnavailable
from ironpost.lapi.keys import BouncerKeys, bouncers_path
from ironpost.lapi.server import LapiServer

log = logging.getLogger("ironpost.lapi")


class LapiModule:
    name = "lapi"

    def __init__(self, config: Config):
        self.config = config
        self.server: LapiServer | None = None

    async def run(self, ctx: ModuleContext) -> None:
        if ctx.decisions is None:
            raise ModuleUnavailable("the decision API needs the daemon's decision ledger")
        c = self.config.section("lapi")
        keys = BouncerKeys(bouncers_path(self.config))
        self.server = LapiServer(c.listen, ctx.decisions, keys, max_decisions=c.max_decisions)
        try:
            await self.server.start()
        except OSError as exc:
            raise ModuleUnavailable(f"decision API cannot listen on {c.listen}: {exc}") from None
        if not self.server.loopback:
            log.warning("the decision API listens beyond loopback, as configured", extra={"listen": c.listen})
        if not ctx.config.section("ebpf").enabled:
            log.warning("[ebpf] is disabled: no decisions are made, the API serves an empty list")
        log.info("decision API listening", extra={"listen": f"{self.server.host}:{self.server.port}",
                                                  "bouncers": len(keys.load().bouncers)})
        try:
            await asyncio.Event().wait()
        finally:
            await self.server.close()

    async def reload(self, config: Config) -> None:
        if config.section("lapi") != self.config.section("lapi"):
            log.warning("[lapi] changes take effect after a restart")

    def metrics(self) -> dict[str, float]:
        if self.server is None:
            return {}
        out = {f'lapi_responses_total{{kind="{k}"}}': v for k, v in self.server.counts.items() if k != "requests"}
        out["lapi_requests_total"] = self.server.counts["requests"]
        out["lapi_forbidden_total"] = self.server.counts["forbidden"]
        out["lapi_bouncers_polling"] = len(self.server.last_pull)
        return out

    async def control(self, op: str, args: dict) -> dict:
        if op == "bouncers" and self.server is not None:
            return {"ok": True, "last_pull": dict(self.server.last_pull), "port": self.server.port}
        return {"ok": False, "error": f"unknown op {op!r}; expected bouncers"}
