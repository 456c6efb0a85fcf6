"""Pure-Python twin of ext/logparse.pyx (+ ext/lp_parse.pxd): the reference parser.

parse(buf, year, ref_month=0, max_line=65536, json_max_depth=32) -> Parsed
  Parsed.record(i) -> dict, Parsed.records(), len(Parsed), Parsed.stats
Formats, detected per line: JSON object (orjson; nested objects flattened to dotted names),
RFC 5424, RFC 3164 with or without PRI (also the /var/log/auth.log file form and an RFC 3339
timestamp in place of the BSD one), else raw text. BSD timestamps are read as UTC in `year`;
with ref_month > 0 a month after ref_month belongs to the year before (December read in January).
Built-in fields taken from the message: src_ip (+ port), rhost, user.
Internally fields are bytes slices, as in C, so that matching sees the same bytes.
"""

from __future__ import annotations

import re

import orjson

from ironpost.log_pipeline.parsers.civil_py import days_from_civil, valid_ip
from ironpost.log_pipeline.parsers.weblog_py import (HTTP_FIELDS, parse_access, parse_apache_error, parse_nginx_error,
                                                     parse_web)
from ironpost.log_pipeline.sd import parse_sd

FIELD_NAMES = ("host", "process", "tag", "msgid", "message", "src_ip", "user", "rhost", "raw")
FMT_NAMES = ("raw", "rfc3164", "rfc5424", "json", "access", "nginx_error", "apache_error")
FMT_RAW, FMT_3164, FMT_5424, FMT_JSON = 0, 1, 2, 3
# a source's format (`[log_pipeline] formats`): auto-detect per line, or read every line as one shape
# and anything else as raw text; the index is the `mode` argument of parse() and Matcher.scan()
MODE_NAMES = ("auto", "syslog", "json", "access", "nginx_error", "apache_error", "raw")
MODE_AUTO, MODE_SYSLOG, MODE_JSON, MODE_ACCESS, MODE_RAW = 0, 1, 2, 3, 6
_MONTHS = {m.encode(): i + 1 for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
_SEV_NAMES = {"emerg": 0, "emergency": 0, "panic": 0, "alert": 1, "crit": 2, "critical": 2, "fatal": 2,
              "err": 3, "error": 3, "warn": 4, "warning": 4, "notice": 5, "info": 6, "informational": 6,
              "debug": 7, "trace": 7}
# the last name of each group is journald's (`journalctl -o json`, which writes every value as a string);
# for the process its trusted _COMM (set by journald from the kernel) comes before SYSLOG_IDENTIFIER,
# which any local user can choose (`logger -t sshd ...` must not pass for sshd)
_TS_KEYS = ("@timestamp", "timestamp", "ts", "time", "__REALTIME_TIMESTAMP")
_HOST_KEYS = ("host", "hostname", "host.name", "_HOSTNAME")
_MSG_KEYS = ("message", "msg", "MESSAGE")
_SEV_KEYS = ("severity", "level", "log.level", "PRIORITY")
_PROC_KEYS = ("process", "program", "app", "appname", "process.name", "_COMM", "SYSLOG_IDENTIFIER")
_PID_KEYS = ("pid", "process.pid", "_PID")

_BSD_TS = re.compile(rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ 0-9][0-9]|[0-9](?= )) ([0-9]{2}):([0-9]{2}):([0-9]{2})")
_RFC3339 = re.compile(
    rb"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_RFC3339_BAD_FRAC = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.(?![0-9])")
_RFC3339_BAD_OFF = re.compile(rb"[+-](?![0-9]{2}:[0-9]{2})")
_TAG = re.compile(rb"([^ \[(:]+)(?:\(([^) ]{0,64})\))?(?:\[([0-9]{1,9})\])?(?:(:) ?|( ))")
_BRACKET_TAG = re.compile(rb"\[([^\] \[]+)\]:? ?")
_IP_KW = re.compile(rb"from |rhost=|by ")
_IP_CHARS = re.compile(rb"[0-9a-fA-F.:]*")
_PORT = re.compile(rb" port ([0-9]{1,5})(?![0-9])")
_RHOST = re.compile(rb"rhost=")
_USER_EQ = re.compile(rb"(?<![A-Za-z0-9_])user=([^ ;]*)")
_USER_INVALID = re.compile(rb"[iI]nvalid user ([^ ]*)")
_USER_FOR_USER = re.compile(rb"for user ([^ ]*)")
_USER_FOR_FROM = re.compile(rb"for ([^ ]+) from ")



def parse_bsd_ts(b: bytes, i: int, year: int, ref_month: int):
    """(ts, end) for 'Mmm dd hh:mm:ss' at b[i:], or None."""
    m = _BSD_TS.match(b, i)
    if not m:
        return None
    mon = _MONTHS[m.group(1)]
    d = m.group(2)
    day = int(d[1:]) if d[0] == 0x20 else int(d)  # " 7", "07" or "7"
    hh, mi, ss = int(m.group(3)), int(m.group(4)), int(m.group(5))
    if day < 1 or day > 31 or hh > 23 or mi > 59 or ss > 60:
        return None
    y = year - 1 if ref_month > 0 and mon > ref_month else year
    return float(days_from_civil(y, mon, day) * 86400 + hh * 3600 + mi * 60 + ss), m.end()


def parse_rfc3339(b: bytes, i: int):
    """(ts, end) for an RFC 3339 timestamp at b[i:], or None (no offset means UTC)."""
    m = _RFC3339.match(b, i)
    if not m or _RFC3339_BAD_FRAC.match(b, i):
        return None
    if m.group(8) is None and m.end() < len(b) and _RFC3339_BAD_OFF.match(b, m.end()):
        return None
    y, mon, day, hh, mi, ss = (int(m.group(k)) for k in range(1, 7))
    if mon < 1 or mon > 12 or day < 1 or day > 31 or hh > 23 or mi > 59 or ss > 60:
        return None
    off = 0
    tz = m.group(8)
    if tz and tz != b"Z":
        oh, om = int(tz[1:3]), int(tz[4:6])
        if oh > 23 or om > 59:
            return None
        off = (1 if tz[0:1] == b"+" else -1) * (oh * 3600 + om * 60)
    base = days_from_civil(y, mon, day) * 86400 + hh * 3600 + mi * 60 + ss - off
    frac = m.group(7)
    ts = float(base)
    if frac:
        frac = frac[:9]
        ts = float(base) + float(int(frac)) / (10.0 ** len(frac))
    return ts, m.end()



def extract_fields(msg: bytes, r: dict) -> None:
    for m in _IP_KW.finditer(msg):
        t = m.end()
        k = _IP_CHARS.match(msg, t).end()
        u = -1
        if k > t and valid_ip(msg[t:k]):
            u = k
        elif k - 1 > t and msg[k - 1] == 0x3A and valid_ip(msg[t : k - 1]):
            u = k - 1
        if u < 0:
            continue
        r["src_ip"] = msg[t:u]
        pm = _PORT.match(msg, u)
        if pm and int(pm.group(1)) <= 65535:
            r["port"] = int(pm.group(1))
        break
    k = msg.find(b"rhost=")
    if k >= 0:
        tok = msg[k + 6 :].split(b" ", 1)[0]
        if tok:
            r["rhost"] = tok
    for rx in (_USER_EQ, _USER_INVALID, _USER_FOR_USER, _USER_FOR_FROM):
        for m in rx.finditer(msg):
            if m.group(1):
                r["user"] = m.group(1)
                return


def _is_tag_token(tok: bytes) -> bool:
    """A first token that is the tag, not a host name: `sshd[1]:`, `sshd:`, `[sshd]`."""
    return tok[:1] == b"[" or tok.endswith(b":") or b"[" in tok


def _tag(b: bytes, j: int, r: dict) -> None:
    if b[j : j + 1] == b"[":
        m = _BRACKET_TAG.match(b, j)
        if not m:
            r["message"] = b[j:]
            return
        r["process"] = m.group(1)
        r["message"] = b[m.end() :]
        return
    m = _TAG.match(b, j)
    if not m or (m.group(5) is not None and m.group(3) is None):  # `name[pid] msg` needs the pid
        r["message"] = b[j:]
        return
    r["process"] = m.group(1)
    if m.group(2) is not None:
        r["tag"] = m.group(2)
    if m.group(3) is not None:
        r["pid"] = int(m.group(3))
    r["message"] = b[m.end() :]


def _token(b: bytes, i: int) -> int:
    k = b.find(b" ", i)
    return len(b) if k < 0 else k


def _parse_5424(b: bytes, i: int, r: dict) -> bool:
    e = len(b)
    if i >= e:
        return False
    if b[i] == 0x2D:
        i += 1
    else:
        got = parse_rfc3339(b, i)
        if not got:
            return False
        r["timestamp"], i = got
    if i >= e or b[i] != 0x20:
        return False
    i += 1
    for name in ("host", "process", "procid", "msgid"):
        k = _token(b, i)
        if k == i or k >= e:
            return False
        tok = b[i:k]
        if name == "procid":
            if len(tok) <= 9 and tok.isdigit():
                r["pid"] = int(tok)
        elif tok != b"-":
            r[name] = tok
        i = k + 1
    if i >= e:
        return False
    if b[i] == 0x2D:
        i += 1
    elif b[i] == 0x5B:
        s = i
        while i < e and b[i] == 0x5B:
            i += 1
            inq = False
            while i < e:
                c = b[i]
                if inq:
                    if c == 0x5C:
                        i += 2
                        continue
                    if c == 0x22:
                        inq = False
                elif c == 0x22:
                    inq = True
                elif c == 0x5D:
                    break
                i += 1
            if i >= e:
                return False
            i += 1
        r["sd"] = b[s:i]
    else:
        return False
    if i < e:
        if b[i] != 0x20:
            return False
        i += 1
        if b[i : i + 3] == b"\xef\xbb\xbf":
            i += 3
    r["message"] = b[i:]
    r["fmt"] = FMT_5424
    return True


_WEB_AS = {3: parse_access, 4: parse_nginx_error, 5: parse_apache_error}


def _raw(r: dict, b: bytes) -> dict:
    r["message"] = b
    extract_fields(b, r)
    return r


def parse_line(b: bytes, year: int, ref_month: int, mode: int = MODE_AUTO) -> dict:
    """Parse one line (no newline) into a dict of bytes fields and ints (the C LineRec)."""
    if b.endswith(b"\r"):
        b = b[:-1]
    r: dict = {"fmt": FMT_RAW, "raw": b}
    if mode >= MODE_ACCESS:
        if mode != MODE_RAW and _WEB_AS[mode](b, r):
            r["message"] = b
            return r
        return _raw({"fmt": FMT_RAW, "raw": b}, b)
    if b[:1] == b"{" and mode != MODE_SYSLOG:
        r["fmt"] = FMT_JSON
        return r
    if mode == MODE_JSON:
        return _raw(r, b)
    i = 0
    fac = sev = None
    if b[:1] == b"<":
        m = re.match(rb"<([0-9]{1,3})>", b)
        if m and int(m.group(1)) <= 191:
            v = int(m.group(1))
            fac, sev = v >> 3, v & 7
            i = m.end()
            vm = re.match(rb"[1-9][0-9]? ", b[i:])
            if vm:
                cand = {"fmt": FMT_RAW, "raw": b}
                if _parse_5424(b, i + vm.end(), cand):
                    cand["facility"], cand["severity"] = fac, sev
                    extract_fields(cand["message"], cand)
                    return cand
    if fac is not None:
        r["facility"], r["severity"] = fac, sev
    got = parse_bsd_ts(b, i, year, ref_month)
    if not got and b[i : i + 1].isdigit():
        got = parse_rfc3339(b, i)
    if got and got[1] < len(b) and b[got[1]] == 0x20:
        ts, j = got
        j += 1
        k = _token(b, j)
        if k > j:
            r["fmt"] = FMT_3164
            r["timestamp"] = ts
            if _is_tag_token(b[j:k]):
                _tag(b, j, r)  # a writer that leaves out the host field
            else:
                r["host"] = b[j:k]
                if k < len(b):
                    _tag(b, k + 1, r)
                else:
                    r["message"] = b""
            extract_fields(r["message"], r)
            return r
    if i == 0 and mode == MODE_AUTO and parse_web(b, r):
        r["message"] = b  # a web server's line has no header a rule could rely on
        return r
    r["message"] = b[i:]
    extract_fields(r["message"], r)
    return r


def shapes_tried(line: bytes, mode: int = MODE_AUTO) -> list[str]:
    """The shapes parse_line tries on this line, in order (what `rules explain` reports for a raw line)."""
    b = line[:-1] if line.endswith(b"\r") else line
    if mode == MODE_RAW:
        return []
    if mode >= MODE_ACCESS or mode == MODE_JSON:
        return [MODE_NAMES[mode]]
    if b[:1] == b"{" and mode == MODE_AUTO:
        return ["json"]
    out = []
    m = re.match(rb"<([0-9]{1,3})>", b)
    pri = bool(m and int(m.group(1)) <= 191)
    if pri and re.match(rb"[1-9][0-9]? ", b[m.end():]):
        out.append("rfc5424")
    out.append("rfc3164")
    if not pri and mode == MODE_AUTO and b:
        if b[0] == 0x5B:
            out.append("apache_error")
        else:
            if 48 <= b[0] <= 57:
                out.append("nginx_error")
            if b[0] in b"0123456789abcdefABCDEF.:":
                out.append("access")
    return out


W_TS, W_PID, W_PORT, W_PRI, W_SD, W_FORMAT = (1 << 9), (1 << 10), (1 << 11), (1 << 12), (1 << 13), (1 << 14)
W_HTTP = 1 << 15  # method, path, protocol, referer, user_agent, level, status, bytes


def want_mask(names) -> int:
    """Bit mask for `want`: the built-in text fields by name, plus timestamp/pid/port/facility/
    severity/sd.*/format; None means every field."""
    if names is None:
        return -1
    m = 0
    for n in names:
        if n in FIELD_NAMES:
            m |= 1 << FIELD_NAMES.index(n)
        elif n == "timestamp":
            m |= W_TS
        elif n == "pid":
            m |= W_PID
        elif n == "port":
            m |= W_PORT
        elif n in ("facility", "severity"):
            m |= W_PRI
        elif n.startswith("sd."):
            m |= W_SD
        elif n == "format":
            m |= W_FORMAT
        elif n in HTTP_FIELDS or n in ("status", "bytes"):
            m |= W_HTTP
    return m


def _bit(name: str) -> int:
    return want_mask([name])


def make_record(r: dict, want: int = -1) -> dict:
    if want != -1:
        full = make_record(r)
        return {k: v for k, v in full.items() if want & _bit(k)}
    d: dict = {"format": FMT_NAMES[r["fmt"]]}
    if "timestamp" in r:
        d["timestamp"] = r["timestamp"]
    if "facility" in r:
        d["facility"] = r["facility"]
    if "severity" in r:  # web error logs give a severity without a facility
        d["severity"] = r["severity"]
    if "pid" in r:
        d["pid"] = r["pid"]
    if "port" in r:
        d["port"] = r["port"]
    for name in FIELD_NAMES:
        if name in r:
            d[name] = r[name].decode("utf-8", "replace")
    if r["fmt"] > FMT_JSON:
        for name in HTTP_FIELDS:
            if name in r:
                d[name] = r[name].decode("utf-8", "replace")
        for name in ("status", "bytes"):
            if name in r:
                d[name] = r[name]
    if r.get("sd"):
        for k, v in parse_sd(r["sd"]):
            d[k] = v
    return d


def _flatten(obj: dict, prefix: str, out: dict, depth: int, max_depth: int) -> bool:
    if depth > max_depth:
        return False
    for k, v in obj.items():
        key = prefix + k if prefix else k
        if type(v) is dict:
            if not _flatten(v, key + ".", out, depth + 1, max_depth):
                return False
        else:
            out[key] = v
    return True


def journal_text(v):
    """journald's form of a value that is not valid UTF-8 (`journalctl -o json` writes it as an
    array of byte values), as text; None for any other value. An attacker who puts one invalid
    byte in a user name must not take the whole line out of the rules' sight."""
    if type(v) is not list or not 0 < len(v) <= 65536:
        return None
    if not all(type(x) is int and 0 <= x <= 255 for x in v):
        return None
    return bytes(v).decode("utf-8", "replace")


def scan_value(v):
    """The bytes a string condition sees for a JSON value, or None when it cannot match."""
    if type(v) is str:
        return v.encode("utf-8", "surrogatepass")
    if type(v) is int or type(v) is float:
        return str(v).encode()
    return None


def _digit_str(v, n: int) -> bool:
    return type(v) is str and 0 < len(v) <= n and v.isascii() and v.isdigit()


def _json_ts(v, key: str = ""):
    if key == "__REALTIME_TIMESTAMP":  # journald: microseconds since the epoch, as a string
        return int(v) / 1e6 if _digit_str(v, 18) else None
    if type(v) is int or type(v) is float:
        return float(v) / 1000.0 if v > 1e11 else float(v)
    if type(v) is str:
        raw = v.encode("utf-8", "replace")
        got = parse_rfc3339(raw, 0)
        if got and got[1] == len(raw):
            return got[0]
    return None


def json_record(line: bytes, max_depth: int):
    """(record, error): error 0 ok, 1 not a JSON object, 2 nested deeper than max_depth."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, 1
    if type(obj) is not dict:
        return None, 1
    out: dict = {}
    if not _flatten(obj, "", out, 1, max_depth):
        return None, 2
    for k in _TS_KEYS:
        if k in out:
            ts = _json_ts(out[k], k)
            if ts is not None:
                out["timestamp"] = ts
                break
    for keys, name in ((_HOST_KEYS, "host"), (_MSG_KEYS, "message")):
        for k in keys:
            v = out.get(k)
            if type(v) is not str and name == "message":
                v = journal_text(v)
            if type(v) is str:
                out[name] = v
                break
    for k in _SEV_KEYS:
        v = out.get(k)
        if type(v) is int and 0 <= v <= 7:
            out["severity"] = v
            break
        if type(v) is str and v.lower() in _SEV_NAMES:
            out["severity"] = _SEV_NAMES[v.lower()]
            break
        if k == "PRIORITY" and _digit_str(v, 1) and v <= "7":
            out["severity"] = int(v)
            break
    for k in _PROC_KEYS:
        if type(out.get(k)) is str:
            out["process"] = out[k]
            break
    for k in _PID_KEYS:
        v = out.get(k)
        if type(v) is int or (k == "_PID" and _digit_str(v, 9)):
            out["pid"] = int(v)
            break
    msg = out.get("message")
    if type(msg) is str:
        ex: dict = {}
        extract_fields(msg.encode("utf-8", "surrogatepass"), ex)
        for name in ("src_ip", "user", "rhost"):
            if name in ex and name not in out:
                out[name] = ex[name].decode("utf-8", "replace")
        if "port" in ex and "port" not in out:
            out["port"] = ex["port"]
    out["format"] = "json"
    out["raw"] = line.decode("utf-8", "replace")
    return out, 0


def split_lines(buf: bytes, max_line: int):
    """(lines, cut): the non-empty lines of buf (without newline), cut to max_line."""
    out = []
    cut = 0
    for line in buf.split(b"\n"):
        if len(line) > max_line:
            cut += 1
            line = line[:max_line]
        out.append(line)
    if out and out[-1] == b"" and buf.endswith(b"\n"):
        out.pop()
    return out, cut


def parse_lines(buf: bytes, year: int, ref_month: int, max_line: int, json_max_depth: int, stats: dict,
                mode: int = MODE_AUTO):
    """Internal records (bytes fields) plus JSON records, for the parser and the matcher twin."""
    lines, cut = split_lines(buf, max_line)
    stats["cut"] += cut
    out = []
    for line in lines:
        r = parse_line(line, year, ref_month, mode)
        if not r["raw"]:
            continue
        if r["fmt"] == FMT_JSON:
            rec, err = json_record(r["raw"], json_max_depth)
            if err == 0:
                r["json"] = rec
            else:
                stats["json_errors" if err == 1 else "json_depth_errors"] += 1
                r["fmt"] = FMT_RAW
                r["message"] = r["raw"]
                extract_fields(r["raw"], r)
        out.append(r)
    stats["lines"] += len(out)
    for r in out:
        stats[FMT_NAMES[r["fmt"]]] += 1
    return out


def new_stats() -> dict:
    return {"lines": 0, "cut": 0, "json_errors": 0, "json_depth_errors": 0, **{f: 0 for f in FMT_NAMES}}


def record_of(r: dict, want: int = -1) -> dict:
    return dict(r["json"]) if r["fmt"] == FMT_JSON else make_record(r, want)


class Parsed:
    def __init__(self, recs: list, stats: dict):
        self._recs = recs
        self.stats = stats

    def __len__(self) -> int:
        return len(self._recs)

    def record(self, i: int) -> dict:
        """The fields of line i as a dict (a fresh copy)."""
        if i < 0 or i >= len(self._recs):
            raise IndexError(i)
        return record_of(self._recs[i])

    def records(self) -> list:
        return [self.record(i) for i in range(len(self._recs))]


def parse(buf: bytes, year: int, ref_month: int = 0, max_line: int = 65536, json_max_depth: int = 32,
          mode: int = MODE_AUTO) -> Parsed:
    if not 0 <= mode < len(MODE_NAMES):
        raise ValueError(f"mode {mode} is not one of 0..{len(MODE_NAMES) - 1} (MODE_NAMES)")
    stats = new_stats()
    return Parsed(parse_lines(buf, year, ref_month, max_line, json_max_depth, stats, mode), stats)
