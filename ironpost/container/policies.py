"""Policies: which action to take on which containers for which alerts.

One or more TOML files in `policy_path`, each holding `[[policy]]` tables:

    [[policy]]
    name = "isolate-web"
    priority = 100                 # higher wins; ties go by name
    severity_threshold = "high"    # act on alerts at or above this severity
    action = "network_disconnect"  # pause | stop | network_disconnect
    networks = ["frontend"]        # network_disconnect only; empty/absent = every network
    [policy.filters]
    container_names = ["web-*"]    # globs on the container name
    image_patterns = ["nginx:*"]   # globs on the image reference

A file that fails to parse or validate is reported with file, line and reason; the other files
still load, so one typo never disarms the whole guard.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ironpost.container.model import ContainerInfo
from ironpost.core.errors import ContainerError
from ironpost.core.events import SEVERITIES, AlertEvent, severity_at_least

ACTIONS = ("pause", "stop", "network_disconnect")
_KEYS = {"name", "priority", "severity_threshold", "action", "networks", "filters", "description", "enabled"}
_FILTER_KEYS = {"container_names", "image_patterns"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class PolicyError(ContainerError):
    """A policy file problem, located by file and line."""

    exit_code = 2

    def __init__(self, reason: str, file: str | None = None, line: int | None = None, policy: str | None = None):
        self.reason, self.file, self.line, self.policy = reason, file, line, policy
        where = ":".join(p for p in (file, str(line) if line else None) if p)
        name = f" [{policy}]" if policy else ""
        super().__init__(f"{where}{name}: {reason}" if where or name else reason)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "policy": self.policy, "reason": self.reason}


@dataclass(frozen=True)
class Policy:
    name: str
    action: str
    priority: int = 0
    severity_threshold: str = "high"
    container_names: tuple[str, ...] = ()
    image_patterns: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    description: str = ""
    file: str = ""
    line: int = 0

    @property
    def has_filters(self) -> bool:
        return bool(self.container_names or self.image_patterns)

    def covers(self, alert: AlertEvent) -> bool:
        return severity_at_least(alert.severity, self.severity_threshold)

    def matches(self, c: ContainerInfo) -> bool:
        """Every filter given must match (names AND images); a policy without filters matches any."""
        if self.container_names and not any(fnmatch.fnmatchcase(c.name, g) for g in self.container_names):
            return False
        if self.image_patterns and not any(fnmatch.fnmatchcase(img, g) for g in self.image_patterns for img in _image_refs(c.image)):
            return False
        return True

    def sort_key(self) -> tuple[int, str]:
        return (-self.priority, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "priority": self.priority,
            "severity_threshold": self.severity_threshold,
            "action": self.action,
            "networks": list(self.networks),
            "filters": {"container_names": list(self.container_names), "image_patterns": list(self.image_patterns)},
            "file": self.file,
            "line": self.line,
        }


def _image_refs(image: str) -> tuple[str, ...]:
    """'busybox' should match 'busybox:*' and 'busybox:latest' patterns as docker would name it."""
    if not image or image.startswith("sha256:") or "@" in image:
        return (image,)
    last = image.rsplit("/", 1)[-1]
    return (image,) if ":" in last else (image, image + ":latest")


@dataclass(frozen=True)
class Decision:
    policy: Policy
    container: ContainerInfo


@dataclass
class Plan:
    decisions: list[Decision] = field(default_factory=list)
    named: str | None = None  # the container the alert names, if any
    unresolved: bool = False  # the alert named a container we do not know


class PolicySet:
    def __init__(self, policies: Iterable[Policy] = (), errors: Iterable[PolicyError] = (), files: Iterable[str] = ()):
        self.policies = sorted(policies, key=Policy.sort_key)
        self.errors = list(errors)
        self.files = list(files)

    def __len__(self) -> int:
        return len(self.policies)

    def plan(self, alert: AlertEvent, containers: Iterable[ContainerInfo]) -> Plan:
        """For each affected container, the highest-priority policy that covers the alert and it.

        An alert that names a container (id or name) affects that container only. An alert that
        names none affects the containers a policy's filters select; a policy without filters
        never acts on an unnamed alert, since that would mean every container on the host.
        """
        containers = list(containers)
        ref = alert_container_ref(alert)
        plan = Plan(named=ref[0] or ref[1] if ref else None)
        active = [p for p in self.policies if p.covers(alert)]
        if not active:
            return plan
        if ref is not None:
            target = resolve(ref, containers)
            if target is None:
                plan.unresolved = True
                return plan
            for p in active:
                if p.matches(target):
                    plan.decisions.append(Decision(p, target))
                    break
            return plan
        for c in sorted(containers, key=lambda c: c.name):
            for p in active:
                if p.has_filters and p.matches(c):
                    plan.decisions.append(Decision(p, c))
                    break
        return plan


def alert_container_ref(alert: AlertEvent) -> tuple[str | None, str | None] | None:
    """(container_id, container_name) named by the alert, from its fields, its group values or
    a docker log source ("docker:<name>:<id>"); None when it names no container."""
    cid, name = alert.container_id or None, alert.container_name or None
    for bag in (alert.group, alert.details):
        if not isinstance(bag, dict):
            continue
        cid = cid or _str(bag.get("container_id"))
        name = name or _str(bag.get("container_name"))
        source = _str(bag.get("source"))
        if source and source.startswith("docker:") and not (cid or name):
            parts = source.split(":", 2)
            if len(parts) == 3:
                name, cid = parts[1] or None, parts[2] or None
    if not cid and not name:
        return None
    return cid, (name.lstrip("/") if name else None)


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def resolve(ref: tuple[str | None, str | None], containers: list[ContainerInfo]) -> ContainerInfo | None:
    cid, name = ref
    if cid:
        exact = [c for c in containers if c.id == cid]
        if exact:
            return exact[0]
        if len(cid) >= 12:  # a short id is unique enough only at docker's own display length
            pref = [c for c in containers if c.id.startswith(cid)]
            if len(pref) == 1:
                return pref[0]
    if name:
        for c in containers:
            if c.name == name:
                return c
    return None


# --- loading ---------------------------------------------------------------------------------


def load_policies(directory: str | Path) -> PolicySet:
    """Every *.toml file in the directory (sorted). A missing directory is an empty set."""
    d = Path(directory)
    policies: list[Policy] = []
    errors: list[PolicyError] = []
    files: list[str] = []
    if d.is_file():
        paths = [d]
    elif d.is_dir():
        paths = sorted(p for p in d.iterdir() if p.suffix == ".toml" and p.is_file())
    else:
        return PolicySet()
    seen: dict[str, Policy] = {}
    for path in paths:
        file_policies, file_errors = load_policy_file(path)
        files.append(str(path))
        errors.extend(file_errors)
        for p in file_policies:
            if p.name in seen:
                first = seen[p.name]
                errors.append(PolicyError(f"duplicate policy name (first defined at {first.file}:{first.line})", p.file, p.line, p.name))
                continue
            seen[p.name] = p
            policies.append(p)
    return PolicySet(policies, errors, files)


def load_policy_file(path: str | Path) -> tuple[list[Policy], list[PolicyError]]:
    """Parse one file. A TOML syntax error rejects the whole file; a bad policy only itself."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [PolicyError(f"cannot read: {exc}", file)]
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        return [], [PolicyError(f"invalid TOML: {reason}", file, int(m.group(1)) if m else None)]
    errors: list[PolicyError] = []
    for key in doc:
        if key != "policy":
            errors.append(PolicyError(f"unknown top-level key {key!r} (expected [[policy]] tables)", file, _find_key_line(text, 1, key, top=True)))
    tables = doc.get("policy", [])
    if not isinstance(tables, list):
        return [], errors + [PolicyError("'policy' must be an array of tables: write [[policy]]", file, _find_key_line(text, 1, "policy", top=True))]
    headers = _policy_header_lines(text)
    out: list[Policy] = []
    for n, table in enumerate(tables):
        start = headers[n] if n < len(headers) else None
        try:
            p = _build(table, file, start, text, n)
        except PolicyError as exc:
            errors.append(exc)
            continue
        if p is not None:
            out.append(p)
    return out, errors


def _build(table: Any, file: str, start: int | None, text: str, index: int) -> Policy | None:
    def err(reason: str, key: str | None = None) -> PolicyError:
        line = _find_key_line(text, index, key) if key else start
        return PolicyError(reason, file, line or start, table.get("name") if isinstance(table, dict) and isinstance(table.get("name"), str) else None)

    if not isinstance(table, dict):
        raise PolicyError("each policy must be a table", file, start)
    for key in table:
        if key not in _KEYS:
            raise err(f"unknown key {key!r} (allowed: {', '.join(sorted(_KEYS))})", key)
    name = table.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise err("name must be a string of letters, digits, '_', '.', ':' or '-' (max 128)", "name" if "name" in table else None)
    if table.get("enabled", True) is False:
        return None
    if not isinstance(table.get("enabled", True), bool):
        raise err("enabled must be true or false", "enabled")
    priority = table.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise err(f"priority must be an integer, found {priority!r}", "priority")
    sev = table.get("severity_threshold", "high")
    if sev not in SEVERITIES:
        raise err(f"severity_threshold must be one of {', '.join(SEVERITIES)}, found {sev!r}", "severity_threshold")
    action = table.get("action")
    if action not in ACTIONS:
        raise err(f"action must be one of {', '.join(ACTIONS)}, found {action!r}", "action" if "action" in table else None)
    networks = _str_list(table.get("networks", []), "networks", err)
    if networks and action != "network_disconnect":
        raise err("networks is only meaningful with action = \"network_disconnect\"", "networks")
    filters = table.get("filters", {})
    if not isinstance(filters, dict):
        raise err("filters must be a table ([policy.filters])", "filters")
    for key in filters:
        if key not in _FILTER_KEYS:
            raise err(f"unknown filter {key!r} (allowed: {', '.join(sorted(_FILTER_KEYS))})", key)
    names = _str_list(filters.get("container_names", []), "container_names", err)
    images = _str_list(filters.get("image_patterns", []), "image_patterns", err)
    desc = table.get("description", "")
    if not isinstance(desc, str):
        raise err("description must be a string", "description")
    return Policy(
        name=name, action=action, priority=priority, severity_threshold=sev,
        container_names=tuple(names), image_patterns=tuple(images), networks=tuple(networks),
        description=desc, file=file, line=start or 0,
    )


def _str_list(value: Any, key: str, err) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise err(f"{key} must be a list of non-empty strings, found {value!r}", key)
    return value


_HEADER = re.compile(r"^\s*\[\[\s*policy\s*\]\]")


def _policy_header_lines(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if _HEADER.match(line)]


def _find_key_line(text: str, index: int, key: str, top: bool = False) -> int | None:
    """Line of `key = ...` (or a [..key..] header) inside the index-th [[policy]] block; best effort."""
    lines = text.splitlines()
    headers = _policy_header_lines(text)
    if top:
        lo, hi = 0, (headers[0] - 1 if headers else len(lines))
        if key == "policy" and not headers:
            hi = len(lines)
    else:
        if index >= len(headers):
            return None
        lo = headers[index]
        hi = headers[index + 1] - 1 if index + 1 < len(headers) else len(lines)
    key_re = re.compile(r"^\s*(" + re.escape(key) + r"\s*=|\[[^\]]*\b" + re.escape(key) + r"\b)")
    for n in range(lo, hi):
        if key_re.match(lines[n]) or (top and re.match(r"^\s*\[\s*" + re.escape(key) + r"\s*[\].]", lines[n])):
            return n + 1
    return None
