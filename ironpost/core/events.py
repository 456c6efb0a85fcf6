"""The events that cross module boundaries.

Events are plain data: every field is orjson-serializable, so the same event can cross a
process boundary (a Redis Streams bus) unchanged. Each carries an `id` and a `trace_id`; the
trace id is set where data enters Ironpost and is copied onto every event derived from it,
so an action can be followed back to the packet or log line that caused it.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import orjson

SEVERITIES = ("info", "low", "medium", "high", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def new_id() -> str:
    """A 128-bit random hex id; cheaper than uuid4 and just as unique for our purposes."""
    return os.urandom(16).hex()


def severity_at_least(severity: str, threshold: str) -> bool:
    return SEVERITY_RANK.get(severity, -1) >= SEVERITY_RANK.get(threshold, 0)


@dataclass(slots=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind
        return d

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True)
class PacketEvent(Event):
    kind: ClassVar[str] = "packet"
    src_ip: str
    dst_ip: str
    src_port: int = 0
    dst_port: int = 0
    protocol: str = "tcp"
    tcp_flags: int = 0
    length: int = 0
    action: str = "pass"  # pass | drop
    timestamp: float = field(default_factory=time.time)
    id: str = field(default_factory=new_id)
    trace_id: str = ""

    def __post_init__(self):
        if not self.trace_id:
            self.trace_id = self.id


@dataclass(slots=True)
class AlertEvent(Event):
    kind: ClassVar[str] = "alert"
    rule_id: str
    title: str
    severity: str  # one of SEVERITIES
    source_module: str = "log_pipeline"
    description: str = ""
    group: dict[str, Any] = field(default_factory=dict)  # the group_by values, e.g. {"src_ip": "..."}
    count: int = 1
    first_seen: float = 0.0
    last_seen: float = 0.0
    src_ip: str | None = None
    container_id: str | None = None
    container_name: str | None = None
    tags: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)
    id: str = field(default_factory=new_id)
    trace_id: str = ""

    def __post_init__(self):
        if self.severity not in SEVERITY_RANK:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")
        if not self.trace_id:
            self.trace_id = self.id
        if not self.first_seen:
            self.first_seen = self.timestamp
        if not self.last_seen:
            self.last_seen = self.first_seen


@dataclass(slots=True)
class ActionEvent(Event):
    kind: ClassVar[str] = "action"
    action: str  # pause | stop | network_disconnect | release | block | unblock | ...
    target: str  # container name, IP/CIDR, ...
    source_module: str = "container"
    alert_id: str | None = None
    policy: str | None = None
    dry_run: bool = True
    result: str = "ok"  # ok | failed | skipped | dry_run
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)
    id: str = field(default_factory=new_id)
    trace_id: str = ""

    def __post_init__(self):
        if not self.trace_id:
            self.trace_id = self.alert_id or self.id


@dataclass(slots=True)
class LogChunk(Event):
    """Raw log lines collected by one module for another (container logs -> log pipeline).

    `data` holds whole lines as latin-1 text: a lossless bytes<->str mapping that stays
    JSON-serializable, so the chunk can cross a process boundary like every other event."""

    kind: ClassVar[str] = "log_chunk"
    source: str
    data: str
    timestamp: float = field(default_factory=time.time)
    id: str = field(default_factory=new_id)
    trace_id: str = ""

    def __post_init__(self):
        if not self.trace_id:
            self.trace_id = self.id

    @classmethod
    def from_bytes(cls, chunk: bytes, source: str) -> "LogChunk":
        return cls(source=source, data=chunk.decode("latin-1"))

    def raw(self) -> bytes:
        return self.data.encode("latin-1")


EVENT_TYPES: dict[str, type[Event]] = {c.kind: c for c in (PacketEvent, AlertEvent, ActionEvent, LogChunk)}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild any event from its dict form (the `kind` key says which)."""
    try:
        cls = EVENT_TYPES[data["kind"]]
    except KeyError as exc:
        raise ValueError(f"unknown event kind: {data.get('kind')!r}") from exc
    return cls.from_dict(data)
