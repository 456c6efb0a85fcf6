# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ironpost/log_pipeline/matcher_py.py: parse + match a batch in C.

Matcher(patterns, n_rules, always=()) compiles every pattern of every rule into ONE Hyperscan
block-mode database. patterns: list of (expression: bytes, caseless: bool, field_id, rule_index).
scan(buf, year, ref_month, max_line, json_max_depth) parses each line (lp_parse.pxd), scans
the fields some pattern targets, and counts per rule the patterns that matched on this line
in a nogil callback. A rule whose every pattern matched makes the line a candidate. Only
candidates become Python objects: [(record dict, (rule indexes...))], in line order.
"""

from libc.stdlib cimport realloc, calloc
from libc.string cimport memset
from lp_parse cimport *

include "lp_record.pxi"

cdef extern from "hs.h" nogil:
    ctypedef struct hs_database_t:
        pass
    ctypedef struct hs_scratch_t:
        pass
    ctypedef struct hs_platform_info_t:
        pass
    ctypedef struct hs_compile_error_t:
        char* message
        int expression
    ctypedef int hs_error_t
    ctypedef int (*match_event_handler)(unsigned int id, unsigned long long frm, unsigned long long to,
                                        unsigned int flags, void* context) noexcept nogil
    hs_error_t hs_compile_multi(const char* const* expressions, const unsigned int* flags,
                                const unsigned int* ids, unsigned int elements, unsigned int mode,
                                const hs_platform_info_t* platform, hs_database_t** db,
                                hs_compile_error_t** error)
    hs_error_t hs_free_compile_error(hs_compile_error_t* error)
    hs_error_t hs_free_database(hs_database_t* db)
    hs_error_t hs_alloc_scratch(const hs_database_t* db, hs_scratch_t** scratch)
    hs_error_t hs_free_scratch(hs_scratch_t* scratch)
    hs_error_t hs_scan(const hs_database_t* db, const char* data, unsigned int length, unsigned int flags,
                       hs_scratch_t* scratch, match_event_handler onEvent, void* context)
    int HS_SUCCESS
    int HS_MODE_BLOCK
    int HS_FLAG_CASELESS
    int HS_FLAG_SINGLEMATCH
    int HS_FLAG_ALLOWEMPTY


ctypedef struct ScanCtx:
    int* pat_field
    int* pat_rule
    int* need
    int* rule_gen
    int* rule_cnt
    int* fired
    int nfired
    int field
    int gen


cdef int on_match(unsigned int id, unsigned long long frm, unsigned long long to, unsigned int flags,
                  void* context) noexcept nogil:
    cdef ScanCtx* c = <ScanCtx*>context
    cdef int r
    if c.pat_field[id] != c.field:
        return 0
    r = c.pat_rule[id]
    if c.rule_gen[r] != c.gen:
        c.rule_gen[r] = c.gen
        c.rule_cnt[r] = 0
    c.rule_cnt[r] += 1
    if c.rule_cnt[r] == c.need[r]:
        c.fired[c.nfired] = r
        c.nfired += 1
    return 0


ctypedef struct Hit:
    Py_ssize_t line    # line number in the batch
    Py_ssize_t cand    # index into the candidate LineRec array, -1 for JSON lines
    int rule


cdef class Matcher:
    cdef hs_database_t* db
    cdef hs_scratch_t* scratch
    cdef int n_pat, n_rules, n_always, n_scan
    cdef int* pat_field
    cdef int* pat_rule
    cdef int* need
    cdef int* rule_gen
    cdef int* rule_cnt
    cdef int* fired
    cdef int* always
    cdef int scan_fields[9]
    cdef readonly tuple patterns

    def __cinit__(self):
        self.db = NULL
        self.scratch = NULL

    def __init__(self, list patterns, int n_rules, always=()):
        cdef Py_ssize_t i, n = len(patterns)
        cdef const char** exprs
        cdef unsigned int* flags
        cdef unsigned int* ids
        cdef hs_compile_error_t* err = NULL
        cdef int f
        cdef bint used[9]
        self.patterns = tuple(patterns)
        self.n_pat = n
        self.n_rules = n_rules
        self.pat_field = <int*>calloc(n + 1, sizeof(int))
        self.pat_rule = <int*>calloc(n + 1, sizeof(int))
        self.need = <int*>calloc(n_rules + 1, sizeof(int))
        self.rule_gen = <int*>calloc(n_rules + 1, sizeof(int))
        self.rule_cnt = <int*>calloc(n_rules + 1, sizeof(int))
        self.fired = <int*>calloc(n_rules + 1, sizeof(int))
        always = sorted(set(always))
        self.n_always = len(always)
        self.always = <int*>calloc(self.n_always + 1, sizeof(int))
        if (self.pat_field == NULL or self.pat_rule == NULL or self.need == NULL or self.rule_gen == NULL
                or self.rule_cnt == NULL or self.fired == NULL or self.always == NULL):
            raise MemoryError()
        for i in range(self.n_always):
            self.always[i] = always[i]
        for f in range(NFIELDS):
            used[f] = False
        for i in range(n):
            expr, caseless, field, rule = patterns[i]
            if not 0 <= field < NFIELDS or not 0 <= rule < n_rules:
                raise ValueError(i, f"field {field} or rule {rule} out of range")
            if b"\0" in expr:
                raise ValueError(i, "pattern contains a NUL byte")
            self.pat_field[i] = field
            self.pat_rule[i] = rule
            self.need[rule] += 1
            used[field] = True
        self.n_scan = 0
        for f in range(NFIELDS):
            if used[f]:
                self.scan_fields[self.n_scan] = f
                self.n_scan += 1
        if n == 0:
            return
        exprs = <const char**>calloc(n, sizeof(char*))
        flags = <unsigned int*>calloc(n, sizeof(unsigned int))
        ids = <unsigned int*>calloc(n, sizeof(unsigned int))
        try:
            if exprs == NULL or flags == NULL or ids == NULL:
                raise MemoryError()
            for i in range(n):
                exprs[i] = <bytes>patterns[i][0]
                flags[i] = HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY | (HS_FLAG_CASELESS if patterns[i][1] else 0)
                ids[i] = i
            if hs_compile_multi(exprs, flags, ids, n, HS_MODE_BLOCK, NULL, &self.db, &err) != HS_SUCCESS:
                if err != NULL:
                    index, msg = err.expression, err.message.decode("utf-8", "replace")
                    hs_free_compile_error(err)
                    raise ValueError(index, msg)
                raise ValueError(-1, "hyperscan compile failed")
            if hs_alloc_scratch(self.db, &self.scratch) != HS_SUCCESS:
                raise MemoryError("hyperscan scratch")
        finally:
            free(exprs)
            free(flags)
            free(ids)

    def __dealloc__(self):
        if self.scratch != NULL:
            hs_free_scratch(self.scratch)
        if self.db != NULL:
            hs_free_database(self.db)
        free(self.pat_field)
        free(self.pat_rule)
        free(self.need)
        free(self.rule_gen)
        free(self.rule_cnt)
        free(self.fired)
        free(self.always)

    cdef void scan_rec(self, const char* b, LineRec* r, ScanCtx* ctx) noexcept nogil:
        cdef int k, f
        ctx.nfired = 0
        if self.db == NULL:
            return
        for k in range(self.n_scan):
            f = self.scan_fields[k]
            if r.len[f] >= 0:
                ctx.field = f
                hs_scan(self.db, b + r.off[f], <unsigned int>r.len[f], 0, self.scratch, on_match, ctx)

    def scan(self, bytes buf, int year, int ref_month=0, Py_ssize_t max_line=65536, int json_max_depth=32,
             long want=-1):
        """want: bit mask of the fields to build for syslog candidates (see lp_record.pxi); JSON lines are whole."""
        cdef const char* b = buf
        cdef Py_ssize_t n = len(buf), pos = 0, e, lines = 0, cut = 0
        cdef Py_ssize_t nhits = 0, caphits = 0, ncand = 0, capcand = 0, njson = 0, capjson = 0, i, k
        cdef Hit* hits = NULL
        cdef Hit* nh
        cdef LineRec* cands = NULL
        cdef LineRec* nc
        cdef Py_ssize_t* jsonl = NULL
        cdef Py_ssize_t* nj
        cdef LineRec rec
        cdef const char* nl
        cdef ScanCtx ctx
        cdef Py_ssize_t counts[4]
        cdef bint oom = False
        cdef int fmt
        ctx.pat_field = self.pat_field
        ctx.pat_rule = self.pat_rule
        ctx.need = self.need
        ctx.rule_gen = self.rule_gen
        ctx.rule_cnt = self.rule_cnt
        ctx.fired = self.fired
        counts[0] = counts[1] = counts[2] = counts[3] = 0
        memset(self.rule_gen, 0, (self.n_rules + 1) * sizeof(int))
        try:
            with nogil:
                while pos < n:
                    nl = <const char*>memchr(b + pos, b'\n', n - pos)
                    e = (nl - b) if nl != NULL else n
                    if e - pos > max_line:
                        cut += 1
                        parse_line(b, pos, pos + max_line, year, ref_month, &rec)
                    else:
                        parse_line(b, pos, e, year, ref_month, &rec)
                    pos = e + 1
                    if rec.len[F_RAW] <= 0:
                        continue
                    lines += 1
                    if rec.fmt == FMT_JSON:
                        if njson == capjson:
                            capjson = capjson * 2 + 64
                            nj = <Py_ssize_t*>realloc(jsonl, capjson * 2 * sizeof(Py_ssize_t))
                            if nj == NULL:
                                oom = True
                                break
                            jsonl = nj
                        jsonl[2 * njson] = lines - 1
                        jsonl[2 * njson + 1] = rec.off[F_RAW]
                        njson += 1
                        continue
                    counts[rec.fmt] += 1
                    ctx.gen = <int>lines
                    self.scan_rec(b, &rec, &ctx)
                    if ctx.nfired == 0 and self.n_always == 0:
                        continue
                    if nhits + ctx.nfired + self.n_always > caphits:
                        caphits = caphits * 2 + ctx.nfired + self.n_always + 64
                        nh = <Hit*>realloc(hits, caphits * sizeof(Hit))
                        if nh == NULL:
                            oom = True
                            break
                        hits = nh
                    if ncand == capcand:
                        capcand = capcand * 2 + 64
                        nc = <LineRec*>realloc(cands, capcand * sizeof(LineRec))
                        if nc == NULL:
                            oom = True
                            break
                        cands = nc
                    cands[ncand] = rec
                    for k in range(ctx.nfired):
                        hits[nhits].line = lines - 1
                        hits[nhits].cand = ncand
                        hits[nhits].rule = ctx.fired[k]
                        nhits += 1
                    for k in range(self.n_always):
                        hits[nhits].line = lines - 1
                        hits[nhits].cand = ncand
                        hits[nhits].rule = self.always[k]
                        nhits += 1
                    ncand += 1
            if oom:
                raise MemoryError()
            stats = {"lines": lines, "cut": cut, "json_errors": 0, "json_depth_errors": 0}
            out = []
            i = 0
            while i < nhits:
                k = i
                rules = []
                while k < nhits and hits[k].line == hits[i].line:
                    rules.append(hits[k].rule)
                    k += 1
                out.append((hits[i].line, make_record(b, &cands[hits[i].cand], want), tuple(sorted(rules))))
                i = k
            if njson:
                out.extend(self._scan_json(buf, jsonl, njson, max_line, json_max_depth, stats, counts, want))
                out.sort(key=_line_of)
            for fmt in range(4):
                stats[FMT_NAMES[fmt]] = counts[fmt]
            stats["candidates"] = len(out)
            return [(c[1], c[2]) for c in out], stats
        finally:
            free(hits)
            free(cands)
            free(jsonl)

    cdef list _scan_json(self, bytes buf, Py_ssize_t* jsonl, Py_ssize_t njson, Py_ssize_t max_line,
                         int json_max_depth, dict stats, Py_ssize_t* counts, long want):
        cdef const char* b = buf
        cdef Py_ssize_t j, s, e, n = len(buf)
        cdef const char* nl
        cdef LineRec rec
        cdef ScanCtx ctx
        cdef int k, f
        cdef bytes v
        cdef list out = []
        ctx.pat_field = self.pat_field
        ctx.pat_rule = self.pat_rule
        ctx.need = self.need
        ctx.rule_gen = self.rule_gen
        ctx.rule_cnt = self.rule_cnt
        ctx.fired = self.fired
        for j in range(njson):
            s = jsonl[2 * j + 1]
            nl = <const char*>memchr(b + s, b'\n', n - s)
            e = (nl - b) if nl != NULL else n
            if e - s > max_line:
                e = s + max_line
            if e > s and b[e - 1] == b'\r':
                e -= 1
            reset(&rec, s, e)
            rec.facility = -1
            rec.severity = -1
            ctx.gen = -1 - <int>j
            ctx.nfired = 0
            d = resolve_json(buf, &rec, json_max_depth, stats)
            if d is None:
                counts[FMT_RAW] += 1
                self.scan_rec(b, &rec, &ctx)
                if ctx.nfired or self.n_always:
                    d = make_record(b, &rec, want)
            else:
                counts[FMT_JSON] += 1
                if self.db != NULL:
                    for k in range(self.n_scan):
                        f = self.scan_fields[k]
                        v = scan_value((<dict>d).get(FIELD_NAMES[f]))
                        if v is not None:
                            ctx.field = f
                            hs_scan(self.db, v, <unsigned int>len(v), 0, self.scratch, on_match, &ctx)
            if ctx.nfired or self.n_always:
                rules = [ctx.fired[k] for k in range(ctx.nfired)]
                rules.extend(self.always[k] for k in range(self.n_always))
                out.append((jsonl[2 * j], d, tuple(sorted(rules))))
        return out


def _line_of(c):
    return c[0]
