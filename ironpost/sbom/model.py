"""What every lockfile parser returns, and the limits every parser enforces."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from packageurl import PackageURL

from ironpost.core.errors import SbomError

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_PACKAGES = 50_000

# OSV ecosystem name -> purl type
PURL_TYPES = {"crates.io": "cargo", "npm": "npm", "PyPI": "pypi", "Go": "golang"}


class LockfileError(SbomError):
    """A lockfile could not be read: malformed, too big, too many packages. Other files are still scanned."""

    def __init__(self, message: str, file: str | os.PathLike, line: int | None = None):
        self.file, self.line, self.reason = str(file), line, message
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {message}")


@dataclass(slots=True)
class Package:
    name: str
    version: str
    ecosystem: str  # OSV ecosystem name: crates.io, npm, PyPI, Go
    purl: str
    hashes: dict[str, str] = field(default_factory=dict)  # CycloneDX algorithm name -> hex digest
    direct: bool = False
    dependencies: list[str] = field(default_factory=list)  # purls of the packages this one depends on
    lockfile: str = ""
    local: bool = False  # a workspace/root project, not something fetched from a registry
    scope: str = "required"  # required | optional (dev-only, optional)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.ecosystem, self.name, self.version)


_PURL_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")
_PURL_SAFE_NS = re.compile(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")


def make_purl(ecosystem: str, name: str, version: str | None) -> str:
    """The package URL; common names skip packageurl-python (~25 µs each) since they need no escaping."""
    ptype = PURL_TYPES[ecosystem]
    if ecosystem != "PyPI" and (not version or _PURL_SAFE.match(version)):
        tail = f"@{version}" if version else ""
        if _PURL_SAFE.match(name):
            return f"pkg:{ptype}/{name.lower() if ptype == 'npm' else name}{tail}"
        if ecosystem == "npm" and name.startswith("@") and name.count("/") == 1:
            scope, _, pname = name[1:].partition("/")
            if _PURL_SAFE.match(scope) and _PURL_SAFE.match(pname):
                return f"pkg:npm/%40{scope}/{pname.lower()}{tail}"
        if ecosystem == "Go" and _PURL_SAFE_NS.match(name):
            return f"pkg:golang/{name}{tail}"
    namespace = None
    pname = name
    if ecosystem == "npm" and name.startswith("@") and "/" in name:
        namespace, pname = name.split("/", 1)
    elif ecosystem == "Go" and "/" in name:
        namespace, pname = name.rsplit("/", 1)
    elif ecosystem == "PyPI":
        pname = normalize_pypi(name)
    try:
        return PackageURL(type=ptype, namespace=namespace, name=pname, version=version or None).to_string()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot make a package URL for {name!r} {version!r}: {exc}") from None


def normalize_pypi(name: str) -> str:
    """PEP 503 normalisation, so `Django`, `django` and `dj_ango` style spellings match the database."""
    out = []
    prev_sep = False
    for ch in name.lower():
        if ch in "-_.":
            if not prev_sep:
                out.append("-")
            prev_sep = True
        else:
            out.append(ch)
            prev_sep = False
    return "".join(out)


def read_limited(path: str | os.PathLike) -> bytes:
    """Read a lockfile, refusing anything past the size limit before reading it."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LockfileError(f"file is {size} bytes, over the {MAX_FILE_BYTES} byte limit", p)
        with open(p, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise LockfileError(f"cannot read: {exc.strerror or exc}", p) from None
    if len(data) > MAX_FILE_BYTES:  # grew between stat and read
        raise LockfileError(f"file is over the {MAX_FILE_BYTES} byte limit", p)
    return data


def read_text(path: str | os.PathLike) -> str:
    data = read_limited(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LockfileError("not valid UTF-8", path, line) from None


def check_count(n: int, path: str | os.PathLike) -> None:
    if n > MAX_PACKAGES:
        raise LockfileError(f"{n} packages, over the limit of {MAX_PACKAGES}", path)
