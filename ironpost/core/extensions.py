"""Pick a compiled extension or its pure-Python twin, and say so loudly when the twin is not chosen.

Every `ext/X.pyx` is built into `ironpost._ext.X` and has a twin module with the same functions
(EXTENSIONS, below, is the one list of both). IRONPOST_NO_EXTENSIONS=1 selects the twins on
purpose (tests compare both); that is not an error. An extension that fails to import otherwise
is a broken build running some 50x slower: it is logged as an error, shown by `cli status` and
/metrics (extensions_missing{name=...}), and `python -m ironpost.core.extensions` (a step of
.ci/run) exits 1 on it.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from types import ModuleType

log = logging.getLogger("ironpost.core")

# ext/<name>.pyx -> its pure-Python twin
EXTENSIONS: dict[str, str] = {
    "framing": "ironpost.core.framing_py",
    "logparse": "ironpost.log_pipeline.parsers.logparse_py",
    "matcher": "ironpost.log_pipeline.matcher_py",
    "pktdecode": "ironpost.ebpf.pktdecode_py",
}

_missing: dict[str, str] = {}  # extension -> why its import failed (logged once)


def extensions_disabled() -> bool:
    return os.environ.get("IRONPOST_NO_EXTENSIONS", "") not in ("", "0", "false", "no")


def _import_compiled(name: str) -> ModuleType | None:
    """The compiled module, or None with the failure recorded and logged as an error (once)."""
    try:
        mod = importlib.import_module(f"ironpost._ext.{name}")
    except ImportError as exc:
        if name not in _missing:
            _missing[name] = str(exc)
            log.error("extension %s failed to import; its pure-Python twin %s runs instead (about 50x slower)",
                      name, EXTENSIONS.get(name, "?"), extra={"extension": name, "error": str(exc)})
        return None
    _missing.pop(name, None)
    return mod


def select(name: str, twin: str | None = None) -> ModuleType:
    """Return ironpost._ext.<name> when built and allowed, else the twin module."""
    if not extensions_disabled():
        mod = _import_compiled(name)
        if mod is not None:
            return mod
    return importlib.import_module(twin or EXTENSIONS[name])


def compiled(name: str) -> ModuleType | None:
    """The compiled module itself, or None when not built (for tests and benchmarks)."""
    try:
        return importlib.import_module(f"ironpost._ext.{name}")
    except ImportError:
        return None


def report() -> dict:
    """What runs: {"mode": "compiled" | "twins" (chosen) | "degraded", "missing": {name: error}}.

    Every extension is tried, not only those imported so far, so a module that loads its
    extension late (the network module) is reported from the start."""
    if extensions_disabled():
        return {"mode": "twins", "missing": {}}
    for name in EXTENSIONS:
        _import_compiled(name)
    missing = {n: _missing[n] for n in EXTENSIONS if n in _missing}
    return {"mode": "degraded" if missing else "compiled", "missing": missing}


def metrics() -> dict[str, float]:
    """extensions_missing{name=...}: 1 for an extension that failed to import (0 when it runs, or twins were chosen)."""
    missing = report()["missing"]
    return {f'extensions_missing{{name="{n}"}}': float(n in missing) for n in EXTENSIONS}


def main() -> int:
    """Import every extension, whatever IRONPOST_NO_EXTENSIONS says; exit 1 naming each one that fails."""
    bad = 0
    for name in EXTENSIONS:
        try:
            importlib.import_module(f"ironpost._ext.{name}")
        except ImportError as exc:
            bad += 1
            print(f"error: extension {name} (ext/{name}.pyx) does not import: {exc}", file=sys.stderr)
    if not bad:
        print(f"{len(EXTENSIONS)} extensions import: {', '.join(EXTENSIONS)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
