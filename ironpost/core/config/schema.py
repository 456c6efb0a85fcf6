"""A small declarative schema: enough to report every problem with its key path, the
expected form and the value found, and to suggest the closest key for a typo."""

from __future__ import annotations

import difflib
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Field:
    kind: str  # str | int | float | bool | path | choice | list | url | addr | cidr_list | table (str -> choice)
    default: Any = None
    doc: str = ""
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    secret: bool = False  # redact URL credentials in `config show`
    item_kind: str = "str"  # for kind == "list"
    check: Callable[[Any], str | None] | None = None  # extra rule: returns a problem or None
    # other spellings of a choice, stored as the canonical one (the seed's "warn" and our "warning")
    value_aliases: tuple[tuple[str, str], ...] = ()

    def expected(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind in ("int", "float"):
            rng = []
            if self.min is not None:
                rng.append(f">= {self.min:g}")
            if self.max is not None:
                rng.append(f"<= {self.max:g}")
            base = "an integer" if self.kind == "int" else "a number"
            return base + (f" ({' and '.join(rng)})" if rng else "")
        return {
            "str": "a string",
            "path": "a path (string)",
            "bool": "true or false",
            "list": f"a list of {'strings' if self.item_kind == 'str' else self.item_kind}",
            "url": "a URL such as scheme://user@host:port/db, or an empty string",
            "addr": "host:port (e.g. 127.0.0.1:5514), or an empty string to disable",
            "cidr_list": "a list of IP addresses or CIDRs",
            "table": "a table of \"name\" = value, each value one of " + ", ".join(repr(c) for c in self.choices),
        }.get(self.kind, self.kind)

    def coerce(self, value: Any) -> tuple[Any, str | None]:
        """Return (value, problem). Strings from env vars are converted here too."""
        k = self.kind
        if k in ("str", "path"):
            return (value, None) if isinstance(value, str) else (value, "wrong type")
        if k == "bool":
            if isinstance(value, bool):
                return value, None
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
                return value.lower() in ("true", "1", "yes", "on"), None
            return value, "wrong type"
        if k in ("int", "float"):
            if isinstance(value, bool):
                return value, "wrong type"
            if isinstance(value, str):
                try:
                    value = int(value) if k == "int" else float(value)
                except ValueError:
                    return value, "wrong type"
            if k == "int" and not isinstance(value, int):
                return value, "wrong type"
            if k == "float" and not isinstance(value, (int, float)):
                return value, "wrong type"
            if self.min is not None and value < self.min:
                return value, "out of range"
            if self.max is not None and value > self.max:
                return value, "out of range"
            return (float(value) if k == "float" else value), None
        if k == "choice":
            value = dict(self.value_aliases).get(value, value) if isinstance(value, str) else value
            return (value, None) if value in self.choices else (value, "not allowed")
        if k in ("list", "cidr_list"):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return value, "wrong type"
            if k == "cidr_list":
                for v in value:
                    try:
                        ipaddress.ip_network(v, strict=False)
                    except ValueError:
                        return value, f"{v!r} is not an IP address or CIDR"
            return value, None
        if k == "table":
            if isinstance(value, str):  # from the environment: name=value,name=value
                pairs = [p.partition("=") for p in value.split(",") if p.strip()]
                if any(not sep for _, sep, _ in pairs):
                    return value, "wrong type"
                value = {n.strip(): v.strip() for n, _, v in pairs}
            if not isinstance(value, dict) or not all(isinstance(n, str) and isinstance(v, str) for n, v in value.items()):
                return value, "wrong type"
            for n, v in value.items():
                if v not in self.choices:
                    return value, f"{n!r} = {v!r} is not one of {', '.join(self.choices)}"
            return dict(value), None
        if k == "url":
            if not isinstance(value, str):
                return value, "wrong type"
            if value and "://" not in value:
                return value, "missing scheme"
            return value, None
        if k == "addr":
            if not isinstance(value, str):
                return value, "wrong type"
            if value:
                host, sep, port = value.rpartition(":")
                if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
                    return value, "not host:port"
            return value, None
        raise AssertionError(f"unknown field kind {k}")


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Alias:
    """A second accepted name for a key (the seed's spelling or ours). The value is checked
    against the alias's own field, converted, and stored under the canonical key only, so
    `config show` and the code see one name."""

    field: Field
    canonical: str  # key the value is stored under
    section: str | None = None  # section of the canonical key when it is not the alias's own
    to_canonical: Callable[[Any], Any] = _same


@dataclass(frozen=True)
class Section:
    name: str  # dotted path, e.g. "log_pipeline.storage"
    fields: dict[str, Field]
    doc: str = ""
    subsections: tuple[str, ...] = field(default=())
    aliases: dict[str, Alias] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        return {k: (list(f.default) if isinstance(f.default, list) else f.default) for k, f in self.fields.items()}


def closest(name: str, options) -> str | None:
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return match[0] if match else None
