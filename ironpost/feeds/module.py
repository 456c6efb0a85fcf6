"""FeedsModule: decisions from a CrowdSec LAPI (bouncer mode) and from block lists.

Both hand decisions to the ban manager on DECISIONS_IN, with this node's id, so the ban manager
applies them (exemptions, durations, expiry) and the fleet shares them like any local decision.
"""

from __future__ import annotations

import asyncio
import logging

from ironpost.core import decisions
from ironpost.core.config import Config
from ironpost.core.config.sections.fleet import node_id_of
from ironpost.core.decisions import DECISIONS_IN, DecisionError
from ironpost.core.module import ModuleContext, wake_or_timeout
from ironpost.feeds.crowdsec import convert
from ironpost.feeds.fetch import FeedError, fetch
from ironpost.feeds.lists import parse_list

log = logging.getLogger("ironpost.feeds")


class FeedsModule:
    name = "feeds"

    def __init__(self, config: Config):
        self._apply(config)
        self.cs_counts = {"polls": 0, "poll_errors": 0, "added": 0, "deleted": 0, "invalid": 0, "unsupported": 0,
                          "expired": 0}
        self.list_counts: dict[str, dict[str, int]] = {}
        self._list_values: dict[str, dict[str, str]] = {}
        self._wake = asyncio.Event()

    def _apply(self, config: Config) -> None:
        self.config = config
        self.cfg = config.section("feeds")
        self.node_id = node_id_of(config)
        self.lists = dict(item.split("=", 1) for item in self.cfg.lists)
        self.lists = {k.strip(): v.strip() for k, v in self.lists.items()}

    async def reload(self, config: Config) -> None:
        self._apply(config)
        self._wake.set()  # read the lists again now

    async def run(self, ctx: ModuleContext) -> None:
        tasks = []
        if self.cfg.crowdsec_url:
            tasks.append(asyncio.create_task(self._crowdsec_loop(ctx), name="feeds-crowdsec"))
        tasks.append(asyncio.create_task(self._lists_loop(ctx), name="feeds-lists"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                t.result()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- CrowdSec bouncer mode -------------------------------------------------------------
    async def poll_crowdsec(self, ctx: ModuleContext, startup: bool) -> int:
        c = self.cfg
        url = c.crowdsec_url.rstrip("/") + f"/v1/decisions/stream?startup={'true' if startup else 'false'}"
        body = await asyncio.to_thread(fetch, url, headers={"X-Api-Key": c.crowdsec_api_key},
                                       timeout=c.crowdsec_timeout_secs)
        got = convert(body, self.node_id, self.cs_counts)
        for d in got:
            self.cs_counts["added" if d.action == "add" else "deleted"] += 1
            await ctx.bus.publish(DECISIONS_IN, d)
        self.cs_counts["polls"] += 1
        return len(got)

    async def _crowdsec_loop(self, ctx: ModuleContext) -> None:
        startup = True
        while True:
            try:
                await self.poll_crowdsec(ctx, startup)
                if startup:
                    log.info("CrowdSec decisions loaded", extra={"added": self.cs_counts["added"]})
                startup = False
            except FeedError as exc:
                self.cs_counts["poll_errors"] += 1
                log.warning("CrowdSec LAPI poll failed", extra={"error": str(exc)[:300]})
            await asyncio.sleep(self.cfg.crowdsec_poll_secs)

    # -- lists -------------------------------------------------------------------------------
    async def load_list(self, ctx: ModuleContext, name: str, where: str) -> dict[str, int]:
        c = self.cfg
        origin = f"list:{name}"
        counts = self.list_counts.setdefault(name, {"loads": 0, "errors": 0, "entries": 0, "bad_lines": 0,
                                                    "added": 0, "revoked": 0})
        data = await asyncio.to_thread(fetch, where, timeout=30.0)
        parsed = parse_list(data.decode("utf-8", "replace"), name, max_entries=c.list_max_entries)
        for line, why in parsed.bad:
            log.warning("block list line skipped", extra={"list": name, "source": where, "line": line, "why": why})
        before = self._list_values.get(name)
        if before is None and ctx.decisions is not None:  # after a restart: what the ledger holds from it
            before = {d.value: d.scope for d in ctx.decisions.active.values() if d.origin == origin}
        before = before or {}
        ttl = c.list_ttl_secs or None
        added = revoked = 0
        for value in parsed.values:
            if value not in before or ttl:  # with a TTL, each refresh extends what is still listed
                await ctx.bus.publish(DECISIONS_IN, decisions.make(value, origin, duration=ttl, reason=f"list {name}",
                                                                   node_id=self.node_id))
                added += 1
        for value in before:
            if value not in parsed.values:
                await ctx.bus.publish(DECISIONS_IN, decisions.make(value, origin, action="delete",
                                                                   reason=f"no longer in list {name}",
                                                                   node_id=self.node_id))
                revoked += 1
        self._list_values[name] = parsed.values
        counts["loads"] += 1
        counts["entries"] = len(parsed.values)
        counts["bad_lines"] += parsed.bad_count
        counts["added"] += added
        counts["revoked"] += revoked
        log.info("block list loaded", extra={"list": name, "entries": len(parsed.values), "added": added,
                                             "revoked": revoked, "bad_lines": parsed.bad_count})
        return counts

    async def _lists_loop(self, ctx: ModuleContext) -> None:
        while True:
            self._wake.clear()
            for name, where in self.lists.items():
                try:
                    await self.load_list(ctx, name, where)
                except (FeedError, DecisionError) as exc:
                    self.list_counts.setdefault(name, {"errors": 0})
                    self.list_counts[name]["errors"] = self.list_counts[name].get("errors", 0) + 1
                    log.error("block list not loaded; its decisions stay as they were",
                              extra={"list": name, "error": str(exc)[:300]})
            await wake_or_timeout(self._wake, self.cfg.lists_refresh_secs)

    def metrics(self) -> dict[str, float]:
        out = {f'feeds_crowdsec_total{{kind="{k}"}}': v for k, v in self.cs_counts.items()}
        for name, counts in self.list_counts.items():
            for k, v in counts.items():
                out[f'feeds_list_{k}{"" if k == "entries" else "_total"}{{list="{name}"}}'] = v
        return out
