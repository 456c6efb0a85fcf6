# Included by logparse.pyx and matcher.pyx: line splitting over a whole batch, and the Python
# objects for the few lines a caller asks for (records, JSON lines). Mirrors logparse_py.py.

from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memchr
from cpython.unicode cimport PyUnicode_DecodeUTF8

import orjson

FIELD_NAMES = ("host", "process", "tag", "msgid", "message", "src_ip", "user", "rhost", "raw")
FMT_NAMES = ("raw", "rfc3164", "rfc5424", "json", "access", "nginx_error", "apache_error")
MODE_NAMES = ("auto", "syslog", "json", "access", "nginx_error", "apache_error", "raw")  # MODE_* order
HTTP_FIELDS = ("method", "path", "protocol", "referer", "user_agent", "level")  # H_* order
# typed module constants: the JSON path reads them per line
cdef tuple _FIELD_NAMES = FIELD_NAMES
cdef tuple _FMT_NAMES = FMT_NAMES
cdef tuple _HTTP_FIELDS = HTTP_FIELDS
cdef dict _SEV_NAMES = {"emerg": 0, "emergency": 0, "panic": 0, "alert": 1, "crit": 2, "critical": 2, "fatal": 2,
              "err": 3, "error": 3, "warn": 4, "warning": 4, "notice": 5, "info": 6, "informational": 6,
              "debug": 7, "trace": 7}
# the last name of each group is journald's (`journalctl -o json`, which writes every value as a string);
# for the process its trusted _COMM comes before SYSLOG_IDENTIFIER, which any local user can choose
cdef tuple _TS_KEYS = ("@timestamp", "timestamp", "ts", "time", "__REALTIME_TIMESTAMP")
cdef tuple _HOST_KEYS = ("host", "hostname", "host.name", "_HOSTNAME")
cdef tuple _MSG_KEYS = ("message", "msg", "MESSAGE")
cdef tuple _SEV_KEYS = ("severity", "level", "log.level", "PRIORITY")
cdef tuple _PROC_KEYS = ("process", "program", "app", "appname", "process.name", "_COMM", "SYSLOG_IDENTIFIER")
cdef tuple _PID_KEYS = ("pid", "process.pid", "_PID")
# key -> standard field (0 timestamp, 1 host, 2 message, 3 severity, 4 process, 5 pid) * 8 + priority
cdef dict _JSON_ROLE = {k: c * 8 + rank
                        for c, keys in enumerate((_TS_KEYS, _HOST_KEYS, _MSG_KEYS, _SEV_KEYS, _PROC_KEYS, _PID_KEYS))
                        for rank, k in enumerate(keys)}


cdef list parse_sd(bytes sd):
    """RFC 5424 structured data -> [("sd.ID.NAME", value)]; same walk as ironpost/log_pipeline/sd.py
    (kept here so the extension needs no package import at run time)."""
    cdef list out = []
    cdef Py_ssize_t n = len(sd), i = 0, j, eq
    cdef const unsigned char* p = sd
    while i < n and p[i] == 0x5B:
        i += 1
        j = i
        while j < n and p[j] != 0x20 and p[j] != 0x5D:
            j += 1
        sd_id = sd[i:j].decode("utf-8", "replace")
        i = j
        while i < n:
            while i < n and p[i] == 0x20:
                i += 1
            if i < n and p[i] == 0x5D:
                i += 1
                break
            eq = sd.find(b'="', i)
            if eq < 0:
                return out
            name = sd[i:eq].decode("utf-8", "replace")
            i = eq + 2
            val = bytearray()
            while i < n and p[i] != 0x22:
                if p[i] == 0x5C and i + 1 < n and (p[i + 1] == 0x22 or p[i + 1] == 0x5C or p[i + 1] == 0x5D):
                    val.append(p[i + 1])
                    i += 2
                    continue
                val.append(p[i])
                i += 1
            if i >= n:
                return out
            i += 1
            out.append((f"sd.{sd_id}.{name}", val.decode("utf-8", "replace")))
        else:
            return out
    return out


cdef inline str dec(const char* b, Py_ssize_t off, Py_ssize_t n):
    return PyUnicode_DecodeUTF8(b + off, n, "replace")


cdef Py_ssize_t split_lines(const char* b, Py_ssize_t n, Py_ssize_t max_line, int year, int ref_month,
                            LineRec** out, Py_ssize_t* cut, bint extract=True, int mode=MODE_AUTO) noexcept nogil:
    """Parse every non-empty line of b into a malloc'd LineRec array; returns the count or -1.
    extract=False leaves the built-in src_ip/user/rhost/port to extract_fields, run later on the
    lines a caller keeps (it is half the cost of a line)."""
    # one pass: grow the array instead of counting the lines first (a second memchr walk)
    cdef Py_ssize_t cap = n // 64 + 16, pos = 0, e, cnt = 0
    cdef const char* nl
    cdef LineRec* recs = <LineRec*>malloc(cap * sizeof(LineRec))
    cdef LineRec* nr
    if recs == NULL:
        return -1
    while pos < n:
        if cnt == cap:
            cap = cap * 2
            nr = <LineRec*>realloc(recs, cap * sizeof(LineRec))
            if nr == NULL:
                free(recs)
                return -1
            recs = nr
        nl = <const char*>memchr(b + pos, b'\n', n - pos)
        e = (nl - b) if nl != NULL else n
        if e - pos > max_line:
            cut[0] += 1
            parse_line(b, pos, pos + max_line, year, ref_month, &recs[cnt], extract, mode)
        else:
            parse_line(b, pos, e, year, ref_month, &recs[cnt], extract, mode)
        if recs[cnt].len[F_RAW] > 0:
            cnt += 1
        pos = e + 1
    out[0] = recs
    return cnt


# `want` bits: 0-8 the text fields (FIELD_NAMES order), then these; -1 builds everything
W_TS = 1 << 9
W_PID = 1 << 10
W_PORT = 1 << 11
W_PRI = 1 << 12
W_SD = 1 << 13
W_FORMAT = 1 << 14
W_HTTP = 1 << 15  # method, path, protocol, referer, user_agent, level, status, bytes


cdef dict make_record(const char* b, LineRec* r, long want=-1):
    cdef dict d = {}
    cdef int f
    if want & W_FORMAT:
        d["format"] = FMT_NAMES[r.fmt]
    if r.has_ts and want & W_TS:
        d["timestamp"] = r.ts
    if want & W_PRI:
        if r.facility >= 0:
            d["facility"] = r.facility
        if r.severity >= 0:  # web error logs give a severity without a facility
            d["severity"] = r.severity
    if r.pid >= 0 and want & W_PID:
        d["pid"] = r.pid
    if r.port >= 0 and want & W_PORT:
        d["port"] = r.port
    for f in range(NFIELDS):
        if r.len[f] >= 0 and want & (1 << f):
            d[_FIELD_NAMES[f]] = dec(b, r.off[f], r.len[f])
    if r.fmt > FMT_JSON and want & W_HTTP:
        for f in range(NHTTP):
            if r.hlen[f] >= 0:
                d[_HTTP_FIELDS[f]] = dec(b, r.hoff[f], r.hlen[f])
        if r.status >= 0:
            d["status"] = r.status
        if r.nbytes >= 0:
            d["bytes"] = r.nbytes
    if r.sd_len > 0 and want & W_SD:
        for k, v in parse_sd(b[r.sd_off:r.sd_off + r.sd_len]):
            d[k] = v
    return d


cdef int flatten(dict obj, str prefix, dict out, int depth, int max_depth) except -2:
    cdef str key
    if depth > max_depth:
        return -1
    for k, v in obj.items():
        key = prefix + <str>k if prefix else <str>k
        if type(v) is dict:
            if flatten(<dict>v, key + ".", out, depth + 1, max_depth) < 0:
                return -1
        else:
            out[key] = v
    return 0


cpdef object scan_value(object v):
    """The bytes a string condition sees for a JSON value, or None when it cannot match."""
    if type(v) is str:
        return (<str>v).encode("utf-8", "surrogatepass")
    if (type(v) is int or type(v) is float):
        return str(v).encode()
    return None


cdef inline bint digit_str(object v, Py_ssize_t n):
    return type(v) is str and 0 < len(<str>v) <= n and (<str>v).isascii() and (<str>v).isdigit()


cdef object json_ts(object v, bint realtime=False):
    cdef bytes raw
    cdef double ts = 0
    cdef Py_ssize_t i = 0
    if realtime:  # journald's __REALTIME_TIMESTAMP: microseconds since the epoch, as a string
        return int(v) / 1e6 if digit_str(v, 18) else None
    if type(v) is int or type(v) is float:
        return float(v) / 1000.0 if v > 1e11 else float(v)
    if type(v) is str:
        raw = (<str>v).encode("utf-8", "replace")
        if parse_rfc3339(raw, &i, len(raw), &ts) and i == len(raw):
            return ts
    return None


cdef void extract_into(dict d):
    cdef LineRec r
    cdef bytes m
    cdef const char* b
    cdef int f, k
    msg = d.get("message")
    if type(msg) is not str:
        return
    m = (<str>msg).encode("utf-8", "surrogatepass")
    b = m
    reset(&r, 0, len(m))
    set_field(&r, F_MESSAGE, 0, len(m))
    extract_fields(b, &r)
    cdef int fs[3]
    fs[0] = F_SRC_IP
    fs[1] = F_USER
    fs[2] = F_RHOST
    for k in range(3):
        f = fs[k]
        if r.len[f] >= 0 and _FIELD_NAMES[f] not in d:
            d[_FIELD_NAMES[f]] = dec(b, r.off[f], r.len[f])
    if r.port >= 0 and "port" not in d:
        d["port"] = r.port


cdef bint depth_ok(dict obj, int depth, int max_depth):
    """flatten()'s depth rule without building anything: only objects inside objects nest."""
    if depth > max_depth:
        return False
    for v in obj.values():
        if type(v) is dict and not depth_ok(<dict>v, depth + 1, max_depth):
            return False
    return True


cdef object journal_text(object v):
    """journald's form of a value that is not valid UTF-8 (`journalctl -o json` writes it as an
    array of byte values), as text; None for any other value. An attacker who puts one invalid
    byte in a user name must not take the whole line out of the rules' sight."""
    cdef object x
    if type(v) is not list or not 0 < len(<list>v) <= 65536:
        return None
    for x in <list>v:
        if type(x) is not int or not 0 <= <long>x <= 255:
            return None
    return bytes(v).decode("utf-8", "replace")


cdef object _loads = orjson.loads  # looked up once: this runs per JSON line
cdef object _JSONDecodeError = orjson.JSONDecodeError


cdef object json_load(bytes line, int max_depth, int* err):
    """The decoded object, or None with err 1 (not a JSON object) or 2 (nested deeper than
    max_depth). parse() stops here; json_fields() builds the record when a caller asks for it."""
    try:
        obj = _loads(line)
    except _JSONDecodeError:
        err[0] = 1
        return None
    if type(obj) is not dict:
        err[0] = 1
        return None
    if not depth_ok(<dict>obj, 1, max_depth):
        err[0] = 2
        return None
    err[0] = 0
    return obj


cdef dict json_fields(dict obj, bytes line, int max_depth):
    """The record of a JSON line that json_load accepted."""
    cdef dict out = {}
    cdef object k, v, role, t
    cdef object tsv = None, hostv = None, msgv = None, sevv = None, procv = None, pidv = None
    cdef int best[6]
    cdef int c, rank, r
    flatten(obj, "", out, 1, max_depth)
    for c in range(6):
        best[c] = 99
    # one pass over the line's keys instead of ~19 lookups: per standard field, the
    # highest-priority key whose value qualifies (what the twin's ordered searches pick)
    for k, v in out.items():
        role = _JSON_ROLE.get(k)
        if role is None:
            continue
        r = <int>role
        c = r >> 3
        rank = r & 7
        if rank >= best[c]:
            continue
        if c == 0:
            t = json_ts(v, rank == 4)
            if t is None:
                continue
            tsv = t
        elif c == 3:
            if type(v) is int and 0 <= v <= 7:
                sevv = v
            elif type(v) is str:
                t = _SEV_NAMES.get((<str>v).lower())
                if t is None:
                    if rank == 3 and digit_str(v, 1) and <str>v <= "7":  # journald's PRIORITY
                        t = int(v)
                    else:
                        continue
                sevv = t
            else:
                continue
        elif c == 5:
            if type(v) is int:
                pidv = v
            elif rank == 2 and digit_str(v, 9):  # journald's _PID
                pidv = int(v)
            else:
                continue
        else:
            if type(v) is not str:
                if c != 2:
                    continue
                v = journal_text(v)
                if v is None:
                    continue
            if c == 1:
                hostv = v
            elif c == 2:
                msgv = v
            else:
                procv = v
        best[c] = rank
    if best[0] != 99:
        out["timestamp"] = tsv
    if best[1] != 99:
        out["host"] = hostv
    if best[2] != 99:
        out["message"] = msgv
    if best[3] != 99:
        out["severity"] = sevv
    if best[4] != 99:
        out["process"] = procv
    if best[5] != 99:
        out["pid"] = pidv
    extract_into(out)
    out["format"] = "json"
    out["raw"] = line.decode("utf-8", "replace")
    return out


cdef tuple json_record(bytes line, int max_depth):
    """(record, error) as json_load reports it."""
    cdef int err = 0
    obj = json_load(line, max_depth, &err)
    if err:
        return None, err
    return json_fields(<dict>obj, line, max_depth), 0


cdef bint json_flag_error(bytes buf, LineRec* r, int err, dict stats):
    """A flagged JSON line that is not valid JSON becomes raw text (counted)."""
    cdef Py_ssize_t s = r.off[F_RAW], e = s + r.len[F_RAW]
    stats["json_errors" if err == 1 else "json_depth_errors"] += 1
    r.fmt = FMT_RAW
    set_field(r, F_MESSAGE, s, e)
    extract_fields(buf, r)
    return True


cdef object resolve_json(bytes buf, LineRec* r, int max_depth, dict stats):
    """Parse a flagged JSON line into its record; on failure the line becomes raw text (counted)."""
    cdef Py_ssize_t s = r.off[F_RAW], e = s + r.len[F_RAW]
    rec, err = json_record(buf[s:e], max_depth)
    if err == 0:
        return rec
    json_flag_error(buf, r, err, stats)
    return None
