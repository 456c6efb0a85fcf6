# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ironpost/core/framing_py.py (same signatures and results).

frame_lines: one memchr pass over the chunk. Lines that fit are copied verbatim and long ones
cut, into one output buffer, so no Python object is made per line.
frame_octets: the same for RFC 6587 octet counting; each frame's message goes into one output
buffer as a line, so again no Python object per message.
"""

from libc.string cimport memchr, memcpy
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.bytes cimport PyBytes_FromStringAndSize


cdef Py_ssize_t clean_prefix(const char* src, Py_ssize_t n, Py_ssize_t max_line, Py_ssize_t* lines) noexcept nogil:
    """Length of the prefix made only of whole lines that need no cut: -1 if a cut is needed."""
    cdef Py_ssize_t pos = 0
    cdef const char* nl
    lines[0] = 0
    while pos < n:
        nl = <const char*>memchr(src + pos, b'\n', n - pos)
        if nl == NULL:
            return -1 if n - pos > max_line else pos
        if (nl - src) - pos > max_line:
            return -1
        pos = (nl - src) + 1
        lines[0] += 1
    return pos


def frame_lines(bytes buf, Py_ssize_t max_line, bint skipping=False):
    cdef const char* src = buf
    cdef Py_ssize_t clean, n = len(buf), lines_clean = 0
    # The common case: nothing to cut or skip. Then the output is the input's whole-line
    # prefix, returned without copying when it is all of the input.
    if not skipping:
        with nogil:
            clean = clean_prefix(src, n, max_line, &lines_clean)
        if clean >= 0:
            return (buf if clean == n else buf[:clean]), clean, lines_clean, 0, False
    return _frame_copy(buf, max_line, skipping)


cdef _frame_copy(bytes buf, Py_ssize_t max_line, bint skipping):
    cdef const char* src = buf
    cdef Py_ssize_t n = len(buf)
    cdef Py_ssize_t pos = 0, length, lines = 0, cut = 0, o = 0
    cdef const char* nl
    cdef char* dst = <char*>PyMem_Malloc(n + 1)
    if dst == NULL:
        raise MemoryError()
    try:
        while pos < n:
            nl = <const char*>memchr(src + pos, b'\n', n - pos)
            if skipping:
                if nl == NULL:
                    pos = n
                    break
                skipping = False
                pos = (nl - src) + 1
                continue
            if nl == NULL:
                if n - pos > max_line:
                    memcpy(dst + o, src + pos, max_line)
                    o += max_line
                    dst[o] = b'\n'
                    o += 1
                    lines += 1
                    cut += 1
                    pos = n
                    skipping = True
                break
            length = (nl - src) - pos
            if length > max_line:
                memcpy(dst + o, src + pos, max_line)
                o += max_line
                dst[o] = b'\n'
                o += 1
                cut += 1
            else:
                memcpy(dst + o, src + pos, length + 1)
                o += length + 1
            lines += 1
            pos = (nl - src) + 1
        return PyBytes_FromStringAndSize(dst, o), pos, lines, cut, skipping
    finally:
        PyMem_Free(dst)


# RFC 6587 octet counting. A length prefix is at most 10 digits (up to 9,999,999,999), so
# lengths and the bytes left to skip are long long, not Py_ssize_t (32 bits on some hosts).
cdef enum:
    MAX_LEN_DIGITS = 10

cdef struct OctetState:
    Py_ssize_t pos
    Py_ssize_t out
    Py_ssize_t lines
    Py_ssize_t oversized
    long long skip
    bint bad


cdef Py_ssize_t one_line(const char* m, Py_ssize_t k, char* dst) noexcept nogil:
    """Copy m[:k] to dst as one line (no final newline); return its length.

    Same as _one_line in framing_py: trailing CR/LF/NUL dropped, then each CRLF and each other
    LF becomes one space (a lone CR inside stays)."""
    cdef Py_ssize_t i = 0, o = 0
    cdef char c
    if memchr(m, b'\n', k) == NULL and (k == 0 or (m[k - 1] != b'\r' and m[k - 1] != 0)):
        memcpy(dst, m, k)
        return k
    while k > 0 and (m[k - 1] == b'\r' or m[k - 1] == b'\n' or m[k - 1] == 0):
        k -= 1
    while i < k:
        c = m[i]
        if c == b'\n':
            c = b' '
        elif c == b'\r' and i + 1 < k and m[i + 1] == b'\n':
            c = b' '
            i += 1
        dst[o] = c
        o += 1
        i += 1
    return o


cdef void octets_loop(const char* src, Py_ssize_t n, Py_ssize_t max_line, char* dst, OctetState* st) noexcept nogil:
    cdef Py_ssize_t pos = 0, i, sp, end, start, take, w
    cdef long long length
    cdef char c
    while pos < n:
        if st.skip:
            if st.skip >= n - pos:
                st.skip -= n - pos
                pos = n
                break
            pos += <Py_ssize_t>st.skip
            st.skip = 0
            continue
        end = pos + MAX_LEN_DIGITS + 1 if n - pos > MAX_LEN_DIGITS else n
        sp = pos
        while sp < end and src[sp] != b' ':
            sp += 1
        if sp == end:
            st.bad = n - pos > MAX_LEN_DIGITS
            break
        if sp == pos:
            st.bad = True
            break
        length = 0
        i = pos
        while i < sp:
            c = src[i]
            if c < c'0' or c > c'9':
                break
            length = length * 10 + (c - c'0')
            i += 1
        if i < sp:
            st.bad = True
            break
        take = <Py_ssize_t>length if length <= max_line else max_line
        start = sp + 1
        if n - start < take:
            break
        w = one_line(src + start, take, dst + st.out)
        if w:
            dst[st.out + w] = b'\n'
            st.out += w + 1
            st.lines += 1
        pos = start + take
        if length > max_line:
            st.oversized += 1
            st.skip = length - max_line
    st.pos = pos


def frame_octets(bytes buf not None, Py_ssize_t max_line, long long skip=0):
    cdef const char* src = buf
    cdef Py_ssize_t n = len(buf)
    cdef OctetState st
    if max_line < 0 or skip < 0:
        raise ValueError("max_line and skip must not be negative")
    # Each message takes its length prefix and a space from the input and adds one newline,
    # so the output never outgrows the input.
    cdef char* dst = <char*>PyMem_Malloc(n + 1)
    if dst == NULL:
        raise MemoryError()
    st.pos = st.out = st.lines = st.oversized = 0
    st.skip = skip
    st.bad = False
    try:
        with nogil:
            octets_loop(src, n, max_line, dst, &st)
        return PyBytes_FromStringAndSize(dst, st.out), st.pos, st.lines, st.oversized, st.skip, st.bad
    finally:
        PyMem_Free(dst)
