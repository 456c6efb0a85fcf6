# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ironpost/log_pipeline/parsers/logparse_py.py (same functions, same results).

parse(buf, year, ref_month=0, max_line=65536, json_max_depth=32) -> Parsed
Every line of the batch is parsed in C into offsets (RFC 5424, RFC 3164 with or without PRI,
file-format syslog, raw). JSON lines are checked by the C scanner of lp_json.pxi (lines it is unsure of go through
orjson, so the stats are exact); Python objects are only built when a caller asks for a
record, JSON lines are decoded and flattened only then, and the built-in field extraction (src_ip, user, rhost, port) waits
for that too.
"""

from libc.string cimport memset
from lp_parse cimport *

include "lp_line.pxi"
include "lp_web.pxi"
include "lp_record.pxi"
include "lp_json.pxi"


cdef class Parsed:
    cdef LineRec* recs
    cdef Py_ssize_t n
    cdef bytes buf
    cdef dict json          # line -> decoded JSON object; its record is built by record()
    cdef int json_max_depth
    cdef readonly dict stats

    def __dealloc__(self):
        if self.recs != NULL:
            free(self.recs)

    def __len__(self):
        return self.n

    def record(self, Py_ssize_t i):
        """The fields of line i as a dict (a fresh copy)."""
        if i < 0 or i >= self.n:
            raise IndexError(i)
        cdef Py_ssize_t s
        if self.recs[i].fmt == FMT_JSON:
            s = self.recs[i].off[F_RAW]
            obj = self.json.get(i)
            if obj is None:  # the C scanner vouched for the line: decode it now
                return json_record(self.buf[s:s + self.recs[i].len[F_RAW]], self.json_max_depth)[0]
            return json_fields(obj, self.buf[s:s + self.recs[i].len[F_RAW]], self.json_max_depth)
        extract_fields(self.buf, &self.recs[i])  # deferred by parse(); runs once per line
        return make_record(self.buf, &self.recs[i])

    def records(self):
        return [self.record(i) for i in range(self.n)]


def parse(bytes buf, int year, int ref_month=0, Py_ssize_t max_line=65536, int json_max_depth=32, int mode=0):
    cdef Parsed p = Parsed.__new__(Parsed)
    cdef const char* b = buf
    cdef Py_ssize_t n = len(buf), cut = 0, cnt, i, s
    cdef LineRec* recs = NULL
    cdef int fmt, err = 0
    cdef Py_ssize_t counts[NFMT]
    cdef JVal jv[JN_COUNT]
    if not 0 <= mode < NMODE:
        raise ValueError(f"mode {mode} is not one of 0..{NMODE - 1} (MODE_NAMES)")
    with nogil:
        cnt = split_lines(b, n, max_line, year, ref_month, &recs, &cut, False, mode)
    if cnt < 0:
        raise MemoryError()
    p.recs = recs
    p.n = cnt
    p.buf = buf
    p.json = {}
    p.json_max_depth = json_max_depth
    p.stats = {"lines": cnt, "cut": cut, "json_errors": 0, "json_depth_errors": 0,
               **{name: 0 for name in FMT_NAMES}}
    for i in range(cnt):
        if recs[i].fmt == FMT_JSON:
            # validity and depth decide the stats now; flattening waits for record()
            s = recs[i].off[F_RAW]
            if jscan(b, s, s + recs[i].len[F_RAW], json_max_depth, jv) == JS_OK:
                continue  # valid and not too deep: record() decodes it if asked
            obj = json_load(buf[s:s + recs[i].len[F_RAW]], json_max_depth, &err)
            if err:
                json_flag_error(buf, &recs[i], err, p.stats)
            else:
                p.json[i] = obj
    memset(counts, 0, sizeof(counts))
    for i in range(cnt):
        counts[recs[i].fmt] += 1
    for fmt in range(NFMT):
        p.stats[FMT_NAMES[fmt]] = counts[fmt]
    return p
