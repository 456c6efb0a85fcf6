"""fail2ban's annotated filter test logs as a yardstick for the shipped rules.

The logs come from Debian's `fail2ban` package, fetched at test time (`apt-get download` +
`dpkg -x`, nothing installed) into a cache directory, so the repository carries none of them.
Each `# failJSON: {...}` comment describes the next line: `"match": true` with the `"host"`
a rule must extract, or `"match": false` for a line that must not alert. Entries with a
`"constraint"` belong to one fail2ban mode and are reported apart, as optional.

Run as a script to print the per-service table: `python tests/detection/f2b_corpus.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ironpost.core.events import SEVERITY_RANK

ROOT = Path(__file__).resolve().parents[2]
LOGS_IN_PKG = "usr/lib/python3/dist-packages/fail2ban/tests/files/logs"
# the services issue 11 asks for (file names in fail2ban's test corpus)
SERVICES = (
    "sshd", "dropbear", "pam-generic", "postfix", "dovecot", "nginx-http-auth", "nginx-botsearch",
    "nginx-limit-req", "nginx-bad-request", "apache-auth", "apache-noscript", "apache-overflows",
    "apache-shellshock", "apache-badbots", "vsftpd", "proftpd", "pure-ftpd", "mysqld-auth", "grafana",
    "gitlab", "recidive",
)


def cache_dir() -> Path:
    base = os.environ.get("IRONPOST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ironpost")
    return Path(base) / "fail2ban-logs"


def fetch(dest: Path | None = None) -> Path:
    """The corpus directory, fetched from Debian's package on first use."""
    dest = dest or cache_dir()
    if (dest / "sshd").is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["apt-get", "download", "-q", "fail2ban"]
        r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if r.returncode != 0:  # a fresh machine may not have read the package lists yet
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
            r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"apt-get download fail2ban failed: {r.stderr.strip()[-300:]}")
        deb = next(Path(tmp).glob("fail2ban_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(Path(tmp) / "x")], check=True)
        src = Path(tmp) / "x" / LOGS_IN_PKG
        dest.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            if f.is_file():
                (dest / f.name).write_bytes(f.read_bytes())
    return dest


@dataclass
class Entry:
    service: str
    lineno: int
    line: bytes
    match: bool
    host: str | None
    optional: bool
    hits: list = field(default_factory=list)  # (rule id, severity, src_ip, src_host)

    def caught(self) -> bool:
        return any(self.host in (ip, h) for _, _, ip, h in self.hits)

    def alarming(self) -> list:
        return [rid for rid, sev, _, _ in self.hits if SEVERITY_RANK[sev] >= SEVERITY_RANK["medium"]]


def read_entries(path: Path) -> tuple[list[bytes], dict[int, dict]]:
    """All lines of a corpus file, and the failJSON annotation for each annotated line index."""
    lines = path.read_bytes().split(b"\n")
    notes: dict[int, dict] = {}
    for i, raw in enumerate(lines):
        if raw.startswith(b"# failJSON:") and i + 1 < len(lines):
            notes[i + 1] = json.loads(raw.split(b":", 1)[1])
    return lines, notes


def evaluate(corpus: Path, rules: list, services=SERVICES) -> dict[str, list[Entry]]:
    """Replay each service's file, in order, through one Pipeline per file; record every rule
    match (before thresholds) against the line being read."""
    from ironpost.log_pipeline.pipeline import Pipeline

    out: dict[str, list[Entry]] = {}
    for svc in services:
        lines, notes = read_entries(corpus / svc)
        pipe = Pipeline(rules, year=2005, fast_thresholds=False)
        entries = []
        for i, raw in enumerate(lines):
            if not raw.strip() or raw.startswith(b"#"):
                continue
            note = notes.get(i)
            hits: list = []
            pipe.process(raw + b"\n", source=svc,
                         on_match=lambda r, rec, _s: hits.append((r.id, r.severity, rec.get("src_ip"), rec.get("src_host"))))
            if note is None:
                continue
            entries.append(Entry(svc, i + 1, raw, bool(note.get("match")), note.get("host"),
                                 "constraint" in note, hits))
        out[svc] = entries
    return out


def table(results: dict[str, list[Entry]]) -> tuple[str, dict]:
    """A markdown table per service, and the totals."""
    rows = ["| service | attack lines with a host | caught with that host | benign lines | benign hit by medium+ |",
            "|---|---|---|---|---|"]
    tot = {"attacks": 0, "caught": 0, "benign": 0, "false": 0, "opt_attacks": 0, "opt_caught": 0}
    for svc, entries in results.items():
        att = [e for e in entries if e.match and e.host and not e.optional]
        ben = [e for e in entries if not e.match and not e.optional]
        c = sum(e.caught() for e in att)
        f = sum(bool(e.alarming()) for e in ben)
        opt = [e for e in entries if e.match and e.host and e.optional]
        tot["attacks"] += len(att)
        tot["caught"] += c
        tot["benign"] += len(ben)
        tot["false"] += f
        tot["opt_attacks"] += len(opt)
        tot["opt_caught"] += sum(e.caught() for e in opt)
        rows.append(f"| {svc} | {len(att)} | {c} | {len(ben)} | {f} |")
    pct = 100.0 * tot["caught"] / max(1, tot["attacks"])
    rows.append(f"| **all** | {tot['attacks']} | {tot['caught']} ({pct:.1f}%) | {tot['benign']} | {tot['false']} |")
    return "\n".join(rows), tot


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from ironpost.log_pipeline.rules.loader import load_rules_strict

    rules = load_rules_strict(ROOT / "rules")
    res = evaluate(fetch(), rules)
    text, tot = table(res)
    print(text)
    print(f"\noptional (mode-specific) attack lines: {tot['opt_caught']} of {tot['opt_attacks']} caught")
    if "-v" in sys.argv:
        for entries in res.values():
            for e in entries:
                if e.match and e.host and not e.optional and not e.caught():
                    print("MISS", e.service, e.lineno, e.host, e.hits, e.line[:200])
                if not e.match and not e.optional and e.alarming():
                    print("FALSE", e.service, e.lineno, e.alarming(), e.line[:200])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
