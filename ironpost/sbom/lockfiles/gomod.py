"""go.mod (the build list: require, with `// indirect` for transitive modules, and replace) plus
go.sum beside it for the module hashes (`h1:` is base64 of a SHA-256 dirhash)."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

from ironpost.sbom.lockfiles.common import LockfileError, add_edge, check_count
from ironpost.sbom.model import MAX_FILE_BYTES, Package, make_purl, read_text

FILENAMES = ("go.mod",)
ECOSYSTEM = "Go"
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|`([^`]*)`|(\S+)')


def _tokens(line: str) -> list[str]:
    return [a or b or c for a, b, c in _TOKEN.findall(line)]


def _sums(mod_path: Path) -> dict[tuple[str, str], str]:
    p = mod_path.with_name("go.sum")
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            return {}
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and not parts[1].endswith("/go.mod") and parts[2].startswith("h1:"):
            try:
                out[(parts[0], parts[1])] = base64.b64decode(parts[2][3:], validate=True).hex()
            except ValueError:
                continue
    return out


def parse(path: str | os.PathLike) -> list[Package]:
    text = read_text(path)
    module = None
    requires: list[tuple[str, str, bool, int]] = []
    replaces: dict[str, tuple[str, str]] = {}
    block: str | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        code, _, comment = raw.partition("//")
        indirect = comment.strip().startswith("indirect")
        toks = _tokens(code)
        if not toks:
            continue
        if block is not None:
            if toks == [")"]:
                block = None
                continue
            verb, args = block, toks
        elif len(toks) >= 2 and toks[1] == "(":
            block = toks[0]
            continue
        else:
            verb, args = toks[0], toks[1:]
        if verb == "module":
            if len(args) != 1:
                raise LockfileError("expected: module <path>", path, n)
            module = args[0]
        elif verb == "require":
            if len(args) != 2 or not args[1].startswith("v"):
                raise LockfileError(f"expected: require <module> <vX.Y.Z>, found {' '.join(args)!r}", path, n)
            requires.append((args[0], args[1], indirect, n))
        elif verb == "replace":
            if "=>" not in args:
                raise LockfileError("expected: replace <module> [version] => <module> [version]", path, n)
            i = args.index("=>")
            old, new = args[:i], args[i + 1:]
            if len(new) == 2 and old:  # a local path replacement (one token) is not a registry module
                replaces[old[0] if len(old) == 1 else f"{old[0]}@{old[1]}"] = (new[0], new[1])
        elif verb in ("go", "toolchain", "exclude", "retract", "godebug", "tool"):
            continue
        else:
            raise LockfileError(f"unknown go.mod directive {verb!r}", path, n)
    if block is not None:
        raise LockfileError(f"unclosed {block} ( block", path)
    if module is None:
        raise LockfileError("no module directive", path)
    check_count(len(requires) + 1, path)
    sums = _sums(Path(path))
    root = Package(module, "", ECOSYSTEM, make_purl(ECOSYSTEM, module, None), lockfile=str(path), local=True, direct=True)
    out = [root]
    for mod, ver, indirect, _n in requires:
        mod, ver = replaces.get(f"{mod}@{ver}") or replaces.get(mod) or (mod, ver)
        h = sums.get((mod, ver))
        p = Package(mod, ver, ECOSYSTEM, make_purl(ECOSYSTEM, mod, ver), {"SHA-256": h} if h else {},
                    lockfile=str(path), direct=not indirect)
        out.append(p)
        if not indirect:
            add_edge(root, p)
    return out
