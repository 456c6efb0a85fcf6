"""Pure-Python twin of ext/lp_web.pxi: web server logs, tried on a line that is not syslog.

- access: nginx/Apache common and combined format,
  `client ident user [10/Oct/2000:13:55:36 -0700] "GET /p HTTP/1.1" 200 2326 "referer" "agent"`.
- nginx_error: `2021/09/30 09:23:53 [error] 1234#0: *1 ..., client: 1.2.3.4, server: ...`.
- apache_error: `[Wed Oct 11 14:32:52.123 2023] [auth_basic:error] [pid 1:tid 2] [client 1.2.3.4:5] ...`
  (and Apache 2.2's `[Wed Oct 11 14:32:52 2023] [error] [client 1.2.3.4] ...`).

The message stays the whole line, as the server writes no separate header that rules could rely on.
The address comes from where the server writes it: the first field of an access line, the first
`[client ...]` group of an Apache error line (both before anything a client controls). nginx's
error line writes text a client chose (a path, a user name, the request, the Host header) both
before and after its `, client: ADDR,`, so the address is taken only when every such place names the
same one; the rules' own `extract:` patterns, anchored to their message, decide their bans.
Internally fields are bytes slices, as in C; the algorithm is mirrored step by step there.
"""

from __future__ import annotations

from ironpost.log_pipeline.parsers.civil_py import days_from_civil, valid_ip

FMT_ACCESS, FMT_NGINX_ERROR, FMT_APACHE_ERROR = 4, 5, 6
# text fields beyond the syslog ones; status and bytes are ints
HTTP_FIELDS = ("method", "path", "protocol", "referer", "user_agent", "level")
_MONTHS = {m.encode(): i + 1 for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
LEVELS = {b"emerg": 0, b"alert": 1, b"crit": 2, b"error": 3, b"warn": 4, b"notice": 5, b"info": 6, b"debug": 7,
          **{b"trace%d" % k: 7 for k in range(1, 9)}}
_IPCHARS = frozenset(b"0123456789abcdefABCDEF.:")
_MAX_GROUPS = 8  # Apache writes at most 5 bracket groups before the message




def _digits(b: bytes, i: int, n: int) -> int | None:
    """The value of exactly n ASCII digits at b[i:], or None."""
    if i + n > len(b):
        return None
    v = 0
    for c in b[i : i + n]:
        if not 48 <= c <= 57:
            return None
        v = v * 10 + c - 48
    return v


def _epoch(y: int, mon: int, d: int, hh: int, mi: int, ss: int) -> int | None:
    if mon < 1 or mon > 12 or d < 1 or d > 31 or hh > 23 or mi > 59 or ss > 60:
        return None
    return days_from_civil(y, mon, d) * 86400 + hh * 3600 + mi * 60 + ss


def _quoted_end(b: bytes, q: int) -> int:
    """Index of the quote closing a string that starts at b[q] (after its opening quote), or -1.
    A backslash escapes the next byte (Apache writes \\" inside a request)."""
    e = len(b)
    while q < e:
        c = b[q]
        if c == 0x5C:
            q += 2
            continue
        if c == 0x22:
            return q
        q += 1
    return -1


def _token_end(b: bytes, i: int) -> int:
    k = b.find(b" ", i)
    return len(b) if k < 0 else k


def parse_access(b: bytes, r: dict) -> bool:
    e = len(b)
    k = 0
    while k < e and b[k] in _IPCHARS:
        k += 1
    if k == 0 or k >= e or b[k] != 0x20 or not valid_ip(b[:k]):
        return False
    j = k + 1
    t = _token_end(b, j)  # ident
    if t == j or t >= e:
        return False
    j = t + 1
    t = _token_end(b, j)  # user
    if t == j or t >= e:
        return False
    user = b[j:t]
    p = t + 1
    if p >= e or b[p] != 0x5B or e - p < 30:
        return False
    p += 1
    # dd/Mon/yyyy:HH:MM:SS +hhmm]
    if not (b[p + 2] == 0x2F and b[p + 6] == 0x2F and b[p + 11] == 0x3A and b[p + 14] == 0x3A and b[p + 17] == 0x3A
            and b[p + 20] == 0x20 and b[p + 21] in (0x2B, 0x2D) and b[p + 26] == 0x5D):
        return False
    mon = _MONTHS.get(b[p + 3 : p + 6], 0)
    d, y, hh, mi, ss = _digits(b, p, 2), _digits(b, p + 7, 4), _digits(b, p + 12, 2), _digits(b, p + 15, 2), _digits(b, p + 18, 2)
    oh, om = _digits(b, p + 22, 2), _digits(b, p + 24, 2)
    if None in (d, y, hh, mi, ss, oh, om) or mon == 0 or oh > 23 or om > 59:
        return False
    base = _epoch(y, mon, d, hh, mi, ss)
    if base is None:
        return False
    off = (oh * 3600 + om * 60) * (1 if b[p + 21] == 0x2B else -1)
    p += 27
    if p + 1 >= e or b[p] != 0x20 or b[p + 1] != 0x22:
        return False
    rs = p + 2
    q = _quoted_end(b, rs)
    if q < 0 or q + 5 >= e or b[q + 1] != 0x20 or b[q + 5] != 0x20:
        return False
    status = _digits(b, q + 2, 3)
    if status is None:
        return False
    j = q + 6
    t = _token_end(b, j)
    tok = b[j:t]
    if tok == b"-":
        nbytes = None
    elif 0 < len(tok) <= 18 and tok.isdigit():
        nbytes = int(tok)
    else:
        return False
    r["fmt"] = FMT_ACCESS
    r["timestamp"] = float(base - off)
    r["src_ip"] = b[:k]
    if user != b"-":
        r["user"] = user
    req = b[rs:q]
    sp1 = req.find(b" ")
    if sp1 >= 0:
        sp2 = req.rfind(b" ")
        r["method"] = req[:sp1]
        if sp2 == sp1:
            r["path"] = req[sp1 + 1 :]
        else:
            r["path"] = req[sp1 + 1 : sp2]
            r["protocol"] = req[sp2 + 1 :]
    r["status"] = status
    if nbytes is not None:
        r["bytes"] = nbytes
    # combined format: "referer" "agent"
    if t + 1 < e and b[t] == 0x20 and b[t + 1] == 0x22:
        q = _quoted_end(b, t + 2)
        if q >= 0:
            r["referer"] = b[t + 2 : q]
            if q + 2 < e and b[q + 1] == 0x20 and b[q + 2] == 0x22:
                q2 = _quoted_end(b, q + 3)
                if q2 >= 0:
                    r["user_agent"] = b[q + 3 : q2]
    return True


def _lower_word(b: bytes, i: int, stop: int) -> int:
    """End of a run of a-z0-9 starting at b[i] (before `stop`)."""
    while i < stop and (97 <= b[i] <= 122 or 48 <= b[i] <= 57):
        i += 1
    return i


def parse_nginx_error(b: bytes, r: dict) -> bool:
    e = len(b)
    if e < 24 or not (b[4] == 0x2F and b[7] == 0x2F and b[10] == 0x20 and b[13] == 0x3A and b[16] == 0x3A
                      and b[19] == 0x20 and b[20] == 0x5B):
        return False
    y, mon, d, hh, mi, ss = (_digits(b, 0, 4), _digits(b, 5, 2), _digits(b, 8, 2), _digits(b, 11, 2), _digits(b, 14, 2),
                             _digits(b, 17, 2))
    if None in (y, mon, d, hh, mi, ss):
        return False
    base = _epoch(y, mon, d, hh, mi, ss)
    if base is None:
        return False
    k = _lower_word(b, 21, e)
    if k == 21 or k - 21 > 8 or k + 1 >= e or b[k] != 0x5D or b[k + 1] != 0x20:
        return False
    level = b[21:k]
    j = k + 2
    pid = 0
    t = j
    while t < e and 48 <= b[t] <= 57 and t - j < 9:
        pid = pid * 10 + b[t] - 48
        t += 1
    if t == j or t >= e or b[t] != 0x23:
        return False
    r["fmt"] = FMT_NGINX_ERROR
    r["timestamp"] = float(base)
    r["level"] = level
    if level in LEVELS:
        r["severity"] = LEVELS[level]
    r["pid"] = pid
    got = None
    p = b.find(b", client: ", t)
    while p >= 0:
        s = p + 10
        u = s
        while u < e and b[u] not in (0x2C, 0x20):
            u += 1
        if valid_ip(b[s:u]):
            if got is None:
                got = b[s:u]
            elif b[s:u] != got:
                return True  # two addresses: a client wrote one of them, and no ban may follow a guess
        p = b.find(b", client: ", s)
    if got is not None:
        r["src_ip"] = got
    return True


def _client(tok: bytes, r: dict) -> None:
    """`[client ADDR]`: 1.2.3.4, 1.2.3.4:5, [2001:db8::1]:5, or a bare IPv6 address."""
    if tok[:1] == b"[":
        k = tok.find(b"]:")
        if k > 1 and valid_ip(tok[1:k]):
            port = tok[k + 2 :]
            r["src_ip"] = tok[1:k]
            if 0 < len(port) <= 5 and port.isdigit() and int(port) <= 65535:
                r["port"] = int(port)
        return
    if valid_ip(tok):
        r["src_ip"] = tok
        return
    k = tok.rfind(b":")
    if k > 0 and valid_ip(tok[:k]):
        port = tok[k + 1 :]
        if 0 < len(port) <= 5 and port.isdigit() and int(port) <= 65535:
            r["src_ip"] = tok[:k]
            r["port"] = int(port)


def parse_apache_error(b: bytes, r: dict) -> bool:
    e = len(b)
    # [Www Mmm dd HH:MM:SS[.frac] yyyy]
    if e < 27 or b[0] != 0x5B or b[4] != 0x20 or b[8] != 0x20 or b[11] != 0x20 or b[14] != 0x3A or b[17] != 0x3A:
        return False
    mon = _MONTHS.get(b[5:8], 0)
    d = _digits(b, 9, 2) if b[9] != 0x20 else _digits(b, 10, 1)
    hh, mi, ss = _digits(b, 12, 2), _digits(b, 15, 2), _digits(b, 18, 2)
    if mon == 0 or None in (d, hh, mi, ss):
        return False
    i = 20
    frac = b""
    if b[i] == 0x2E:
        i += 1
        s = i
        while i < e and 48 <= b[i] <= 57 and i - s < 9:
            i += 1
        if i == s:
            return False
        frac = b[s:i]
    if i + 6 > e or b[i] != 0x20 or b[i + 5] != 0x5D:
        return False
    y = _digits(b, i + 1, 4)
    if y is None:
        return False
    base = _epoch(y, mon, d, hh, mi, ss)
    if base is None:
        return False
    i += 6
    # the level group: [module:level] or [level]
    if i + 2 >= e or b[i] != 0x20 or b[i + 1] != 0x5B:
        return False
    k = b.find(b"]", i + 2)
    if k < 0:
        return False
    grp = b[i + 2 : k]
    c = grp.rfind(b":")
    level = grp[c + 1 :]
    if level not in LEVELS:
        return False
    r["fmt"] = FMT_APACHE_ERROR
    ts = float(base)
    if frac:
        ts = float(base) + float(int(frac)) / (10.0 ** len(frac))
    r["timestamp"] = ts
    r["level"] = level
    r["severity"] = LEVELS[level]
    if c > 0:
        r["tag"] = grp[:c]
    i = k + 1
    for _ in range(_MAX_GROUPS):
        if i + 1 >= e or b[i] != 0x20 or b[i + 1] != 0x5B:
            break
        s = i + 2
        if b[s : s + 8] == b"client [":
            k = b.find(b"]", s + 8)  # the address's own bracket
            k = b.find(b"]", k + 1) if k >= 0 else -1
        else:
            k = b.find(b"]", s)
        if k < 0:
            break
        grp = b[s:k]
        if grp[:4] == b"pid ":
            t = 4
            v = 0
            while t < len(grp) and 48 <= grp[t] <= 57 and t < 13:
                v = v * 10 + grp[t] - 48
                t += 1
            if t > 4:
                r["pid"] = v
        elif grp[:7] == b"client " and "src_ip" not in r:
            _client(grp[7:], r)
        i = k + 1
    return True


def parse_web(b: bytes, r: dict) -> bool:
    """Fill r (fmt, timestamp, src_ip, ...) when b is a web server log line; message stays the line."""
    if not b:
        return False
    c = b[0]
    if c == 0x5B:
        return parse_apache_error(b, r)
    if 48 <= c <= 57 and parse_nginx_error(b, r):
        return True
    return c in _IPCHARS and parse_access(b, r)
