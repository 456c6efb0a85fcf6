"""Bouncer mode: poll a CrowdSec LAPI's decision stream, as CrowdSec's own bouncers do.

GET <url>/v1/decisions/stream?startup=true once, then ?startup=false every poll interval,
with the bouncer key in X-Api-Key. "new" decisions become Ironpost decisions with origin
crowdsec and the remaining duration CrowdSec gives; "deleted" ones revoke them. Only type ban
and scopes Ip and Range are enforceable in the blocklist; others are counted and skipped.
"""

from __future__ import annotations

import re

import orjson

from ironpost.core import decisions
from ironpost.core.decisions import Decision, DecisionError
from ironpost.feeds.fetch import FeedError

_GO_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """'3h59m55.7s' -> seconds (Go's time.Duration.String(), as CrowdSec writes durations)."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    pos, total = 0, 0.0
    while pos < len(s):
        m = _GO_PART.match(s, pos)
        if not m:
            raise ValueError(f"{text[:40]!r} is not a duration")
        total += float(m.group(1)) * _GO_UNIT[m.group(2)]
        pos = m.end()
    if pos == 0:
        raise ValueError(f"{text[:40]!r} is not a duration")
    return sign * total


SCOPES = {"ip": "ip", "range": "range"}


def convert(body: bytes, node_id: str, counts: dict[str, int]) -> list[Decision]:
    """The stream response as Ironpost decisions (additions and revocations)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"CrowdSec answered something that is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FeedError("CrowdSec answered JSON that is not an object with new/deleted")
    out: list[Decision] = []
    for action, key in (("delete", "deleted"), ("add", "new")):
        for item in data.get(key) or ():
            if not isinstance(item, dict):
                counts["invalid"] += 1
                continue
            if str(item.get("type", "")).lower() != "ban" or str(item.get("scope", "")).lower() not in SCOPES:
                counts["unsupported"] += 1
                continue
            try:
                duration = parse_go_duration(str(item.get("duration", "")))
            except ValueError:
                counts["invalid"] += 1
                continue
            if action == "add" and duration <= 0:
                counts["expired"] += 1
                continue
            try:
                d = decisions.make(item.get("value"), "crowdsec", action=action,
                                   duration=duration if action == "add" else None,
                                   reason=str(item.get("scenario") or item.get("origin") or "crowdsec")[:200],
                                   node_id=node_id)
            except DecisionError:
                counts["invalid"] += 1
                continue
            out.append(d)
    return out
