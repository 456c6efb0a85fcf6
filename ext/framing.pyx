# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ironpost/core/framing_py.py (same signature and results).

One memchr pass over the chunk. Lines that fit are copied verbatim and long ones cut, into
one output buffer, so no Python object is made per line.
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
