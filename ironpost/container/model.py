"""What the guard knows about one container: a plain, immutable snapshot."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

EXEMPT_LABEL = "ironpost.exempt"


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    id: str
    name: str
    image: str
    state: str  # created | running | paused | restarting | removing | exited | dead
    labels: dict[str, str] = field(default_factory=dict)
    networks: tuple[str, ...] = ()

    @property
    def exempt(self) -> bool:
        return self.labels.get(EXEMPT_LABEL, "").strip().lower() == "true"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["networks"] = list(self.networks)
        return d

    @classmethod
    def from_summary(cls, s: dict[str, Any]) -> "ContainerInfo":
        """From one entry of GET /containers/json (the list call)."""
        names = s.get("Names") or []
        name = names[0].lstrip("/") if names else s.get("Id", "")[:12]
        nets = ((s.get("NetworkSettings") or {}).get("Networks") or {}).keys()
        return cls(
            id=s.get("Id", ""),
            name=name,
            image=s.get("Image", ""),
            state=s.get("State", ""),
            labels=dict(s.get("Labels") or {}),
            networks=tuple(sorted(nets)),
        )

    @classmethod
    def from_inspect(cls, d: dict[str, Any]) -> "ContainerInfo":
        """From GET /containers/{id}/json (inspect)."""
        cfg = d.get("Config") or {}
        state = d.get("State") or {}
        nets = ((d.get("NetworkSettings") or {}).get("Networks") or {}).keys()
        return cls(
            id=d.get("Id", ""),
            name=(d.get("Name") or "").lstrip("/"),
            image=cfg.get("Image", ""),
            state=state.get("Status", ""),
            labels=dict(cfg.get("Labels") or {}),
            networks=tuple(sorted(nets)),
        )
