"""The HTTP side of the CrowdSec-compatible API (asyncio streams; three routes need no framework).

Routes (as CrowdSec's LAPI answers them, so unmodified bouncers work):
  GET /v1/decisions/stream?startup=true|false[&scopes=ip,range]
      {"new": [...] | null, "deleted": [...] | null}: with startup=true (or a bouncer's first
      poll) every decision in force; after that what changed since that bouncer's last poll.
  GET /v1/decisions?ip=A | ?range=CIDR | ?value=V[&scope=ip]
      the decisions covering an address, or null.
  GET /health  {"status": "up"} (no key needed)
Every request but /health needs a registered key in X-Api-Key; otherwise 403, counted.
Limits: request head 64 KiB and 100 headers, 10 s to send it; bodies are not read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import orjson

from ironpost.core.decisions import Decision, DecisionLedger
from ironpost.core.netaddr import is_loopback_host, parse_addr
from ironpost.lapi.keys import BouncerKeys, LapiError

log = logging.getLogger("ironpost.lapi")

MAX_HEAD = 65536
MAX_HEADERS = 100
PERMANENT = "87600h"  # CrowdSec decisions always have a duration; "until revoked" is ten years


def go_duration(seconds: float | None) -> str:
    if seconds is None:
        return PERMANENT
    return f"{max(1, int(seconds + 0.999))}s"


def crowdsec_view(d: Decision, now: float) -> dict:
    """A decision as CrowdSec's API writes one (models.Decision)."""
    return {
        "id": int(d.id[:15], 16) if all(c in "0123456789abcdef" for c in d.id[:15]) and d.id else 0,
        "origin": d.origin,
        "type": d.type,
        "scope": "Ip" if d.scope == "ip" else "Range",
        "value": d.value,
        "duration": go_duration(d.remaining(now)),
        "scenario": d.reason or d.origin,
        "simulated": False,
        "until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(d.until)) if d.until else None,
    }


class LapiServer:
    def __init__(self, listen: str, ledger: DecisionLedger, keys: BouncerKeys, *, max_decisions: int = 1_000_000,
                 clock: Callable[[], float] = time.time):
        self.host, self.port = parse_addr(listen)
        self.ledger, self.keys = ledger, keys
        self.max_decisions = max_decisions
        self.clock = clock
        self.cursor: dict[str, int] = {}  # bouncer -> ledger seq of its last stream poll
        self.last_pull: dict[str, float] = {}
        self.counts = {"requests": 0, "forbidden": 0, "bad_requests": 0, "not_found": 0, "stream_full": 0,
                       "stream_delta": 0}
        self._server: asyncio.AbstractServer | None = None

    @property
    def loopback(self) -> bool:
        return is_loopback_host(self.host)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _read_head(self, reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]] | None:
        line = await reader.readline()
        if not line:
            return None
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise ValueError("malformed request line")
        headers: dict[str, str] = {}
        total = len(line)
        while True:
            h = await reader.readline()
            total += len(h)
            if total > MAX_HEAD or len(headers) > MAX_HEADERS:
                raise ValueError("request head too large")
            if h in (b"\r\n", b"\n", b""):
                break
            name, sep, value = h.decode("latin-1").partition(":")
            if not sep:
                raise ValueError("malformed header")
            headers[name.strip().lower()] = value.strip()
        return parts[0], parts[1], headers

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: Go's HTTP client reuses the connection between polls
                try:
                    head = await asyncio.wait_for(self._read_head(reader), 10)
                except (ValueError, asyncio.LimitOverrunError):
                    self.counts["bad_requests"] += 1
                    await self._reply(writer, 400, {"message": "bad request"}, close=True)
                    return
                if head is None:
                    return
                method, target, headers = head
                if int(headers.get("content-length", "0") or 0) > 0 or "transfer-encoding" in headers:
                    self.counts["bad_requests"] += 1
                    await self._reply(writer, 400, {"message": "request bodies are not accepted"}, close=True)
                    return
                status, body = self.handle(method, target, headers)
                close = headers.get("connection", "").lower() == "close"
                await self._reply(writer, status, body, close=close)
                if close:
                    return
        except (asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, body, *, close: bool) -> None:
        reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                  500: "Internal Server Error"}.get(status, "OK")
        data = orjson.dumps(body)
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode() + data)
        await writer.drain()

    # -- routes (synchronous: they only read the in-memory ledger) ------------------------
    def handle(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, object]:
        self.counts["requests"] += 1
        url = urlsplit(target)
        path = url.path.rstrip("/") or "/"
        if path == "/health":
            return 200, {"status": "up"}
        if method not in ("GET", "HEAD"):
            return 405, {"message": "only GET"}
        try:
            bouncer = self.keys.load().check(headers.get("x-api-key"))
        except LapiError as exc:
            log.error("bouncer keys unreadable; refusing every request", extra={"error": str(exc)})
            bouncer = None
        if bouncer is None:
            self.counts["forbidden"] += 1
            return 403, {"message": "access forbidden"}
        query = parse_qs(url.query, max_num_fields=50)
        if path == "/v1/decisions/stream":
            return 200, self.stream(bouncer, query)
        if path == "/v1/decisions":
            try:
                return 200, self.lookup(query)
            except ValueError as exc:
                self.counts["bad_requests"] += 1
                return 400, {"message": str(exc)}
        self.counts["not_found"] += 1
        return 404, {"message": "not found"}

    def _scopes(self, query) -> set[str] | None:
        raw = ",".join(query.get("scopes", []) + query.get("scope", []))
        wanted = {s.strip().lower() for s in raw.split(",") if s.strip()}
        return wanted or None

    def stream(self, bouncer: str, query) -> dict:
        now = self.clock()
        startup = (query.get("startup", ["false"])[0].lower() == "true")
        scopes = self._scopes(query)
        self.last_pull[bouncer] = now
        delta = None if startup or bouncer not in self.cursor else self.ledger.changes_since(self.cursor[bouncer])
        if delta is None:
            self.counts["stream_full"] += 1
            added = list(self.ledger.active.values())
            deleted: list[Decision] = []
        else:
            self.counts["stream_delta"] += 1
            added, deleted, _ = delta
        self.cursor[bouncer] = self.ledger.seq

        def keep(d: Decision, live: bool) -> bool:
            if scopes is not None and d.scope not in scopes:
                return False
            left = d.remaining(now)
            return not live or left is None or left > 0

        new = [crowdsec_view(d, now) for d in added if keep(d, True)][: self.max_decisions]
        gone = [crowdsec_view(d, now) for d in deleted if keep(d, False)][: self.max_decisions]
        return {"new": new or None, "deleted": gone or None}

    def lookup(self, query) -> list | None:
        value = (query.get("ip") or query.get("range") or query.get("value") or [None])[0]
        now = self.clock()
        if value is None:
            found = list(self.ledger.active.values())
        else:
            try:
                target = ipaddress.ip_network(value.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{value[:80]!r} is not an IP address or range") from None
            found = [d for net, d in self.ledger.active.items()
                     if net.version == target.version and target.subnet_of(net)]
        scopes = self._scopes(query)
        out = [crowdsec_view(d, now) for d in found
               if (scopes is None or d.scope in scopes) and (d.remaining(now) is None or d.remaining(now) > 0)]
        return out[: self.max_decisions] or None
