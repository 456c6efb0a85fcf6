"""The local vulnerability database: OSV records in SQLite, indexed by (ecosystem, name).

Records are reduced at import to what matching needs (ranges, versions, severity, aliases,
summary); the full text stays in the source files. Import is incremental: a record whose
`modified` is not newer than the stored one is skipped. GIT ranges cannot be evaluated
without the repository, so they are dropped at import and counted per affected entry.
"""

from __future__ import annotations

import io
import os
import sqlite3
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import yaml

from ironpost.core.errors import SbomError
from ironpost.sbom.model import normalize_pypi
from ironpost.sbom.severity import assess, informational

MAX_RECORD_BYTES = 8 * 1024 * 1024
SCHEMA_VERSION = "1"
_SUFFIXES = (".json", ".yaml", ".yml")
try:
    _YAML_LOADER = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _YAML_LOADER = yaml.SafeLoader

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advisories(
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    withdrawn INTEGER NOT NULL DEFAULT 0,
    summary TEXT NOT NULL DEFAULT '',
    aliases TEXT NOT NULL DEFAULT '[]',
    severity TEXT NOT NULL DEFAULT 'unknown',
    score REAL,
    vector TEXT,
    informational TEXT
);
CREATE TABLE IF NOT EXISTS affected(
    advisory_id TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS affected_pkg ON affected(ecosystem, name);
CREATE INDEX IF NOT EXISTS affected_adv ON affected(advisory_id);
"""


@dataclass
class ImportStats:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    git_ranges: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged, "withdrawn": self.withdrawn,
                "git_ranges_skipped": self.git_ranges, "errors": len(self.errors), "seconds": round(self.seconds, 3)}


def canonical_time(value: Any) -> str:
    """OSV timestamps (RFC 3339, with or without fraction) to one sortable UTC form."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise ValueError(f"modified is not an RFC 3339 time: {value!r}") from None
    else:
        raise ValueError("record has no modified time")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def package_key(ecosystem: str, name: str) -> tuple[str, str]:
    """The index key: PyPI names are compared in PEP 503 normal form, others exactly."""
    if ecosystem.split(":", 1)[0] == "PyPI":
        return ecosystem, normalize_pypi(name)
    return ecosystem, name


def compact_affected(aff: dict) -> tuple[bytes, int]:
    """What matching needs from one affected entry, as a small blob; returns (blob, GIT ranges dropped)."""
    ranges = []
    git = 0
    for r in aff.get("ranges") or ():
        if not isinstance(r, dict):
            continue
        rtype = r.get("type")
        if rtype == "GIT":
            git += 1
            continue
        events = []
        for ev in r.get("events") or ():
            if isinstance(ev, dict):
                for kind in ("introduced", "fixed", "last_affected", "limit"):
                    if kind in ev and ev[kind] is not None:
                        events.append((kind, str(ev[kind])))
        if events:
            ranges.append((rtype, events))
    versions = [str(v) for v in aff.get("versions") or () if v is not None]
    return orjson.dumps({"r": ranges, "v": versions, "g": git}), git


class VulnDB:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
            self.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES('schema', ?)", (SCHEMA_VERSION,))
        except (sqlite3.Error, OSError) as exc:
            raise SbomError(f"cannot open vulnerability database {self.path}: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- import -------------------------------------------------------------------------------------
    def import_records(self, records: Iterable[tuple[str, Any]], stats: ImportStats | None = None) -> ImportStats:
        """records: (origin, parsed document or an Exception explaining why it could not be read)."""
        stats = stats or ImportStats()
        t0 = time.perf_counter()
        known = dict(self.conn.execute("SELECT id, modified FROM advisories"))
        cur = self.conn.cursor()
        cur.execute("BEGIN")
        try:
            adv_rows, aff_rows, replaced = [], [], []
            for origin, doc in records:
                if isinstance(doc, Exception):
                    stats.errors.append(f"{origin}: {doc}")
                    continue
                try:
                    row, affs, git = self._reduce(doc)
                except (ValueError, TypeError, AttributeError) as exc:
                    stats.errors.append(f"{origin}: {exc}")
                    continue
                rid, modified = row[0], row[1]
                old = known.get(rid)
                if old is not None and old >= modified:
                    stats.unchanged += 1
                    continue
                if old is None:
                    stats.added += 1
                else:
                    stats.updated += 1
                    replaced.append((rid,))
                known[rid] = modified
                stats.git_ranges += git
                stats.withdrawn += bool(row[2])
                adv_rows.append(row)
                aff_rows.extend((rid, eco, name, blob) for eco, name, blob in affs)
            if replaced:
                cur.executemany("DELETE FROM affected WHERE advisory_id = ?", replaced)
            cur.executemany("INSERT OR REPLACE INTO advisories VALUES (?,?,?,?,?,?,?,?,?)", adv_rows)
            cur.executemany("INSERT INTO affected VALUES (?,?,?,?)", aff_rows)
            cur.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('last_import', ?)", (canonical_time(datetime.now(timezone.utc)),))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        stats.seconds += time.perf_counter() - t0
        return stats

    @staticmethod
    def _reduce(doc: Any):
        if not isinstance(doc, dict):
            raise ValueError("an OSV record must be an object")
        rid = doc.get("id")
        if not isinstance(rid, str) or not rid:
            raise ValueError("record has no id")
        modified = canonical_time(doc.get("modified"))
        withdrawn = 1 if doc.get("withdrawn") else 0
        severity, score, vector = assess(doc)
        aliases = [a for a in doc.get("aliases") or () if isinstance(a, str)]
        summary = doc.get("summary") or (doc.get("details") or "").strip().split("\n", 1)[0][:200]
        affs = []
        git = 0
        for aff in doc.get("affected") or ():
            pkg = aff.get("package") if isinstance(aff, dict) else None
            if not isinstance(pkg, dict) or not pkg.get("ecosystem") or not pkg.get("name"):
                continue  # affected entries without a package (e.g. GIT-only) cannot match a lockfile
            eco, name = package_key(str(pkg["ecosystem"]), str(pkg["name"]))
            blob, g = compact_affected(aff)
            git += g
            affs.append((eco, name, blob))
        row = (rid, modified, withdrawn, str(summary), orjson.dumps(aliases).decode(), severity, score, vector, informational(doc))
        return row, affs, git

    # ---- queries ------------------------------------------------------------------------------------
    def affected_for(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, bytes, int]]]:
        """All affected entries for these packages: (ecosystem, name) -> [(advisory id, blob, withdrawn)].

        One indexed IN query per 900 names (under SQLite's oldest variable limit) instead of a
        query per package; measured faster than filling and joining a temp table.
        """
        by_eco: dict[str, list[str]] = {}
        for eco, name in keys:
            by_eco.setdefault(eco, []).append(name)
        out: dict[tuple[str, str], list] = {}
        for eco, names in by_eco.items():
            for i in range(0, len(names), 900):
                chunk = names[i:i + 900]
                q = ("SELECT a.name, a.advisory_id, a.data, v.withdrawn FROM affected a JOIN advisories v ON v.id = a.advisory_id "
                     f"WHERE a.ecosystem = ? AND a.name IN ({','.join('?' * len(chunk))})")
                for name, rid, blob, wd in self.conn.execute(q, (eco, *chunk)):
                    out.setdefault((eco, name), []).append((rid, blob, wd))
        return out

    def advisories(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(dict.fromkeys(ids))
        out = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = f"SELECT id, summary, aliases, severity, score, vector, informational, modified FROM advisories WHERE id IN ({','.join('?' * len(chunk))})"
            for rid, summary, aliases, sev, score, vector, info, modified in self.conn.execute(q, chunk):
                out[rid] = {"id": rid, "summary": summary, "aliases": orjson.loads(aliases), "severity": sev, "score": score,
                            "vector": vector, "informational": info, "modified": modified}
        return out

    def stats(self) -> dict[str, Any]:
        c = self.conn
        by_eco = dict(c.execute("SELECT ecosystem, COUNT(DISTINCT advisory_id) FROM affected GROUP BY ecosystem ORDER BY ecosystem"))
        by_sev = dict(c.execute("SELECT severity, COUNT(*) FROM advisories GROUP BY severity"))
        meta = dict(c.execute("SELECT key, value FROM meta"))
        return {
            "path": str(self.path),
            "advisories": c.execute("SELECT COUNT(*) FROM advisories").fetchone()[0],
            "withdrawn": c.execute("SELECT COUNT(*) FROM advisories WHERE withdrawn = 1").fetchone()[0],
            "packages": c.execute("SELECT COUNT(*) FROM (SELECT DISTINCT ecosystem, name FROM affected)").fetchone()[0],
            "by_ecosystem": by_eco,
            "by_severity": by_sev,
            "last_import": meta.get("last_import"),
            "newest_modified": c.execute("SELECT MAX(modified) FROM advisories").fetchone()[0],
        }


# ---- reading OSV sources ------------------------------------------------------------------------
def _decode(name: str, data: bytes) -> Any:
    if len(data) > MAX_RECORD_BYTES:
        return ValueError(f"record is over {MAX_RECORD_BYTES} bytes")
    try:
        if name.endswith(".json"):
            return orjson.loads(data)
        return yaml.load(io.BytesIO(data), Loader=_YAML_LOADER)
    except orjson.JSONDecodeError as exc:
        return ValueError(f"invalid JSON at line {exc.lineno}: {exc.msg}")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return ValueError(f"invalid YAML{where}: {getattr(exc, 'problem', None) or exc}")


def read_records(path: str | os.PathLike) -> Iterator[tuple[str, Any]]:
    """Yield (origin, document-or-error) for every OSV record in a folder (recursively) or a zip."""
    p = Path(path)
    if p.is_dir():
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for fn in sorted(files):
                if fn.endswith(_SUFFIXES):
                    fp = os.path.join(root, fn)
                    try:
                        if os.path.getsize(fp) > MAX_RECORD_BYTES:
                            yield fp, ValueError(f"record is over {MAX_RECORD_BYTES} bytes")
                            continue
                        with open(fp, "rb") as f:
                            data = f.read()
                    except OSError as exc:
                        yield fp, exc
                        continue
                    yield fp, _decode(fn, data)
    elif zipfile.is_zipfile(p):
        try:
            with zipfile.ZipFile(p) as zf:
                for info in zf.infolist():
                    if info.is_dir() or not info.filename.endswith(_SUFFIXES):
                        continue
                    origin = f"{p}!{info.filename}"
                    if info.file_size > MAX_RECORD_BYTES:
                        yield origin, ValueError(f"record is over {MAX_RECORD_BYTES} bytes")
                        continue
                    yield origin, _decode(info.filename, zf.read(info))
        except (zipfile.BadZipFile, OSError) as exc:
            raise SbomError(f"{p}: cannot read zip: {exc}") from None
    elif p.is_file() and p.name.endswith(_SUFFIXES):
        yield str(p), _decode(p.name, p.read_bytes())
    else:
        raise SbomError(f"{p}: not a folder, a zip or an OSV record file")


def import_osv(path: str | os.PathLike, db_path: str | os.PathLike) -> ImportStats:
    """Import a folder or zip of OSV records (JSON or YAML) into the database at db_path."""
    t0 = time.perf_counter()
    with VulnDB(db_path) as db:
        stats = db.import_records(read_records(path))
    stats.seconds = time.perf_counter() - t0
    return stats
