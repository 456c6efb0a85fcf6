"""[fleet]: several hosts act as one through Redis Streams (decisions and alerts)."""

import socket

from ironpost.core.config.schema import Field, Section

TRUSTABLE = ("rule", "cli", "list", "crowdsec")


def _trust(v):
    bad = [t for t in v if t not in TRUSTABLE]
    return f"unknown origin {bad[0]!r} (known: {', '.join(TRUSTABLE)})" if bad else None


def _name(v):
    if len(v) > 64 or any(c.isspace() for c in v):
        return "at most 64 characters, no spaces"
    return None


def node_id_of(config) -> str:
    """This node's id: [fleet] node_id, else the host name."""
    return config.section("fleet").node_id or socket.gethostname()


FLEET = Section(
    "fleet",
    {
        "enabled": Field("bool", False, "share decisions and alerts with the other nodes through Redis Streams"),
        "node_id": Field("str", "", "this node's name in the fleet; empty means the host name", check=_name),
        "redis_url": Field("url", "redis://127.0.0.1:6379/0", "the Redis every node of the fleet uses", secret=True),
        "decisions_stream": Field("str", "ironpost:decisions", "stream of decisions (bans and revocations)", check=_name),
        "alerts_stream": Field("str", "ironpost:alerts", "stream of alerts (every node's, for a fleet-wide view)",
                               check=_name),
        "nodes_key": Field("str", "ironpost:nodes", "hash of node heartbeats (`cli fleet nodes`)", check=_name),
        "trust": Field("list", list(TRUSTABLE), "origins of peers' decisions this node applies: rule (their alerts), "
                       "cli (their operators), list (their imported lists), crowdsec (their CrowdSec LAPI)",
                       check=_trust),
        "share_alerts": Field("bool", True, "publish this node's alerts to alerts_stream"),
        "stream_maxlen": Field("int", 100_000, "entries each stream keeps (approximate MAXLEN trimming), so Redis "
                               "memory stays bounded", min=100, max=100_000_000),
        "queue_max": Field("int", 100_000, "decisions and alerts held while Redis is unreachable; beyond it the "
                           "oldest are dropped and counted (fleet_queue_dropped_total)", min=10, max=10_000_000),
        "heartbeat_secs": Field("float", 5.0, "how often this node writes its heartbeat", min=0.5, max=3600),
        "claim_idle_secs": Field("float", 30.0, "pending entries of this node idle this long are claimed again "
                                 "(a previous run read them but died before applying)", min=1, max=86400),
        "redis_timeout_secs": Field("float", 2.0, "timeout of one Redis call", min=0.1, max=60),
    },
    doc="fleet: decisions and alerts shared through Redis Streams",
)
