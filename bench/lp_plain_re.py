"""The reference a user would write by hand: plain Python `re` over an auth log, the same
ssh brute-force detection (5 failures per source IP within 60 s of log time, one alert per
incident). Used by lp_e2e.py to put the pipeline's end-to-end figures in context."""

import calendar
import sys
from collections import defaultdict, deque

import re

HEAD = re.compile(r"^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) \S+ sshd\[\d+\]: (.*)$")
FAILED = re.compile(r"^Failed password for (?:invalid user )?\S+ from (\S+) port \d+ ssh2")
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


def main(path: str, year: int) -> int:
    windows: dict[str, deque] = defaultdict(deque)
    last_alert: dict[str, float] = {}
    alerts = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = HEAD.match(line.rstrip("\n"))
            if not m:
                continue
            fm = FAILED.match(m.group(6))
            if not fm:
                continue
            ts = calendar.timegm((year, MONTHS[m.group(1)], int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5))))
            ip = fm.group(1)
            w = windows[ip]
            w.append(ts)
            while w and w[0] < ts - 60:
                w.popleft()
            if len(w) >= 5:
                prev = last_alert.get(ip)
                last_alert[ip] = ts
                if prev is None or ts - prev > 60:
                    alerts += 1
                    sys.stdout.write(f'{{"type":"alert","rule_id":"ssh_brute_force","src_ip":"{ip}","count":{len(w)}}}\n')
    return alerts




class ShippedReference:
    """The shipped rule set done by hand the way a Python regex tool (fail2ban) does it: per line,
    each rule's message regexes with `re`, then its extract patterns and a per-source sliding
    window. Equal work to the pipeline's for the rules' string conditions and thresholds; no
    sessions, no `not` conditions, so it does a little less than the pipeline."""

    def __init__(self, rules):
        self.rules = []
        for r in rules:
            if r.input != "logs":
                continue
            conds = [re.compile(c.value if c.operator == "regex" else re.escape(str(c.value)),
                                re.IGNORECASE if c.caseless else 0)
                     for c in r.conditions if c.field in ("message", "raw") and c.operator in ("regex", "contains",
                                                                                          "startswith") and not c.negate]
            if conds:
                t = r.threshold
                self.rules.append((r.id, conds, [rx for _, rx in r.extract],
                                   t.count if t else 1, t.timeframe_secs if t else 0.0))
        self.windows: dict = defaultdict(deque)

    def process(self, buf: bytes) -> int:
        alerts = 0
        head = re.compile(r"^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) \S+ [^:\[ ]+(?:\[\d+\])?: (.*)$")
        for raw in buf.decode("utf-8", "replace").splitlines():
            m = head.match(raw)
            if m:
                msg = m.group(6)
                ts = calendar.timegm((2016, MONTHS[m.group(1)], int(m.group(2)), int(m.group(3)), int(m.group(4)),
                                      int(m.group(5))))
            else:
                msg, ts = raw, 0
            for rid, conds, extract, count, window in self.rules:
                if not all(c.search(msg) for c in conds):
                    continue
                ip = None
                for rx in extract:
                    em = rx.search(msg)
                    if em and em.groupdict().get("src_ip"):
                        ip = em.group("src_ip")
                        break
                w = self.windows[(rid, ip)]
                w.append(ts)
                while w and w[0] < ts - window:
                    w.popleft()
                if len(w) >= count:
                    alerts += 1
        return alerts


def main_shipped(rules_dir: str, path: str) -> int:
    """Every shipped rule by hand over a whole file, read in 1 MiB pieces of whole lines."""
    sys.path.insert(0, __file__.rsplit("/", 2)[0])
    from ironpost.log_pipeline.rules.loader import load_rules_strict

    ref = ShippedReference(load_rules_strict(rules_dir))
    alerts, rest = 0, b""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            chunk = rest + chunk
            cut = chunk.rfind(b"\n") + 1
            alerts += ref.process(chunk[:cut])
            rest = chunk[cut:]
    return alerts + (ref.process(rest) if rest else 0)


if __name__ == "__main__":
    if sys.argv[1] == "--shipped":  # lp_plain_re.py --shipped RULES_DIR LOG
        n = main_shipped(sys.argv[2], sys.argv[3])
    else:  # lp_plain_re.py LOG [YEAR]: the ssh brute-force rule alone
        n = main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2016)
    sys.stderr.write(f"{n} alerts\n")
