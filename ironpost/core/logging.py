"""Structured logging: JSON lines (level, module, trace_id, message, extras) or a pretty console format."""

from __future__ import annotations

import contextvars
import logging
import sys
import time

import orjson

trace_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")

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
            "msg": record.getMessage(),
        }
        tid = getattr(record, "trace_id", None) or trace_id_var.get()
        if tid:
            out["trace_id"] = tid
        for k, v in record.__dict__.items():
            if k not in _STD and k not in out:
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class PrettyFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _STD)
        tid = getattr(record, "trace_id", None) or trace_id_var.get()
        line = f"{ts} {record.levelname:<7} {_module_of(record.name):<12} {record.getMessage()}"
        if extras:
            line += f"  {extras}"
        if tid and "trace_id" not in extras:
            line += f"  trace_id={tid}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
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
