# Included by matcher.pyx: a JSON line scanner in C that builds no Python object.
#
# jscan() checks one line's JSON structure and records where the values of the keys the
# matcher needs lie (flattened dotted names, as json_fields() builds them). It is SOUND, not
# complete: when it returns JS_OK, orjson.loads accepts the line, the object is not nested
# deeper than max_depth, and every recorded value is what the record would hold. Anything it
# is not sure about (invalid JSON, too deep, a duplicate of a tracked key, an escaped key where
# a tracked name could hide, a surrogate escape, a huge number) returns JS_FALLBACK, and the
# caller decodes that line with orjson exactly as before, so stats and records stay exact.

from libc.string cimport memcmp, memcpy
from libc.stdlib cimport strtod

cdef enum:
    JS_OK = 0
    JS_FALLBACK = 1

# value kinds
cdef enum:
    JK_ABSENT = 0
    JK_STR = 1       # plain string: the bytes between the quotes are the value
    JK_ESC = 2       # string with escapes: unescape before use
    JK_INT = 3       # canonical integer of at most 18 digits: its text is str(int)
    JK_NUM = 4       # any other number (float, -0, long): its Python text differs
    JK_OTHER = 5     # true/false/null/array: present, but no string condition can see it
    JK_OBJ = 6       # an object: flattened away, the key itself is not in the record

# tracked flattened names; the order fixes the indexes below, and within a group (host, message,
# process, time) the priority json_fields() gives them; each group ends with journald's name
cdef enum:
    JN_HOST = 0
    JN_HOSTNAME = 1
    JN_HOST_NAME = 2
    JN_J_HOSTNAME = 3  # _HOSTNAME
    JN_MESSAGE = 4
    JN_MSG = 5
    JN_J_MESSAGE = 6  # MESSAGE
    JN_PROCESS = 7
    JN_PROGRAM = 8
    JN_APP = 9
    JN_APPNAME = 10
    JN_PROCESS_NAME = 11
    JN_J_COMM = 12  # _COMM, trusted: before the identifier a client may choose
    JN_J_IDENTIFIER = 13  # SYSLOG_IDENTIFIER
    JN_TAG = 14
    JN_MSGID = 15
    JN_SRC_IP = 16
    JN_USER = 17
    JN_RHOST = 18
    JN_ATTS = 19
    JN_TIMESTAMP = 20
    JN_TS = 21
    JN_TIME = 22
    JN_J_REALTIME = 23  # __REALTIME_TIMESTAMP, microseconds as a string
    JN_COUNT = 24

cdef const char* _JN_NAMES[24]
_JN_NAMES[:] = [b"host", b"hostname", b"host.name", b"_HOSTNAME", b"message", b"msg", b"MESSAGE", b"process",
                b"program", b"app", b"appname", b"process.name", b"_COMM", b"SYSLOG_IDENTIFIER", b"tag", b"msgid",
                b"src_ip", b"user", b"rhost", b"@timestamp", b"timestamp", b"ts", b"time", b"__REALTIME_TIMESTAMP"]
cdef int _JN_LENS[24]
_JN_LENS[:] = [4, 8, 9, 9, 7, 3, 7, 7, 7, 3, 7, 12, 5, 17, 3, 5, 6, 4, 5, 10, 9, 2, 4, 20]

cdef enum:
    JS_MAXSTACK = 128   # deeper nesting (any kind) goes to orjson
    JS_MAXPATH = 16     # longer dotted prefixes cannot name a tracked key

ctypedef struct JVal:
    Py_ssize_t off
    Py_ssize_t len
    int kind

# byte classes inside a string: 0 plain, 1 quote, 2 backslash, 3 control, 4 non-ASCII
cdef unsigned char _JS_CLASS[256]
cdef int _k
for _k in range(256):
    _JS_CLASS[_k] = 3 if _k < 0x20 else (4 if _k >= 0x80 else 0)
_JS_CLASS[0x22] = 1
_JS_CLASS[0x5C] = 2


cdef inline int hexv(char c) noexcept nogil:
    if c >= b'0' and c <= b'9':
        return c - 48
    if c >= b'a' and c <= b'f':
        return c - 87
    if c >= b'A' and c <= b'F':
        return c - 55
    return -1


cdef inline int hex4(const char* p) noexcept nogil:
    cdef int a = hexv(p[0]), b2 = hexv(p[1]), c = hexv(p[2]), d = hexv(p[3])
    if a < 0 or b2 < 0 or c < 0 or d < 0:
        return -1
    return (a << 12) | (b2 << 8) | (c << 4) | d


cdef inline Py_ssize_t utf8_seq(const unsigned char* p, Py_ssize_t i, Py_ssize_t e) noexcept nogil:
    """Length of the strict UTF-8 sequence at p[i] (no overlongs, surrogates or > U+10FFFF), 0 if invalid."""
    cdef unsigned char c = p[i], c1
    if c < 0xC2:
        return 0
    if c < 0xE0:
        return 2 if i + 1 < e and (p[i + 1] & 0xC0) == 0x80 else 0
    if c < 0xF0:
        if i + 2 >= e:
            return 0
        c1 = p[i + 1]
        if (c1 & 0xC0) != 0x80 or (p[i + 2] & 0xC0) != 0x80:
            return 0
        if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 >= 0xA0):
            return 0
        return 3
    if c < 0xF5:
        if i + 3 >= e:
            return 0
        c1 = p[i + 1]
        if (c1 & 0xC0) != 0x80 or (p[i + 2] & 0xC0) != 0x80 or (p[i + 3] & 0xC0) != 0x80:
            return 0
        if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 >= 0x90):
            return 0
        return 4
    return 0


cdef inline Py_ssize_t js_string(const char* b, Py_ssize_t i, Py_ssize_t e, bint* esc) noexcept nogil:
    """b[i] is just after the opening quote: the index of the closing quote, or -1."""
    cdef const unsigned char* p = <const unsigned char*>b
    cdef unsigned char k
    cdef Py_ssize_t n
    cdef int u
    while i < e:
        k = _JS_CLASS[p[i]]
        if k == 0:
            i += 1
        elif k == 1:
            return i
        elif k == 2:
            esc[0] = True
            if i + 1 >= e:
                return -1
            if p[i + 1] == b'u':
                if i + 5 >= e:
                    return -1
                u = hex4(b + i + 2)
                if u < 0 or (u >= 0xD800 and u <= 0xDFFF):
                    return -1  # surrogate pairs and their errors are orjson's to judge
                i += 6
            elif (p[i + 1] == b'"' or p[i + 1] == b'\\' or p[i + 1] == b'/' or p[i + 1] == b'b' or p[i + 1] == b'f'
                  or p[i + 1] == b'n' or p[i + 1] == b'r' or p[i + 1] == b't'):
                i += 2
            else:
                return -1
        elif k == 3:
            return -1
        else:
            n = utf8_seq(p, i, e)
            if n == 0:
                return -1
            i += n
    return -1


cdef inline Py_ssize_t js_number(const char* b, Py_ssize_t i, Py_ssize_t e, int* kind) noexcept nogil:
    """The end of the number at b[i], or -1 when it is not JSON or could be out of double range."""
    cdef Py_ssize_t s = i, d
    cdef bint neg = False, plain = True
    if b[i] == b'-':
        neg = True
        i += 1
    if i >= e or not is_digit(b[i]):
        return -1
    d = i
    if b[i] == b'0':
        i += 1
    else:
        while i < e and is_digit(b[i]):
            i += 1
    if i - d > 18:
        return -1
    if neg and i - d == 1 and b[d] == b'0':
        plain = False  # -0 is int 0 in Python
    if i < e and b[i] == b'.':
        plain = False
        i += 1
        if i >= e or not is_digit(b[i]):
            return -1
        while i < e and is_digit(b[i]):
            i += 1
    if i < e and (b[i] == b'e' or b[i] == b'E'):
        plain = False
        i += 1
        if i < e and (b[i] == b'+' or b[i] == b'-'):
            i += 1
        d = i
        while i < e and is_digit(b[i]):
            i += 1
        if i == d or i - d > 2:
            return -1
    kind[0] = JK_INT if plain else JK_NUM
    return i


cdef inline char closer(char arr) noexcept nogil:
    if arr:
        return b']'
    return b'}'


cdef inline Py_ssize_t js_ws(const char* b, Py_ssize_t i, Py_ssize_t e) noexcept nogil:
    while i < e and (b[i] == b' ' or b[i] == b'\t' or b[i] == b'\r' or b[i] == b'\n'):
        i += 1
    return i


# per name length, the tracked indexes of that length (-1 ends a row): a key is compared with at most
# the five names of its length, not with all of them
cdef enum:
    JN_MAXLEN = 20
    JN_PERLEN = 7
cdef int _JN_BYLEN[JN_MAXLEN + 1][JN_PERLEN]
cdef int _n, _x
for _n in range(JN_MAXLEN + 1):
    for _x in range(JN_PERLEN):
        _JN_BYLEN[_n][_x] = -1
for _x in range(JN_COUNT):
    _n = 0
    while _JN_BYLEN[_JN_LENS[_x]][_n] >= 0:
        _n += 1
    assert _n < JN_PERLEN - 1 and _JN_LENS[_x] <= JN_MAXLEN
    _JN_BYLEN[_JN_LENS[_x]][_n] = _x


cdef inline int js_name(const char* path, int plen, const char* k, Py_ssize_t klen) noexcept nogil:
    """The tracked index of the flattened name path + key, or -1."""
    cdef Py_ssize_t n = plen + klen
    cdef int j, x
    if n > JN_MAXLEN:
        return -1
    for j in range(JN_PERLEN):
        x = _JN_BYLEN[n][j]
        if x < 0:
            return -1
        if (plen == 0 or memcmp(_JN_NAMES[x], path, plen) == 0) and memcmp(_JN_NAMES[x] + plen, k, klen) == 0:
            return x
    return -1


cdef int jscan(const char* b, Py_ssize_t s, Py_ssize_t e, int max_depth, JVal* vals) noexcept nogil:
    """Scan b[s:e] (a line starting with '{') into vals[JN_COUNT]; JS_OK or JS_FALLBACK."""
    cdef char is_arr[JS_MAXSTACK]
    cdef int chain[JS_MAXSTACK]     # object depth as flatten() counts it; 0 off the object chain
    cdef int plen[JS_MAXSTACK]      # dotted prefix length for the children; -1 none can be tracked
    cdef char path[JS_MAXPATH + 64]
    cdef int sp = 0, x, kind, pl
    cdef Py_ssize_t i = s, q, ks = 0, kl = 0
    cdef bint esc, kesc
    cdef int name = -1
    cdef char c
    for x in range(JN_COUNT):
        vals[x].kind = JK_ABSENT
    i = js_ws(b, i, e)
    if i >= e or b[i] != b'{':
        return JS_FALLBACK
    is_arr[0] = 0
    chain[0] = 1
    plen[0] = 0
    if max_depth < 1:
        return JS_FALLBACK
    i += 1
    # each turn: at the start of a member (object) or element (array), after '{' '[' or ','
    i = js_ws(b, i, e)
    if i < e and b[i] == b'}':
        i += 1
        sp = -1
    while sp >= 0:
        if not is_arr[sp]:
            if i >= e or b[i] != b'"':
                return JS_FALLBACK
            kesc = False
            q = js_string(b, i + 1, e, &kesc)
            if q < 0:
                return JS_FALLBACK
            ks = i + 1
            kl = q - ks
            name = -1
            if plen[sp] >= 0:
                if kesc:
                    return JS_FALLBACK  # an escaped key might spell a tracked name
                name = js_name(path, plen[sp], b + ks, kl)
            i = js_ws(b, q + 1, e)
            if i >= e or b[i] != b':':
                return JS_FALLBACK
            i = js_ws(b, i + 1, e)
        else:
            name = -1
        if i >= e:
            return JS_FALLBACK
        c = b[i]
        if name >= 0 and vals[name].kind != JK_ABSENT:
            return JS_FALLBACK  # a duplicate: which one wins is orjson's and flatten()'s call
        if c == b'"':
            esc = False
            q = js_string(b, i + 1, e, &esc)
            if q < 0:
                return JS_FALLBACK
            if name >= 0:
                vals[name].kind = JK_ESC if esc else JK_STR
                vals[name].off = i + 1
                vals[name].len = q - i - 1
            i = q + 1
        elif c == b'{' or c == b'[':
            if sp + 1 >= JS_MAXSTACK:
                return JS_FALLBACK
            if name >= 0:
                vals[name].kind = JK_OBJ if c == b'{' else JK_OTHER
            sp += 1
            is_arr[sp] = c == b'['
            pl = -1
            if c == b'{' and not is_arr[sp - 1] and chain[sp - 1] > 0:
                chain[sp] = chain[sp - 1] + 1
                if chain[sp] > max_depth:
                    return JS_FALLBACK  # too deep, unless a later duplicate key replaces it: orjson decides
                if plen[sp - 1] >= 0 and plen[sp - 1] + kl + 1 <= JS_MAXPATH:
                    pl = plen[sp - 1]
                    memcpy(path + pl, b + ks, kl)
                    path[pl + kl] = b'.'
                    pl += <int>kl + 1
            else:
                chain[sp] = 0
            plen[sp] = pl
            i = js_ws(b, i + 1, e)
            if i < e and (b[i] == b'}' or b[i] == b']'):
                if b[i] != closer(is_arr[sp]):
                    return JS_FALLBACK
                i += 1
                sp -= 1
            else:
                continue
        elif c == b'-' or is_digit(c):
            kind = 0
            q = js_number(b, i, e, &kind)
            if q < 0:
                return JS_FALLBACK
            if name >= 0:
                vals[name].kind = kind
                vals[name].off = i
                vals[name].len = q - i
            i = q
        elif c == b't' and e - i >= 4 and memcmp(b + i, b"true", 4) == 0:
            i += 4
            if name >= 0:
                vals[name].kind = JK_OTHER
        elif c == b'f' and e - i >= 5 and memcmp(b + i, b"false", 5) == 0:
            i += 5
            if name >= 0:
                vals[name].kind = JK_OTHER
        elif c == b'n' and e - i >= 4 and memcmp(b + i, b"null", 4) == 0:
            i += 4
            if name >= 0:
                vals[name].kind = JK_OTHER
        else:
            return JS_FALLBACK
        # after a value: ',' continues this container, a closer pops (maybe several)
        while True:
            i = js_ws(b, i, e)
            if i >= e:
                return JS_FALLBACK
            if b[i] == b',':
                i = js_ws(b, i + 1, e)
                break
            if b[i] != closer(is_arr[sp]):
                return JS_FALLBACK
            i += 1
            sp -= 1
            if sp < 0:
                break
    i = js_ws(b, i, e)
    return JS_OK if i == e else JS_FALLBACK


cdef Py_ssize_t js_unescape(const char* b, Py_ssize_t s, Py_ssize_t n, char* out) noexcept nogil:
    """The UTF-8 of a string jscan accepted (no surrogate escapes) into out (n bytes suffice); its length."""
    cdef Py_ssize_t i = s, e = s + n, o = 0
    cdef int u
    cdef char c
    while i < e:
        c = b[i]
        if c != b'\\':
            out[o] = c
            o += 1
            i += 1
            continue
        c = b[i + 1]
        if c == b'u':
            u = hex4(b + i + 2)
            if u < 0x80:
                out[o] = <char>u
                o += 1
            elif u < 0x800:
                out[o] = <char>(0xC0 | (u >> 6))
                out[o + 1] = <char>(0x80 | (u & 0x3F))
                o += 2
            else:
                out[o] = <char>(0xE0 | (u >> 12))
                out[o + 1] = <char>(0x80 | ((u >> 6) & 0x3F))
                out[o + 2] = <char>(0x80 | (u & 0x3F))
                o += 3
            i += 6
            continue
        if c == b'b':
            c = b'\b'
        elif c == b'f':
            c = b'\f'
        elif c == b'n':
            c = b'\n'
        elif c == b'r':
            c = b'\r'
        elif c == b't':
            c = b'\t'
        out[o] = c
        o += 1
        i += 2
    return o


ctypedef struct JLine:
    const char* b
    Py_ssize_t s
    Py_ssize_t e
    JVal vals[JN_COUNT]
    char* scratch          # unescaped values, each at its own offset from s (they never overlap)
    int msg_state          # -2 unresolved, else jl_field's answer for the message
    const char* msg_p
    Py_ssize_t msg_n
    int msg_str            # the message is a JSON string (so the built-in extraction runs on it)
    int extracted
    LineRec ex             # src_ip/user/rhost extracted from the message, offsets from msg_p


cdef inline int jl_val(JLine* jl, int x, const char** p, Py_ssize_t* n) noexcept nogil:
    """scan_value() of a tracked value: 1 bytes at p/n, 0 None (absent or not a str/int), -1 needs orjson."""
    cdef JVal* v = &jl.vals[x]
    if v.kind == JK_STR or v.kind == JK_INT:
        p[0] = jl.b + v.off
        n[0] = v.len
        return 1
    if v.kind == JK_ESC:
        p[0] = jl.scratch + (v.off - jl.s)
        n[0] = js_unescape(jl.b, v.off, v.len, jl.scratch + (v.off - jl.s))
        return 1
    if v.kind == JK_NUM:
        return -1  # str(float) is Python's text, not the line's
    return 0


cdef inline int jl_pick(JLine* jl, int first, int last, const char** p, Py_ssize_t* n, int* is_str) noexcept nogil:
    """json_fields()'s choice for host/message/process: the first string among names
    first..last, else the value under the field's own name (first)."""
    cdef int x
    is_str[0] = 0
    for x in range(first, last + 1):
        if jl.vals[x].kind == JK_STR or jl.vals[x].kind == JK_ESC:
            is_str[0] = 1
            return jl_val(jl, x, p, n)
    return jl_val(jl, first, p, n)


cdef inline int jl_field(JLine* jl, int f, const char** p, Py_ssize_t* n) noexcept nogil:
    """The bytes a pattern on text field f sees in this line's record: 1 at p/n, 0 none, -1 needs orjson."""
    cdef int x, got, is_str = 0
    if f == F_RAW:
        p[0] = jl.b + jl.s
        n[0] = jl.e - jl.s
        return 1
    if f == F_MESSAGE:
        if jl.msg_state == -2:
            jl.msg_state = jl_pick(jl, JN_MESSAGE, JN_J_MESSAGE, &jl.msg_p, &jl.msg_n, &is_str)
            jl.msg_str = is_str
            if not is_str:
                for x in range(JN_MESSAGE, JN_J_MESSAGE + 1):
                    if jl.vals[x].kind == JK_OTHER:
                        jl.msg_state = -1  # maybe journald's byte array (journal_text): orjson decides
                        break
        p[0] = jl.msg_p
        n[0] = jl.msg_n
        return jl.msg_state
    if f == F_HOST:
        return jl_pick(jl, JN_HOST, JN_J_HOSTNAME, p, n, &is_str)
    if f == F_PROCESS:
        return jl_pick(jl, JN_PROCESS, JN_J_IDENTIFIER, p, n, &is_str)
    if f == F_TAG:
        return jl_val(jl, JN_TAG, p, n)
    if f == F_MSGID:
        return jl_val(jl, JN_MSGID, p, n)
    x = JN_SRC_IP if f == F_SRC_IP else (JN_USER if f == F_USER else JN_RHOST)
    if jl.vals[x].kind != JK_ABSENT and jl.vals[x].kind != JK_OBJ:
        return jl_val(jl, x, p, n)  # the line's own key wins over the extraction
    # extract_into(): from the message, when it is a string
    got = jl_field(jl, F_MESSAGE, p, n)
    if got < 0:
        return -1
    if got == 0 or not jl.msg_str:
        return 0
    if not jl.extracted:
        jl.extracted = 1
        reset(&jl.ex, 0, jl.msg_n)
        set_field(&jl.ex, F_MESSAGE, 0, jl.msg_n)
        extract_fields(jl.msg_p, &jl.ex)
    if jl.ex.len[f] < 0:
        return 0
    p[0] = jl.msg_p + jl.ex.off[f]
    n[0] = jl.ex.len[f]
    return 1


cdef inline bint num_is_int(const char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i] == b'.' or p[i] == b'e' or p[i] == b'E':
            return False
    return True


cdef inline int jl_time(JLine* jl, double* ts) noexcept nogil:
    """json_ts() of the first tracked time key that has one (0, ts set; ts stays untouched when
    none does, the caller's `now`), or -1 when orjson must decide (floats, escaped strings)."""
    cdef int x, kind
    cdef JVal* v
    cdef Py_ssize_t i
    cdef long long iv
    cdef double t = 0
    cdef bint neg
    cdef char nbuf[64]
    for x in range(JN_ATTS, JN_J_REALTIME + 1):
        v = &jl.vals[x]
        kind = v.kind
        if x == JN_J_REALTIME:  # only a string of 1-18 digits is a time there
            if kind == JK_ESC:
                return -1
            if kind == JK_STR and 0 < v.len <= 18:
                iv = 0
                for i in range(v.off, v.off + v.len):
                    if not is_digit(jl.b[i]):
                        break
                    iv = iv * 10 + (jl.b[i] - 48)
                else:
                    ts[0] = (<double>iv) / 1e6
                    return 0
            continue
        if kind == JK_INT:
            neg = jl.b[v.off] == b'-'
            iv = 0
            for i in range(v.off + (1 if neg else 0), v.off + v.len):
                iv = iv * 10 + (jl.b[i] - 48)
            if neg:
                iv = -iv
            ts[0] = (<double>iv) / 1000.0 if iv > 100000000000LL else <double>iv
            return 0
        if kind == JK_NUM:
            # a float: strtod and orjson both round the decimal text to the nearest double
            if v.len >= 64 or num_is_int(jl.b + v.off, v.len):
                return -1  # -0 is the int 0 to Python; very long texts go to orjson
            memcpy(nbuf, jl.b + v.off, v.len)
            nbuf[v.len] = 0
            t = strtod(nbuf, NULL)
            ts[0] = t / 1000.0 if t > 1e11 else t
            return 0
        if kind == JK_ESC:
            return -1
        if kind == JK_STR:
            i = v.off
            if parse_rfc3339(jl.b, &i, v.off + v.len, &t) and i == v.off + v.len:
                ts[0] = t
                return 0
    return 1
