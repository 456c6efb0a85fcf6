"""Load ironpost.toml, apply IRONPOST_<SECTION>_<KEY> overrides, validate everything at once."""

from __future__ import annotations

import copy
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from ironpost.core.config.schema import Section, closest
from ironpost.core.config.sections import SECTIONS
from ironpost.core.errors import ConfigError

ENV_PREFIX = "IRONPOST_"
# IRONPOST_* variables that are not config keys (build, test and CLI switches).
ENV_RESERVED = {"IRONPOST_NO_EXTENSIONS", "IRONPOST_CONFIG", "IRONPOST_NO_SKIP", "IRONPOST_BUILD_JOBS"}
ENV_RESERVED_PREFIXES = ("IRONPOST_TEST_",)


class SectionView:
    """Attribute access to one section's values: cfg.general.log_level."""

    __slots__ = ("_name", "_values")

    def __init__(self, name: str, values: dict[str, Any]):
        self._name = name
        self._values = values

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"config section [{self._name}] has no key {key!r}") from None

    def as_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._values)

    def __eq__(self, other) -> bool:
        return isinstance(other, SectionView) and self._values == other._values


class Config:
    """The effective configuration: defaults, then the file, then the environment."""

    def __init__(self, values: dict[str, dict[str, Any]], source: str | None = None):
        self._values = values
        self.source = source

    def section(self, name: str) -> SectionView:
        return SectionView(name, self._values[name])

    def __getattr__(self, name: str) -> SectionView:
        if name.startswith("_") or name not in self._values:
            raise AttributeError(name)
        return self.section(name)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self._values)

    @property
    def data_dir(self) -> Path:
        return Path(self._values["general"]["data_dir"])

    def resolve_path(self, section: str, key: str, default_name: str) -> Path:
        """An optional path key: empty means a file named `default_name` in data_dir."""
        value = self._values[section][key]
        return Path(value) if value else self.data_dir / default_name


def _find_line(text: str | None, section: str, key: str | None) -> int | None:
    """Best-effort line number of [section] key = ... in the TOML source, for error messages."""
    if not text:
        return None
    header = re.compile(r"^\s*\[\s*" + re.escape(section) + r"\s*\]\s*(#.*)?$")
    any_header = re.compile(r"^\s*\[")
    in_section = section == ""
    section_line = None
    for n, line in enumerate(text.splitlines(), 1):
        if header.match(line):
            in_section, section_line = True, n
            if key is None:
                return n
            continue
        if any_header.match(line):
            if in_section and section_line is not None:
                break
            continue
        if in_section and key is not None and re.match(r"^\s*" + re.escape(key) + r"\s*=", line):
            return n
    return section_line


def _flatten(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Turn nested TOML tables into {"log_pipeline.storage": {...}} keyed by known section names."""
    out: dict[str, Any] = {}

    def walk(prefix: str, table: Mapping[str, Any]):
        sec = SECTIONS.get(prefix)
        for key, value in table.items():
            path = f"{prefix}.{key}" if prefix else key
            is_value = sec is not None and key in sec.fields and sec.fields[key].kind == "table"
            if isinstance(value, dict) and not is_value:  # a table: a known section, or an unknown one to report
                out.setdefault(path, {})
                walk(path, value)
            else:
                out.setdefault(prefix, {})[key] = value

    walk("", raw)
    return out


def _env_overrides(environ: Mapping[str, str]) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """Find IRONPOST_<SECTION>_<KEY> variables. Longest section name wins (log_pipeline_storage)."""
    found, problems = [], []
    names = sorted(SECTIONS, key=len, reverse=True)
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or var in ENV_RESERVED or var.startswith(ENV_RESERVED_PREFIXES):
            continue
        rest = var[len(ENV_PREFIX):].lower()
        for name in names:
            prefix = name.replace(".", "_") + "_"
            if rest.startswith(prefix):
                found.append((name, rest[len(prefix):], value, var))
                break
        else:
            problems.append(f"{var}: no config section matches this variable (expected IRONPOST_<SECTION>_<KEY>)")
    return found, problems


def parse_config(
    raw: Mapping[str, Any] | None = None,
    *,
    text: str | None = None,
    source: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Validate a parsed TOML document plus environment overrides. Raises ConfigError listing every problem."""
    raw = raw or {}
    environ = os.environ if environ is None else environ
    problems: list[str] = []

    def where(section: str, key: str | None) -> str:
        line = _find_line(text, section, key)
        return f"line {line}: " if line else ""

    values = {name: sec.defaults() for name, sec in SECTIONS.items()}
    from_file: dict[tuple[str, str], str] = {}
    flat = _flatten(raw)
    for sec_name, table in flat.items():
        if sec_name == "":
            for key in table:
                hint = closest(key, SECTIONS)
                problems.append(f"{where('', None)}{key}: unknown top-level key" + (f" (did you mean [{hint}]?)" if hint else ""))
            continue
        section = SECTIONS.get(sec_name)
        if section is None:
            hint = closest(sec_name, SECTIONS)
            problems.append(f"{where(sec_name, None)}[{sec_name}]: unknown section" + (f" (did you mean [{hint}]?)" if hint else ""))
            continue
        problems.extend(_apply(section, table, values, lambda k, s=sec_name: where(s, k), from_file))

    env_found, env_problems = _env_overrides(environ)
    problems.extend(env_problems)
    from_env: dict[tuple[str, str], str] = {}
    for sec_name, key, value, var in env_found:
        section = SECTIONS[sec_name]
        problems.extend(_apply(section, {key: value}, values, lambda k, v=var: f"{v}: ", from_env))

    if problems:
        raise ConfigError(problems, source)
    return Config(values, source)


def _apply(section: Section, table: Mapping[str, Any], values: dict[str, dict[str, Any]], where,
           written: dict[tuple[str, str], str]) -> list[str]:
    """Check and store one table; `written` maps (section, canonical key) to the name that set it
    from the same origin (file or environment)."""
    problems = []
    for key, value in table.items():
        path = f"{section.name}.{key}"
        spec = section.fields.get(key)
        alias = section.aliases.get(key) if spec is None else None
        if spec is None and alias is None:
            problems.append(f"{where(key)}{path}: unknown key" + _suggest(section, key))
            continue
        spec = spec or alias.field
        coerced, problem = spec.coerce(value)
        if problem is None and spec.check is not None:
            problem = spec.check(coerced)
        if problem:
            problems.append(f"{where(key)}{path}: expected {spec.expected()}, found {value!r} ({problem})")
            continue
        target_sec, target_key = section.name, key
        if alias is not None:
            target_sec, target_key = alias.section or section.name, alias.canonical
            coerced = alias.to_canonical(coerced)
        # Two spellings of one setting in one file would silently let the later one win.
        other = written.get((target_sec, target_key))
        if other is not None:
            problems.append(f"{where(key)}{path}: same setting as {other}; keep only {target_sec}.{target_key}")
            continue
        written[(target_sec, target_key)] = path
        values[target_sec][target_key] = coerced
    return problems


def _names(section: Section) -> list[str]:
    return [*section.fields, *section.aliases]


def _suggest(section: Section, key: str) -> str:
    """' (did you mean ...?)' for a typo: a key of this section first, else of any section."""
    hint = closest(key, _names(section))
    if hint:
        return f" (did you mean {section.name}.{hint}?)"
    paths = {f"{s.name}.{k}": k for s in SECTIONS.values() if s is not section for k in _names(s)}
    best = closest(key, list(paths.values()))
    if best:
        where = next(p for p, k in paths.items() if k == best)
        return f" (did you mean {where}?)"
    return ""


def load_config(path: str | os.PathLike | None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read a config file (or only defaults and env when path is None)."""
    if path is None:
        return parse_config({}, environ=environ)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"file not found: {p}"], str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read: {exc}"], str(p)) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"invalid TOML: {exc}"], str(p)) from None
    return parse_config(raw, text=text, source=str(p), environ=environ)


def redact(values: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Hide passwords in URL-valued secret keys, keep the rest readable."""
    out = copy.deepcopy(values)
    for sec_name, table in out.items():
        section = SECTIONS[sec_name]
        for key, spec in section.fields.items():
            value = table.get(key)
            if spec.secret and isinstance(value, str) and value:
                table[key] = redact_url(value) if spec.kind == "url" else "***"
    return out


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None and not parts.username:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if parts.password is not None else f"{user}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
