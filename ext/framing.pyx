# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ironpost/core/framing_py.py (same signature and results).

One memchr pass over the chunk. Lines that fit are copied verbatim and long ones cut, into
one output buffer, so no Python object is made per line.
"""

from libc.string cimport memchr, memcpy
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.bytes cimport PyBytes_FromStringAndSize


def frame_lines(bytes buf, Py_ssize_t max_line, bint skipping=False):
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
