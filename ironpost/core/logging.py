"""Structured logging: JSON lines (level, module, trace_id, message, extras) or a pretty console format.

Both formats redact secrets in the message and in text extras: the password of a URL
(postgresql://user:***@db), and the value of password=, token=, secret=, api_key= and
Authorization: pairs, so a logged config value or error text does not leak a credential.
"""

from __future__ import annotations

import logging
import re
import sys
import time

import orjson

TRACE = 5  # the seed's `log_level = "trace"`: below debug, which Python's logging lacks
logging.addLevelName(TRACE, "TRACE")

_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@")
# key, separator, then a quoted value or a bare token; "Failed password for" has no separator
_SECRET_PAIR = re.compile(
    r"""(?i)\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|authorization)["']?\s*[=:]\s*)"""
    r"""(?:(bearer|basic)\s+)?("[^"]*"|'[^']*'|[^\s,;&"']+)""")


def redact_secrets(text: str) -> str:
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1***@", text)
    return _SECRET_PAIR.sub(lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + "***", text)


def _clean(value):
    return redact_secrets(value) if isinstance(value, str) else value

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def _module_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "ironpost" else name


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "module": _module_of(record.name),
            "logger": record.name,
            "msg": redact_secrets(record.getMessage()),
        }
        tid = getattr(record, "trace_id", None)
        if tid:
            out["trace_id"] = tid
        for k, v in record.__dict__.items():
            if k not in _STD and k not in out:
                out[k] = _clean(v)
        if record.exc_info:
            out["exc"] = redact_secrets(self.formatException(record.exc_info))
        return orjson.dumps(out, default=str).decode()


class PrettyFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(f"{k}={_clean(v)}" for k, v in record.__dict__.items() if k not in _STD)
        tid = getattr(record, "trace_id", None)
        line = f"{ts} {record.levelname:<7} {_module_of(record.name):<12} {redact_secrets(record.getMessage())}"
        if extras:
            line += f"  {extras}"
        if tid and "trace_id" not in extras:
            line += f"  trace_id={tid}"
        if record.exc_info:
            line += "\n" + redact_secrets(self.formatException(record.exc_info))
        return line


def setup_logging(level: str = "info", fmt: str = "json", stream=None) -> None:
    root = logging.getLogger("ironpost")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PrettyFormatter())
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False


def set_level(level: str) -> None:
    logging.getLogger("ironpost").setLevel(level.upper())
