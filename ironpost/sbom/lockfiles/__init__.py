"""One parser per lockfile format, all alike: `parse(path) -> list[Package]`, errors as LockfileError.

Imported statically (not by name at run time) so PyInstaller sees every parser.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from ironpost.sbom.lockfiles import cargo, gomod, npm, pipfile, pnpm, poetry, requirements, uv, yarn
from ironpost.sbom.model import LockfileError, Package

PARSERS: list[ModuleType] = [cargo, npm, yarn, pnpm, poetry, uv, pipfile, requirements, gomod]
BY_FILENAME: dict[str, ModuleType] = {fn: mod for mod in PARSERS for fn in mod.FILENAMES}


def parser_for(path: str | os.PathLike) -> ModuleType | None:
    return BY_FILENAME.get(Path(path).name)


def parse_file(path: str | os.PathLike) -> list[Package]:
    mod = parser_for(path)
    if mod is None:
        raise LockfileError("not a lockfile this version knows", path)
    return mod.parse(path)


__all__ = ["BY_FILENAME", "PARSERS", "LockfileError", "Package", "parse_file", "parser_for"]
