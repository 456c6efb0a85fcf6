"""Pick a compiled extension or its pure-Python twin.

Every `ext/X.pyx` is built into `ironpost._ext.X` and has a twin module with the same
functions. IRONPOST_NO_EXTENSIONS=1 forces the twins (tests use it to compare both).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def extensions_disabled() -> bool:
    return os.environ.get("IRONPOST_NO_EXTENSIONS", "") not in ("", "0", "false", "no")


def select(name: str, twin: str) -> ModuleType:
    """Return ironpost._ext.<name> when built and allowed, else the twin module."""
    if not extensions_disabled():
        try:
            return importlib.import_module(f"ironpost._ext.{name}")
        except ImportError:
            pass
    return importlib.import_module(twin)


def compiled(name: str) -> ModuleType | None:
    """The compiled module itself, or None when not built (for tests and benchmarks)."""
    try:
        return importlib.import_module(f"ironpost._ext.{name}")
    except ImportError:
        return None
