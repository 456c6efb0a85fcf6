# Included by logparse.pyx and matcher.pyx (after lp_line.pxi): web server log lines, tried by
# parse_line on a line that is not syslog. Mirrors ironpost/log_pipeline/parsers/weblog_py.py step
# by step (see its docstring for the shapes and for where the address is taken from).

cdef inline int ndigits(const char* b, Py_ssize_t i, Py_ssize_t e, int n) noexcept nogil:
    """The value of exactly n digits at b[i:], or -1."""
    cdef int v = 0, k
    if e - i < n:
        return -1
    for k in range(n):
        if not is_digit(b[i + k]):
            return -1
        v = v * 10 + (b[i + k] - 48)
    return v


cdef inline bint civil_ok(int mon, int d, int hh, int mi, int ss) noexcept nogil:
    return 1 <= mon <= 12 and 1 <= d <= 31 and 0 <= hh <= 23 and 0 <= mi <= 59 and 0 <= ss <= 60


cdef inline long long epoch_of(int y, int mon, int d, int hh, int mi, int ss) noexcept nogil:
    return days_from_civil(y, mon, d) * 86400 + hh * 3600 + mi * 60 + ss


cdef inline Py_ssize_t quoted_end(const char* b, Py_ssize_t q, Py_ssize_t e) noexcept nogil:
    """Index of the quote closing a string whose text starts at q, or -1 (a backslash escapes the
    next byte: Apache writes \\" inside a request)."""
    while q < e:
        if b[q] == b'\\':
            q += 2
            continue
        if b[q] == b'"':
            return q
        q += 1
    return -1


cdef inline void web_fields(LineRec* r, int fmt) noexcept nogil:
    """A line found to be of a web format: its fields start absent (reset() leaves them alone,
    as syslog lines never read them)."""
    cdef int h
    r.fmt = fmt
    for h in range(NHTTP):
        r.hlen[h] = -1
    r.status = -1
    r.nbytes = -1


cdef inline void set_http(LineRec* r, int h, Py_ssize_t s, Py_ssize_t e) noexcept nogil:
    r.hoff[h] = s
    r.hlen[h] = e - s


cdef inline int level_of(const char* b, Py_ssize_t s, Py_ssize_t n) noexcept nogil:
    """Severity of an nginx/Apache level name (trace1..8 read as debug), or -1."""
    if n == 5 and memcmp(b + s, b"emerg", 5) == 0:
        return 0
    if n == 5 and memcmp(b + s, b"alert", 5) == 0:
        return 1
    if n == 4 and memcmp(b + s, b"crit", 4) == 0:
        return 2
    if n == 5 and memcmp(b + s, b"error", 5) == 0:
        return 3
    if n == 4 and memcmp(b + s, b"warn", 4) == 0:
        return 4
    if n == 6 and memcmp(b + s, b"notice", 6) == 0:
        return 5
    if n == 4 and memcmp(b + s, b"info", 4) == 0:
        return 6
    if n == 5 and memcmp(b + s, b"debug", 5) == 0:
        return 7
    if n == 6 and memcmp(b + s, b"trace", 5) == 0 and b[s + 5] >= b'1' and b[s + 5] <= b'8':
        return 7
    return -1


cdef inline bint parse_access(const char* b, Py_ssize_t s, Py_ssize_t e, LineRec* r) noexcept nogil:
    cdef Py_ssize_t k = s, j, t, p, rs, q, q2, sp1, sp2, u, us, ue
    cdef int mon, d, y, hh, mi, ss, oh, om, status
    cdef long long base, off, nbytes = -1
    while k < e and is_ipchar(b[k]):
        k += 1
    if k == s or k >= e or b[k] != b' ' or not valid_ip(b, s, k - s):
        return False
    j = k + 1
    t = token_end(b, j, e)  # ident
    if t == j or t >= e:
        return False
    j = t + 1
    t = token_end(b, j, e)  # user
    if t == j or t >= e:
        return False
    us = j
    ue = t
    p = t + 1
    if p >= e or b[p] != b'[' or e - p < 30:
        return False
    p += 1
    if not (b[p + 2] == b'/' and b[p + 6] == b'/' and b[p + 11] == b':' and b[p + 14] == b':' and b[p + 17] == b':'
            and b[p + 20] == b' ' and (b[p + 21] == b'+' or b[p + 21] == b'-') and b[p + 26] == b']'):
        return False
    mon = month_of(b + p + 3)
    d = ndigits(b, p, e, 2)
    y = ndigits(b, p + 7, e, 4)
    hh = ndigits(b, p + 12, e, 2)
    mi = ndigits(b, p + 15, e, 2)
    ss = ndigits(b, p + 18, e, 2)
    oh = ndigits(b, p + 22, e, 2)
    om = ndigits(b, p + 24, e, 2)
    if d < 0 or y < 0 or hh < 0 or mi < 0 or ss < 0 or oh < 0 or om < 0 or mon == 0 or oh > 23 or om > 59:
        return False
    if not civil_ok(mon, d, hh, mi, ss):
        return False
    base = epoch_of(y, mon, d, hh, mi, ss)
    off = (oh * 3600 + om * 60) * (1 if b[p + 21] == b'+' else -1)
    p += 27
    if p + 1 >= e or b[p] != b' ' or b[p + 1] != b'"':
        return False
    rs = p + 2
    q = quoted_end(b, rs, e)
    if q < 0 or q + 5 >= e or b[q + 1] != b' ' or b[q + 5] != b' ':
        return False
    status = ndigits(b, q + 2, e, 3)
    if status < 0:
        return False
    j = q + 6
    t = token_end(b, j, e)
    if t - j == 1 and b[j] == b'-':
        nbytes = -1
    elif 0 < t - j <= 18:
        nbytes = 0
        for u in range(j, t):
            if not is_digit(b[u]):
                return False
            nbytes = nbytes * 10 + (b[u] - 48)
    else:
        return False
    web_fields(r, FMT_ACCESS)
    r.has_ts = 1
    r.ts = <double>(base - off)
    set_field(r, F_SRC_IP, s, k)
    if not (ue - us == 1 and b[us] == b'-'):
        set_field(r, F_USER, us, ue)
    sp1 = -1
    sp2 = -1
    for u in range(rs, q):
        if b[u] == b' ':
            if sp1 < 0:
                sp1 = u
            sp2 = u
    if sp1 >= 0:
        set_http(r, H_METHOD, rs, sp1)
        if sp2 == sp1:
            set_http(r, H_PATH, sp1 + 1, q)
        else:
            set_http(r, H_PATH, sp1 + 1, sp2)
            set_http(r, H_PROTOCOL, sp2 + 1, q)
    r.status = status
    r.nbytes = nbytes
    if t + 1 < e and b[t] == b' ' and b[t + 1] == b'"':
        q = quoted_end(b, t + 2, e)
        if q >= 0:
            set_http(r, H_REFERER, t + 2, q)
            if q + 2 < e and b[q + 1] == b' ' and b[q + 2] == b'"':
                q2 = quoted_end(b, q + 3, e)
                if q2 >= 0:
                    set_http(r, H_UA, q + 3, q2)
    return True


cdef inline bint parse_nginx_error(const char* b, Py_ssize_t s, Py_ssize_t e, LineRec* r) noexcept nogil:
    cdef Py_ssize_t k, j, t, p, a, u, got_s = 0, got_n = -1
    cdef int y, mon, d, hh, mi, ss, pid = 0, sev
    if e - s < 24 or not (b[s + 4] == b'/' and b[s + 7] == b'/' and b[s + 10] == b' ' and b[s + 13] == b':'
                          and b[s + 16] == b':' and b[s + 19] == b' ' and b[s + 20] == b'['):
        return False
    y = ndigits(b, s, e, 4)
    mon = ndigits(b, s + 5, e, 2)
    d = ndigits(b, s + 8, e, 2)
    hh = ndigits(b, s + 11, e, 2)
    mi = ndigits(b, s + 14, e, 2)
    ss = ndigits(b, s + 17, e, 2)
    if y < 0 or mon < 0 or d < 0 or hh < 0 or mi < 0 or ss < 0 or not civil_ok(mon, d, hh, mi, ss):
        return False
    k = s + 21
    while k < e and ((b[k] >= b'a' and b[k] <= b'z') or is_digit(b[k])):
        k += 1
    if k == s + 21 or k - (s + 21) > 8 or k + 1 >= e or b[k] != b']' or b[k + 1] != b' ':
        return False
    j = k + 2
    t = j
    while t < e and is_digit(b[t]) and t - j < 9:
        pid = pid * 10 + (b[t] - 48)
        t += 1
    if t == j or t >= e or b[t] != b'#':
        return False
    web_fields(r, FMT_NGINX_ERROR)
    r.has_ts = 1
    r.ts = <double>epoch_of(y, mon, d, hh, mi, ss)
    set_http(r, H_LEVEL, s + 21, k)
    sev = level_of(b, s + 21, k - (s + 21))
    if sev >= 0:
        r.severity = sev
    r.pid = pid
    p = t
    while p + 10 <= e:
        if b[p] == b',' and memcmp(b + p, b", client: ", 10) == 0:
            a = p + 10
            u = a
            while u < e and b[u] != b',' and b[u] != b' ':
                u += 1
            if valid_ip(b, a, u - a):
                if got_n < 0:
                    got_s = a
                    got_n = u - a
                elif u - a != got_n or memcmp(b + a, b + got_s, got_n) != 0:
                    return True  # two addresses: a client wrote one of them, and no ban may follow a guess
            p = a
            continue
        p += 1
    if got_n >= 0:
        set_field(r, F_SRC_IP, got_s, got_s + got_n)
    return True


cdef inline int port_of(const char* b, Py_ssize_t s, Py_ssize_t e) noexcept nogil:
    """1-5 digits up to 65535 filling b[s:e], or -1."""
    cdef int v = 0
    cdef Py_ssize_t k
    if e - s < 1 or e - s > 5:
        return -1
    for k in range(s, e):
        if not is_digit(b[k]):
            return -1
        v = v * 10 + (b[k] - 48)
    return v if v <= 65535 else -1


cdef inline void apache_client(const char* b, Py_ssize_t s, Py_ssize_t e, LineRec* r) noexcept nogil:
    cdef Py_ssize_t k
    cdef int port
    if s < e and b[s] == b'[':
        k = s + 1
        while k + 1 < e and not (b[k] == b']' and b[k + 1] == b':'):
            k += 1
        if k + 1 < e and k > s + 1 and valid_ip(b, s + 1, k - s - 1):
            set_field(r, F_SRC_IP, s + 1, k)
            port = port_of(b, k + 2, e)
            if port >= 0:
                r.port = port
        return
    if valid_ip(b, s, e - s):
        set_field(r, F_SRC_IP, s, e)
        return
    k = e - 1
    while k > s and b[k] != b':':
        k -= 1
    if k > s and valid_ip(b, s, k - s):
        port = port_of(b, k + 1, e)
        if port >= 0:
            set_field(r, F_SRC_IP, s, k)
            r.port = port


cdef inline Py_ssize_t find_byte(const char* b, Py_ssize_t i, Py_ssize_t e, char c) noexcept nogil:
    while i < e:
        if b[i] == c:
            return i
        i += 1
    return -1


cdef inline bint parse_apache_error(const char* b, Py_ssize_t s, Py_ssize_t e, LineRec* r) noexcept nogil:
    cdef Py_ssize_t i, f, k, c, g, t
    cdef int mon, d, hh, mi, ss, y, nfrac = 0, sev, v, ngroups
    cdef long long fracv = 0, base
    cdef double scale = 1.0
    if e - s < 27 or b[s] != b'[' or b[s + 4] != b' ' or b[s + 8] != b' ' or b[s + 11] != b' ' or b[s + 14] != b':' \
            or b[s + 17] != b':':
        return False
    mon = month_of(b + s + 5)
    d = ndigits(b, s + 9, e, 2) if b[s + 9] != b' ' else ndigits(b, s + 10, e, 1)
    hh = ndigits(b, s + 12, e, 2)
    mi = ndigits(b, s + 15, e, 2)
    ss = ndigits(b, s + 18, e, 2)
    if mon == 0 or d < 0 or hh < 0 or mi < 0 or ss < 0:
        return False
    i = s + 20
    if b[i] == b'.':
        i += 1
        f = i
        while i < e and is_digit(b[i]) and i - f < 9:
            fracv = fracv * 10 + (b[i] - 48)
            i += 1
        if i == f:
            return False
        nfrac = <int>(i - f)
    if i + 6 > e or b[i] != b' ' or b[i + 5] != b']':
        return False
    y = ndigits(b, i + 1, e, 4)
    if y < 0 or not civil_ok(mon, d, hh, mi, ss):
        return False
    base = epoch_of(y, mon, d, hh, mi, ss)
    i += 6
    if i + 2 >= e or b[i] != b' ' or b[i + 1] != b'[':
        return False
    k = find_byte(b, i + 2, e, b']')
    if k < 0:
        return False
    c = k - 1
    while c >= i + 2 and b[c] != b':':
        c -= 1
    sev = level_of(b, c + 1, k - c - 1)  # c is i + 1 when there is no module
    if sev < 0:
        return False
    web_fields(r, FMT_APACHE_ERROR)
    r.has_ts = 1
    for v in range(nfrac):
        scale *= 10.0
    r.ts = <double>base + ((<double>fracv) / scale if nfrac else 0.0)
    set_http(r, H_LEVEL, c + 1, k)
    r.severity = sev
    if c > i + 2:
        set_field(r, F_TAG, i + 2, c)
    i = k + 1
    for ngroups in range(8):
        if i + 1 >= e or b[i] != b' ' or b[i + 1] != b'[':
            break
        g = i + 2
        if e - g >= 8 and memcmp(b + g, b"client [", 8) == 0:
            k = find_byte(b, g + 8, e, b']')  # the address's own bracket
            k = find_byte(b, k + 1, e, b']') if k >= 0 else -1
        else:
            k = find_byte(b, g, e, b']')
        if k < 0:
            break
        if k - g >= 4 and memcmp(b + g, b"pid ", 4) == 0:
            t = g + 4
            v = 0
            while t < k and is_digit(b[t]) and t - g < 13:
                v = v * 10 + (b[t] - 48)
                t += 1
            if t > g + 4:
                r.pid = v
        elif k - g >= 7 and memcmp(b + g, b"client ", 7) == 0 and r.len[F_SRC_IP] < 0:
            apache_client(b, g + 7, k, r)
        i = k + 1
    return True


cdef inline bint parse_web(const char* b, Py_ssize_t s, Py_ssize_t e, LineRec* r) noexcept nogil:
    """Fill r when b[s:e] is a web server log line (the caller sets the message to the whole line)."""
    if s >= e:
        return False
    if b[s] == b'[':
        return parse_apache_error(b, s, e, r)
    if is_digit(b[s]) and parse_nginx_error(b, s, e, r):
        return True
    return is_ipchar(b[s]) and parse_access(b, s, e, r)
