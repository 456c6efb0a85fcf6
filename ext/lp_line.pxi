# Included by logparse.pyx and matcher.pyx: one line of syslog (RFC 5424, RFC 3164 with or without
# PRI, the file forms) or raw text into a LineRec, and the built-in src_ip/user/rhost/port
# extraction. Web server lines go to lp_web.pxi. Mirrored step by step in
# ironpost/log_pipeline/parsers/logparse_py.py.

from libc.string cimport memcmp, memcpy

cdef inline bint is_digit(char c) noexcept nogil:
    return c >= b'0' and c <= b'9'


cdef inline bint is_ipchar(char c) noexcept nogil:
    return (c >= b'0' and c <= b'9') or (c >= b'a' and c <= b'f') or (c >= b'A' and c <= b'F') or c == b'.' or c == b':'


cdef inline bint is_word(char c) noexcept nogil:
    return (c >= b'0' and c <= b'9') or (c >= b'a' and c <= b'z') or (c >= b'A' and c <= b'Z') or c == b'_'


cdef inline Py_ssize_t read_digits(const char* b, Py_ssize_t i, Py_ssize_t e, int maxd, int* v) noexcept nogil:
    """Up to maxd decimal digits at b[i:e] into v; returns where they end (i when none)."""
    cdef Py_ssize_t j = i
    v[0] = 0
    while j < e and j - i < maxd and is_digit(b[j]):
        v[0] = v[0] * 10 + (b[j] - 48)
        j += 1
    return j


cdef inline long long days_from_civil(long long y, long long m, long long d) noexcept nogil:
    # Howard Hinnant's algorithm; proleptic Gregorian, valid for any year
    cdef long long era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline int month_of(const char* p) noexcept nogil:
    cdef const char* names = b"JanFebMarAprMayJunJulAugSepOctNovDec"
    cdef int k
    for k in range(12):
        if p[0] == names[3 * k] and p[1] == names[3 * k + 1] and p[2] == names[3 * k + 2]:
            return k + 1
    return 0


cdef inline int two(const char* p) noexcept nogil:
    return (p[0] - 48) * 10 + (p[1] - 48)


cdef inline bint parse_3164_ts(const char* b, Py_ssize_t* pi, Py_ssize_t e, int year, int ref_month,
                               double* ts) noexcept nogil:
    """'Mmm dd hh:mm:ss' (day space padded, or one digit unpadded as some writers do), UTC, in
    `year` (previous year when the month lies after ref_month, i.e. a December line read in January)."""
    cdef Py_ssize_t i = pi[0], o = 0
    cdef const char* p = b + i
    cdef int mon, day, hh, mi, ss, y
    if e - i < 14:
        return False
    mon = month_of(p)
    if mon == 0 or p[3] != b' ':
        return False
    if is_digit(p[4]) and p[5] == b' ':
        day = p[4] - 48
        o = -1
    elif (p[4] == b' ' or is_digit(p[4])) and is_digit(p[5]) and e - i >= 15 and p[6] == b' ':
        day = (p[5] - 48) if p[4] == b' ' else two(p + 4)
    else:
        return False
    p = p + o
    if not (is_digit(p[7]) and is_digit(p[8]) and p[9] == b':' and is_digit(p[10]) and is_digit(p[11])
            and p[12] == b':' and is_digit(p[13]) and is_digit(p[14])):
        return False
    hh = two(p + 7)
    mi = two(p + 10)
    ss = two(p + 13)
    if day < 1 or day > 31 or hh > 23 or mi > 59 or ss > 60:
        return False
    y = year
    if ref_month > 0 and mon > ref_month:
        y -= 1
    ts[0] = <double>(days_from_civil(y, mon, day) * 86400 + hh * 3600 + mi * 60 + ss)
    pi[0] = i + 15 + o
    return True


cdef inline bint parse_rfc3339(const char* b, Py_ssize_t* pi, Py_ssize_t e, double* ts) noexcept nogil:
    """YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM|-HH:MM]; no offset means UTC."""
    cdef Py_ssize_t i = pi[0]
    cdef const char* p = b + i
    cdef int k, y, mon, day, hh, mi, ss, nfrac = 0, sign, oh, om
    cdef long long fracv = 0, base, off = 0
    cdef double scale
    if e - i < 19:
        return False
    for k in range(19):
        if k != 4 and k != 7 and k != 10 and k != 13 and k != 16 and not is_digit(p[k]):
            return False
    if p[4] != b'-' or p[7] != b'-' or p[10] != b'T' or p[13] != b':' or p[16] != b':':
        return False
    y = two(p) * 100 + two(p + 2)
    mon = two(p + 5)
    day = two(p + 8)
    hh = two(p + 11)
    mi = two(p + 14)
    ss = two(p + 17)
    if mon < 1 or mon > 12 or day < 1 or day > 31 or hh > 23 or mi > 59 or ss > 60:
        return False
    i += 19
    if i < e and b[i] == b'.':
        if i + 1 >= e or not is_digit(b[i + 1]):
            return False
        i += 1
        while i < e and is_digit(b[i]):
            if nfrac < 9:
                fracv = fracv * 10 + (b[i] - 48)
                nfrac += 1
            i += 1
    if i < e and b[i] == b'Z':
        i += 1
    elif i < e and (b[i] == b'+' or b[i] == b'-'):
        if e - i < 6 or not (is_digit(b[i + 1]) and is_digit(b[i + 2]) and b[i + 3] == b':'
                             and is_digit(b[i + 4]) and is_digit(b[i + 5])):
            return False
        sign = 1 if b[i] == b'+' else -1
        oh = two(b + i + 1)
        om = two(b + i + 4)
        if oh > 23 or om > 59:
            return False
        off = sign * (oh * 3600 + om * 60)
        i += 6
    base = days_from_civil(y, mon, day) * 86400 + hh * 3600 + mi * 60 + ss - off
    scale = 1.0
    for k in range(nfrac):
        scale *= 10.0
    ts[0] = <double>base + ((<double>fracv) / scale if nfrac else 0.0)
    pi[0] = i
    return True


cdef inline bint valid_ip(const char* b, Py_ssize_t s, Py_ssize_t n) noexcept nogil:
    cdef char tmp[48]
    cdef unsigned char out[16]
    cdef Py_ssize_t k
    cdef bint colon = False
    if n <= 0 or n > 45:
        return False
    memcpy(tmp, b + s, n)
    tmp[n] = 0
    for k in range(n):
        if tmp[k] == 0:
            return False  # inet_pton would stop there; Python's refuses the whole text
        if tmp[k] == b':':
            colon = True
    if colon:
        return inet_pton(AF_INET6, tmp, out) == 1
    return inet_pton(AF_INET, tmp, out) == 1


cdef inline bint starts(const char* b, Py_ssize_t i, Py_ssize_t e, const char* lit, Py_ssize_t n) noexcept nogil:
    # first byte inline: most positions fail there, before any call
    return i < e and b[i] == lit[0] and e - i >= n and memcmp(b + i, lit, n) == 0


cdef inline Py_ssize_t token_len(const char* b, Py_ssize_t t, Py_ssize_t me, bint stop_semi) noexcept nogil:
    cdef Py_ssize_t k = t
    while k < me and b[k] != b' ' and not (stop_semi and b[k] == b';'):
        k += 1
    return k - t


cdef inline bint try_ip(const char* b, Py_ssize_t t, Py_ssize_t me, LineRec* r) noexcept nogil:
    cdef Py_ssize_t k = t, u = -1, q
    cdef int v
    while k < me and is_ipchar(b[k]):
        k += 1
    if k > t and valid_ip(b, t, k - t):
        u = k
    elif k - 1 > t and b[k - 1] == b':' and valid_ip(b, t, k - 1 - t):
        u = k - 1
    if u < 0:
        return False
    r.off[F_SRC_IP] = t
    r.len[F_SRC_IP] = u - t
    if starts(b, u, me, b" port ", 6):
        q = read_digits(b, u + 6, me, 5, &v)
        if q > u + 6 and v <= 65535 and not (q < me and is_digit(b[q])):
            r.port = v
    return True


cdef inline void extract_fields(const char* b, LineRec* r) noexcept nogil:
    """Built-in src_ip/port/rhost/user from the message (sshd, pam, sudo, su forms), in one pass.

    src_ip: the first valid address after "from ", "rhost=" or "by " (+ " port N" after it).
    rhost: the token after the first "rhost=". user, by precedence: "user=NAME" (not
    "ruser="), "[Ii]nvalid user NAME", "for user NAME", "for NAME from "; the first
    occurrence of the best form present wins."""
    cdef Py_ssize_t m = r.off[F_MESSAGE], me = m + r.len[F_MESSAGE], p, n
    cdef Py_ssize_t uoff[4]
    cdef Py_ssize_t ulen[4]
    cdef bint ip_done = False, rhost_done = False
    cdef int lvl
    cdef char c
    if r.extracted:
        return
    r.extracted = 1
    if r.len[F_MESSAGE] < 0:
        return
    for lvl in range(4):
        ulen[lvl] = 0
    p = m
    while p < me:
        c = b[p]
        if c == b'f':
            if not ip_done and starts(b, p, me, b"from ", 5):
                ip_done = try_ip(b, p + 5, me, r)
            if ulen[2] == 0 and starts(b, p, me, b"for user ", 9):
                n = token_len(b, p + 9, me, False)
                if n:
                    uoff[2] = p + 9
                    ulen[2] = n
            if ulen[3] == 0 and starts(b, p, me, b"for ", 4):
                n = token_len(b, p + 4, me, False)
                if n and starts(b, p + 4 + n, me, b" from ", 6):
                    uoff[3] = p + 4
                    ulen[3] = n
        elif c == b'r':
            if starts(b, p, me, b"rhost=", 6):
                if not ip_done:
                    ip_done = try_ip(b, p + 6, me, r)
                if not rhost_done:
                    rhost_done = True
                    n = token_len(b, p + 6, me, False)
                    if n:
                        r.off[F_RHOST] = p + 6
                        r.len[F_RHOST] = n
        elif c == b'b':
            if not ip_done and starts(b, p, me, b"by ", 3):
                ip_done = try_ip(b, p + 3, me, r)
        elif c == b'u':
            if ulen[0] == 0 and starts(b, p, me, b"user=", 5) and (p == m or not is_word(b[p - 1])):
                n = token_len(b, p + 5, me, True)
                if n:
                    uoff[0] = p + 5
                    ulen[0] = n
        elif c == b'n':
            if ulen[1] == 0 and p > m and (b[p - 1] == b'i' or b[p - 1] == b'I') and starts(b, p, me, b"nvalid user ", 12):
                n = token_len(b, p + 12, me, False)
                if n:
                    uoff[1] = p + 12
                    ulen[1] = n
        p += 1
    for lvl in range(4):
        if ulen[lvl]:
            r.off[F_USER] = uoff[lvl]
            r.len[F_USER] = ulen[lvl]
            return


cdef inline void set_field(LineRec* r, int f, Py_ssize_t s, Py_ssize_t e) noexcept nogil:
    r.off[f] = s
    r.len[f] = e - s


cdef inline Py_ssize_t token_end(const char* b, Py_ssize_t i, Py_ssize_t e) noexcept nogil:
    while i < e and b[i] != b' ':
        i += 1
    return i


cdef inline bint is_tag_token(const char* b, Py_ssize_t j, Py_ssize_t k) noexcept nogil:
    """A first token that is the tag, not a host name: `sshd[1]:`, `sshd:`, `[sshd]`."""
    cdef Py_ssize_t t
    if b[j] == b'[' or b[k - 1] == b':':
        return True
    for t in range(j, k):
        if b[t] == b'[':
            return True
    return False


cdef inline void parse_tag(const char* b, Py_ssize_t j, Py_ssize_t e, LineRec* r) noexcept nogil:
    """`process[pid]: `, `process(tag)[pid]: `, `process: `, `[process]: ` and `[process] `, and
    `process[pid] ` without the colon (proftpd); anything else is all message."""
    cdef Py_ssize_t q = j, name_end, t, tag_s = -1, tag_e = -1
    cdef int pid = -1, v
    cdef char c
    if j < e and b[j] == b'[':
        t = j + 1
        while t < e and b[t] != b']' and b[t] != b' ' and b[t] != b'[':
            t += 1
        if t == j + 1 or t >= e or b[t] != b']':
            set_field(r, F_MESSAGE, j, e)
            return
        set_field(r, F_PROCESS, j + 1, t)
        q = t + 1
        if q < e and b[q] == b':':
            q += 1
        if q < e and b[q] == b' ':
            q += 1
        set_field(r, F_MESSAGE, q, e)
        return
    while q < e:
        c = b[q]
        if c == b' ' or c == b'[' or c == b'(' or c == b':':
            break
        q += 1
    if q == j or q >= e:
        set_field(r, F_MESSAGE, j, e)
        return
    name_end = q
    if b[q] == b'(':
        t = q + 1
        while t < e and b[t] != b')' and b[t] != b' ' and t - q <= 64:
            t += 1
        if t >= e or b[t] != b')':
            set_field(r, F_MESSAGE, j, e)
            return
        tag_s = q + 1
        tag_e = t
        q = t + 1
    if q < e and b[q] == b'[':
        t = read_digits(b, q + 1, e, 9, &v)
        if t == q + 1 or t >= e or b[t] != b']':
            set_field(r, F_MESSAGE, j, e)
            return
        pid = v
        q = t + 1
    if q < e and b[q] == b' ' and pid >= 0:
        q -= 1  # `name[pid] message`: the space is the separator
    elif q >= e or b[q] != b':':
        set_field(r, F_MESSAGE, j, e)
        return
    q += 1
    if q < e and b[q] == b' ':
        q += 1
    set_field(r, F_PROCESS, j, name_end)
    if tag_s >= 0:
        set_field(r, F_TAG, tag_s, tag_e)
    r.pid = pid
    set_field(r, F_MESSAGE, q, e)


cdef inline bint nil_or_token(const char* b, Py_ssize_t* pi, Py_ssize_t e, LineRec* r, int f) noexcept nogil:
    """One RFC 5424 header token followed by a space; '-' leaves the field absent."""
    cdef Py_ssize_t i = pi[0], k = token_end(b, pi[0], e)
    if k == i or k >= e:
        return False
    if not (k - i == 1 and b[i] == b'-'):
        set_field(r, f, i, k)
    pi[0] = k + 1
    return True


cdef inline bint parse_5424(const char* b, Py_ssize_t i, Py_ssize_t e, LineRec* r) noexcept nogil:
    cdef double ts = 0
    cdef Py_ssize_t s, k
    cdef bint inq
    cdef int v
    if i >= e:
        return False
    if b[i] == b'-':
        i += 1
    else:
        if not parse_rfc3339(b, &i, e, &ts):
            return False
        r.has_ts = 1
        r.ts = ts
    if i >= e or b[i] != b' ':
        return False
    i += 1
    if not nil_or_token(b, &i, e, r, F_HOST):
        return False
    if not nil_or_token(b, &i, e, r, F_PROCESS):
        return False
    s = i
    k = token_end(b, i, e)
    if k == i or k >= e:
        return False
    if k - s <= 9:
        v = 0
        while i < k and is_digit(b[i]):
            v = v * 10 + (b[i] - 48)
            i += 1
        if i == k:
            r.pid = v
    i = k + 1
    if not nil_or_token(b, &i, e, r, F_MSGID):
        return False
    if i >= e:
        return False
    if b[i] == b'-':
        i += 1
    elif b[i] == b'[':
        s = i
        while i < e and b[i] == b'[':
            i += 1
            inq = False
            while i < e:
                if inq:
                    if b[i] == b'\\':
                        i += 2
                        continue
                    if b[i] == b'"':
                        inq = False
                elif b[i] == b'"':
                    inq = True
                elif b[i] == b']':
                    break
                i += 1
            if i >= e:
                return False
            i += 1
        r.sd_off = s
        r.sd_len = i - s
    else:
        return False
    if i < e:
        if b[i] != b' ':
            return False
        i += 1
        if e - i >= 3 and <unsigned char>b[i] == 0xEF and <unsigned char>b[i + 1] == 0xBB and <unsigned char>b[i + 2] == 0xBF:
            i += 3
    set_field(r, F_MESSAGE, i, e)
    r.fmt = FMT_5424
    return True


cdef inline void reset(LineRec* r, Py_ssize_t s, Py_ssize_t e) noexcept nogil:
    cdef int f
    for f in range(NFIELDS):
        r.off[f] = 0
        r.len[f] = -1
    r.sd_off = 0
    r.sd_len = -1
    r.ts = 0
    r.has_ts = 0
    r.fmt = FMT_RAW
    r.pid = -1
    r.port = -1
    r.extracted = 0  # the web fields (hoff..nbytes) are set by lp_web.pxi's web_fields(), read only for web formats
    set_field(r, F_RAW, s, e)


cdef inline bint parse_web_as(const char* b, Py_ssize_t s, Py_ssize_t e, int mode, LineRec* r) noexcept nogil:
    if mode == MODE_ACCESS:
        return parse_access(b, s, e, r)
    if mode == MODE_NGINX_ERROR:
        return parse_nginx_error(b, s, e, r)
    return parse_apache_error(b, s, e, r)


cdef inline void parse_line(const char* b, Py_ssize_t s, Py_ssize_t e, int year, int ref_month,
                            LineRec* r, bint extract=True, int mode=MODE_AUTO) noexcept nogil:
    """Parse b[s:e] (no newline) into r. JSON lines are only flagged (fmt=FMT_JSON). With
    extract=False the built-in src_ip/user/rhost/port are left for the caller to take later
    (extract_fields), for the lines it keeps. mode: MODE_AUTO detects the shape per line; any
    other reads the line as that shape only, else as raw text."""
    cdef Py_ssize_t i = s, j, k
    cdef int v, fac = -1, sev = -1
    cdef double ts = 0
    cdef bint ok
    if e > s and b[e - 1] == b'\r':
        e -= 1
    reset(r, s, e)
    r.facility = -1
    r.severity = -1
    if mode >= MODE_ACCESS:
        if mode != MODE_RAW and parse_web_as(b, s, e, mode, r):
            set_field(r, F_MESSAGE, s, e)
            r.extracted = 1
            return
        set_field(r, F_MESSAGE, s, e)
        if extract:
            extract_fields(b, r)
        return
    if i < e and b[i] == b'{' and mode != MODE_SYSLOG:
        r.fmt = FMT_JSON
        return
    if mode == MODE_JSON:
        set_field(r, F_MESSAGE, s, e)
        if extract:
            extract_fields(b, r)
        return
    if i < e and b[i] == b'<':
        j = read_digits(b, i + 1, e, 3, &v)
        if j > i + 1 and j < e and b[j] == b'>' and v <= 191:
            fac = v >> 3
            sev = v & 7
            i = j + 1
            if i < e and b[i] >= b'1' and b[i] <= b'9':
                j = i + 1
                if j < e and is_digit(b[j]):
                    j += 1
                if j < e and b[j] == b' ':
                    if parse_5424(b, j + 1, e, r):
                        r.facility = fac
                        r.severity = sev
                        if extract:
                            extract_fields(b, r)
                        return
                    reset(r, s, e)
    r.facility = fac
    r.severity = sev
    j = i
    ok = parse_3164_ts(b, &j, e, year, ref_month, &ts)
    if not ok and i < e and is_digit(b[i]):
        ok = parse_rfc3339(b, &j, e, &ts)
    if ok and j < e and b[j] == b' ':
        j += 1
        k = token_end(b, j, e)
        if k > j:
            r.fmt = FMT_3164
            r.has_ts = 1
            r.ts = ts
            if is_tag_token(b, j, k):
                parse_tag(b, j, e, r)  # a writer that leaves out the host field
            else:
                set_field(r, F_HOST, j, k)
                if k < e:
                    parse_tag(b, k + 1, e, r)
                else:
                    set_field(r, F_MESSAGE, e, e)
            if extract:
                extract_fields(b, r)
            return
    if i == s and mode == MODE_AUTO and parse_web(b, s, e, r):
        set_field(r, F_MESSAGE, s, e)  # a web server's line has no header a rule could rely on
        r.extracted = 1  # its address is where the server wrote it, not a guess from the text
        return
    set_field(r, F_MESSAGE, i, e)
    if extract:
        extract_fields(b, r)
