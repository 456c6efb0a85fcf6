# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ironpost/log_pipeline/matcher_py.py: parse + match a batch in C.

Matcher(patterns, n_rules, always=()) compiles every pattern of every rule into ONE Hyperscan
block-mode database. patterns: list of (expression: bytes, caseless: bool, field_id, rule_index).
scan(buf, year, ref_month, max_line, json_max_depth) parses each line (lp_parse.pxd), scans
the fields some pattern targets, and counts per rule the patterns that matched on this line
in a nogil callback. A rule whose every pattern matched makes the line a candidate. Only
candidates become Python objects: [(record dict, (rule indexes...))], in line order.
JSON lines are scanned in C too (lp_json.pxi): their matched fields are byte slices of the
line, and orjson builds a record only for a candidate or a threshold that fires.

Every hs_scan return code is checked: a failed call is counted (stats "scan_errors") and the
line it belonged to is counted as unscanned ("lines_unscanned") and never reported as clean or
as a candidate; `last_scan_error` keeps the latest Hyperscan error code.

Threads: one Matcher is not thread-safe. Its Hyperscan scratch and its per-rule match counters
are shared by every scan and used without the GIL, so two threads scanning at once would
corrupt each other's results. scan() refuses that: a second concurrent call raises
LogPipelineError instead of scanning. Give each thread its own Matcher (compile_rules) if a
pipeline ever scans in parallel.
"""

from libc.stdlib cimport realloc, calloc
from libc.string cimport memset, memmove, memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize
import heapq
from lp_parse cimport *
from ironpost.core.errors import LogPipelineError

include "lp_record.pxi"
include "lp_json.pxi"

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
    int* msg_need   # per rule: its patterns on the message
    char* has_other # per rule: it also has patterns on other fields
    int alive2      # rules with other-field patterns whose message patterns all matched
    int nfired
    int field
    int gen
    int err         # the last failed hs_scan code on the current line, 0 when every call succeeded


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
    if c.field == F_MESSAGE and c.has_other[r] and c.rule_cnt[r] == c.msg_need[r]:
        c.alive2 += 1
    if c.rule_cnt[r] == c.need[r]:
        c.fired[c.nfired] = r
        c.nfired += 1
    return 0


ctypedef struct Group:
    double* buf     # event times inside the window, sorted (as MemoryState keeps them): buf[off:off+n]
    int off         # times that slid out of the window are dropped by moving off, not the array
    int n
    int cap
    int has_mark
    double mark     # dedup mark (incident), see buckets/state.py mark_once
    long long touch # last use, for evicting the least recently used groups when full
    int rule
    int used


cdef Py_ssize_t bisect_left(double* a, Py_ssize_t n, double x) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef Py_ssize_t bisect_right(double* a, Py_ssize_t n, double x) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


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
    cdef int* msg_need
    cdef char* has_other
    cdef bint always2       # a rule has patterns on other fields and none on the message
    cdef bint scan_msg      # some pattern targets the message
    cdef int scan_fields[9]
    cdef readonly tuple patterns
    # thresholds kept in C for rules that need nothing else from Python (see aggregate())
    cdef char* agg_on
    cdef int* agg_count
    cdef int* agg_nf
    cdef int* agg_fields
    cdef double* agg_window
    cdef double* agg_dedup
    cdef long long* agg_matches
    cdef long long* agg_deduped
    cdef Group* groups
    cdef Py_ssize_t ngroups, capgroups
    cdef long long touch
    cdef dict gindex
    cdef list free_slots
    cdef list fired_out
    cdef Py_ssize_t max_groups
    cdef readonly long long evictions
    cdef bint any_agg
    cdef bint need_extract  # some pattern scans src_ip/user/rhost: extract on every line
    cdef bint used_f[9]     # fields some pattern targets
    cdef bint busy          # a scan is running (it releases the GIL): a second one must not share state
    cdef int inject_code    # fault injection for tests: the next inject_left scans "return" this code
    cdef long long inject_left
    cdef readonly long long scan_errors
    cdef readonly long long lines_unscanned
    cdef readonly int last_scan_error


    cdef void _init_ctx(self, ScanCtx* ctx) noexcept:
        """Point a scan context at this matcher's compiled tables (both scan paths use it)."""
        ctx.pat_field = self.pat_field
        ctx.pat_rule = self.pat_rule
        ctx.need = self.need
        ctx.rule_gen = self.rule_gen
        ctx.rule_cnt = self.rule_cnt
        ctx.fired = self.fired
        ctx.msg_need = self.msg_need
        ctx.has_other = self.has_other
        ctx.err = 0
    def __cinit__(self):
        self.db = NULL
        self.busy = False
        self.inject_left = 0
        self.scratch = NULL
        self.groups = NULL
        self.agg_on = NULL

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
        self.msg_need = <int*>calloc(n_rules + 1, sizeof(int))
        self.has_other = <char*>calloc(n_rules + 1, 1)
        if self.msg_need == NULL or self.has_other == NULL:
            raise MemoryError()
        if (self.pat_field == NULL or self.pat_rule == NULL or self.need == NULL or self.rule_gen == NULL
                or self.rule_cnt == NULL or self.fired == NULL or self.always == NULL):
            raise MemoryError()
        for i in range(self.n_always):
            self.always[i] = always[i]
        self.agg_on = <char*>calloc(n_rules + 1, 1)
        self.agg_count = <int*>calloc(n_rules + 1, sizeof(int))
        self.agg_nf = <int*>calloc(n_rules + 1, sizeof(int))
        self.agg_fields = <int*>calloc((n_rules + 1) * NFIELDS, sizeof(int))
        self.agg_window = <double*>calloc(n_rules + 1, sizeof(double))
        self.agg_dedup = <double*>calloc(n_rules + 1, sizeof(double))
        self.agg_matches = <long long*>calloc(n_rules + 1, sizeof(long long))
        self.agg_deduped = <long long*>calloc(n_rules + 1, sizeof(long long))
        if (self.agg_on == NULL or self.agg_count == NULL or self.agg_nf == NULL or self.agg_fields == NULL
                or self.agg_window == NULL or self.agg_dedup == NULL or self.agg_matches == NULL
                or self.agg_deduped == NULL):
            raise MemoryError()
        self.gindex = {}
        self.free_slots = []
        self.fired_out = []
        self.max_groups = 100_000
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
            if field == F_MESSAGE:
                self.msg_need[rule] += 1
            else:
                self.has_other[rule] = 1
            used[field] = True
        self.need_extract = used[F_SRC_IP] or used[F_USER] or used[F_RHOST]
        for f in range(NFIELDS):
            self.used_f[f] = used[f]
        self.always2 = False
        for i in range(n_rules):
            if self.has_other[i] and self.msg_need[i] == 0:
                self.always2 = True
        # the message first: the other fields are scanned only when a rule can still complete there
        self.scan_msg = used[F_MESSAGE]
        self.n_scan = 0
        for f in range(NFIELDS):
            if used[f] and f != F_MESSAGE:
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
        free(self.msg_need)
        free(self.has_other)
        cdef Py_ssize_t g
        if self.groups != NULL:
            for g in range(self.ngroups):
                free(self.groups[g].buf)
            free(self.groups)
        if self.agg_on != NULL:
            free(self.agg_on)
            free(self.agg_count)
            free(self.agg_nf)
            free(self.agg_fields)
            free(self.agg_window)
            free(self.agg_dedup)
            free(self.agg_matches)
            free(self.agg_deduped)

    def aggregate(self, int rule, int count, double window, double dedup, tuple fields, Py_ssize_t max_groups=100_000):
        """Count this rule's matches per group (text field ids) over event time in C, with the
        semantics of buckets.ThresholdEngine + MemoryState; only firing lines reach Python,
        through take_fired()."""
        cdef int k
        if not 0 <= rule < self.n_rules or len(fields) > NFIELDS or count < 1:
            raise ValueError(rule, "bad aggregate spec")
        self.agg_on[rule] = 1
        self.agg_count[rule] = count
        self.agg_window[rule] = window
        self.agg_dedup[rule] = dedup
        self.agg_nf[rule] = len(fields)
        for k in range(len(fields)):
            if not 0 <= fields[k] < NFIELDS:
                raise ValueError(rule, "bad group field")
            self.agg_fields[rule * NFIELDS + k] = fields[k]
        self.max_groups = max_groups
        self.any_agg = True

    def take_fired(self):
        """[(record, rule, count, first_seen, ts)] fired since the last call, in event order."""
        out, self.fired_out = self.fired_out, []
        return out

    def agg_metrics(self):
        return {"groups": len(self.gindex), "evictions": self.evictions,
                "matches": {r: self.agg_matches[r] for r in range(self.n_rules) if self.agg_on[r]},
                "deduped": {r: self.agg_deduped[r] for r in range(self.n_rules) if self.agg_on[r]}}

    cdef void _evict(self):
        """Full: drop the least recently used tenth of the groups (counted)."""
        cdef Py_ssize_t slot
        k = max(1, len(self.gindex) // 10)
        victims = heapq.nsmallest(k, self.gindex.items(), key=lambda kv: self.groups[<Py_ssize_t>kv[1]].touch)
        for key, slot in victims:
            del self.gindex[key]
            self.groups[slot].n = 0
            self.groups[slot].off = 0
            self.groups[slot].has_mark = 0
            self.groups[slot].used = 0
            self.free_slots.append(slot)
            self.evictions += 1

    cdef Py_ssize_t _slot(self, bytes key, int rule) except -1:
        cdef Py_ssize_t slot
        cdef Group* ng
        got = self.gindex.get(key)
        if got is not None:
            return <Py_ssize_t>got
        if len(self.gindex) >= self.max_groups:
            self._evict()
        if self.free_slots:
            slot = self.free_slots.pop()
        else:
            if self.ngroups == self.capgroups:
                self.capgroups = self.capgroups * 2 + 1024
                ng = <Group*>realloc(self.groups, self.capgroups * sizeof(Group))
                if ng == NULL:
                    raise MemoryError()
                self.groups = ng
            slot = self.ngroups
            self.ngroups += 1
            self.groups[slot].buf = NULL
            self.groups[slot].cap = 0
        self.groups[slot].n = 0
        self.groups[slot].off = 0
        self.groups[slot].has_mark = 0
        self.groups[slot].rule = rule
        self.groups[slot].used = 1
        self.gindex[key] = slot
        return slot

    cdef int _hit(self, bytes key, int rule, double ts, int* count, double* first) except -1:
        """1 when this event fires the rule for its group (threshold reached, not a duplicate)."""
        cdef Py_ssize_t slot = self._slot(key, rule), pos, cut, lo, hi
        cdef Group* g = &self.groups[slot]
        cdef double window = self.agg_window[rule], dedup = self.agg_dedup[rule], newest
        cdef double* nts
        cdef double* t
        cdef bint fresh
        self.agg_matches[rule] += 1
        self.touch += 1
        g.touch = self.touch
        if g.n and ts < g.buf[g.off + g.n - 1] - window:
            # older than the window of the newest event: it would be cut again at once and count
            # nothing (a replayed or late line); skipping the insert saves moving the array
            count[0] = 0
            return 0
        if g.off + g.n == g.cap:
            if g.off >= g.n and g.off > 0:
                # compact only once as many times slid out as remain: amortised O(1) per event,
                # where moving on every cut cost 32 KiB per event for a group at the 4096 cap
                memmove(g.buf, g.buf + g.off, g.n * sizeof(double))
                g.off = 0
            else:
                g.cap = g.cap * 2 + 8
                nts = <double*>realloc(g.buf, g.cap * sizeof(double))
                if nts == NULL:
                    raise MemoryError()
                g.buf = nts
        t = g.buf + g.off
        if g.n == 0 or ts >= t[g.n - 1]:
            t[g.n] = ts
        else:
            pos = bisect_right(t, g.n, ts)
            memmove(t + pos + 1, t + pos, (g.n - pos) * sizeof(double))
            t[pos] = ts
        g.n += 1
        newest = t[g.n - 1]
        cut = bisect_left(t, g.n, newest - window)
        if g.n - cut > 4096:
            cut = g.n - 4096
        if cut:
            g.off += <int>cut
            g.n -= <int>cut
            t += cut
        lo = bisect_left(t, g.n, ts - window)
        hi = bisect_right(t, g.n, ts)
        count[0] = <int>(hi - lo)
        if hi - lo < self.agg_count[rule]:
            return 0
        first[0] = t[0]
        fresh = (not g.has_mark) or ts - g.mark > dedup or ts < g.mark - dedup
        if fresh:
            g.mark = ts
        elif ts > g.mark:
            g.mark = ts
        g.has_mark = 1
        if not fresh:
            self.agg_deduped[rule] += 1
            return 0
        return 1

    cdef bytes _key_rec(self, const char* b, LineRec* r, int rule):
        """rule, then per group field a 4-byte length (0xffffffff: absent) and the bytes."""
        cdef char small[512]
        cdef char* buf = small
        cdef Py_ssize_t total = 4, o, n
        cdef int k, f
        cdef unsigned int ln
        for k in range(self.agg_nf[rule]):
            f = self.agg_fields[rule * NFIELDS + k]
            total += 4 + (r.len[f] if r.len[f] > 0 else 0)
        if total > 512:
            buf = <char*>malloc(total)
            if buf == NULL:
                raise MemoryError()
        try:
            memcpy(buf, &rule, 4)
            o = 4
            for k in range(self.agg_nf[rule]):
                f = self.agg_fields[rule * NFIELDS + k]
                n = r.len[f]
                ln = 0xFFFFFFFF if n < 0 else <unsigned int>n
                memcpy(buf + o, &ln, 4)
                o += 4
                if n > 0:
                    memcpy(buf + o, b + r.off[f], n)
                    o += n
            return PyBytes_FromStringAndSize(buf, o)
        finally:
            if buf != small:
                free(buf)

    cdef bytes _key_json(self, dict d, int rule):
        """Same layout as _key_rec, from a JSON record's values."""
        cdef int k
        parts = [(<unsigned int>rule).to_bytes(4, "little")]
        for k in range(self.agg_nf[rule]):
            v = scan_value(d.get(FIELD_NAMES[self.agg_fields[rule * NFIELDS + k]]))
            if v is None:
                parts.append(b"\xff\xff\xff\xff")
            else:
                parts.append(len(v).to_bytes(4, "little"))
                parts.append(v)
        return b"".join(parts)

    cdef void _agg_rec(self, const char* b, LineRec* r, int rule, double now, long want) except *:
        cdef int count = 0
        cdef double first = 0, ts = r.ts if r.has_ts else now
        if self._hit(self._key_rec(b, r, rule), rule, ts, &count, &first):
            self.fired_out.append((make_record(b, r, want), rule, count, first, ts))

    cdef void _agg_json(self, dict d, int rule, double now) except *:
        cdef int count = 0
        cdef double first = 0
        t = d.get("timestamp")
        cdef double ts = t if type(t) is float else now
        if self._hit(self._key_json(d, rule), rule, ts, &count, &first):
            self.fired_out.append((dict(d), rule, count, first, ts))

    cdef void _agg_lazy(self, bytes buf, tuple what, int rule, int json_max_depth) except *:
        cdef int count = 0
        cdef double first = 0
        key, ts, s, e = what
        if self._hit(key, rule, ts, &count, &first):
            d, err = json_record(buf[s:e], json_max_depth)
            self.fired_out.append((d, rule, count, first, ts))

    cdef void hs_field(self, const char* p, Py_ssize_t n, int field, ScanCtx* ctx) noexcept nogil:
        """hs_scan one field, remembering a failure on the context (it marks the line unscanned)."""
        cdef hs_error_t rc
        ctx.field = field
        if self.inject_left > 0:
            self.inject_left -= 1
            rc = self.inject_code
        else:
            rc = hs_scan(self.db, p, <unsigned int>n, 0, self.scratch, on_match, ctx)
        if rc != HS_SUCCESS:
            ctx.err = rc
            self.scan_errors += 1
            self.last_scan_error = rc

    cdef bint unscanned(self, ScanCtx* ctx) noexcept nogil:
        """After a line: True (and counted) when one of its scans failed; its partial matches are void."""
        if ctx.err == 0:
            return False
        ctx.err = 0
        ctx.nfired = 0
        self.lines_unscanned += 1
        return True

    cdef void scan_rec(self, const char* b, LineRec* r, ScanCtx* ctx) noexcept nogil:
        cdef int k, f
        ctx.nfired = 0
        ctx.alive2 = 0
        ctx.err = 0
        if self.db == NULL:
            return
        if self.scan_msg and r.len[F_MESSAGE] >= 0:
            self.hs_field(b + r.off[F_MESSAGE], r.len[F_MESSAGE], F_MESSAGE, ctx)
        if not (self.always2 or ctx.alive2):
            return  # every rule with patterns elsewhere already missed on the message
        for k in range(self.n_scan):
            f = self.scan_fields[k]
            if r.len[f] >= 0:
                self.hs_field(b + r.off[f], r.len[f], f, ctx)

    def _inject_scan_errors(self, int code, long long count):
        """Fault injection for tests: the next `count` hs_scan calls fail with `code`."""
        self.inject_code = code
        self.inject_left = count

    def scan(self, bytes buf, int year, int ref_month=0, Py_ssize_t max_line=65536, int json_max_depth=32,
             long want=-1, double now=0.0):
        """want: bit mask of the fields to build for syslog candidates (see lp_record.pxi); JSON lines are whole."""
        # Checked and set under the GIL, so two threads cannot both pass.
        if self.busy:
            raise LogPipelineError("a Matcher is not thread-safe: scan() called while another scan runs; "
                                   "give each thread its own Matcher")
        self.busy = True
        cdef long long errs0 = self.scan_errors, unscanned0 = self.lines_unscanned
        try:
            cands, stats = self._scan(buf, year, ref_month, max_line, json_max_depth, want, now)
        finally:
            self.busy = False
        stats["scan_errors"] = self.scan_errors - errs0
        stats["lines_unscanned"] = self.lines_unscanned - unscanned0
        return cands, stats

    cdef _scan(self, bytes buf, int year, int ref_month, Py_ssize_t max_line, int json_max_depth,
               long want, double now):
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
        self._init_ctx(&ctx)
        counts[0] = counts[1] = counts[2] = counts[3] = 0
        memset(self.rule_gen, 0, (self.n_rules + 1) * sizeof(int))
        try:
            with nogil:
                while pos < n:
                    nl = <const char*>memchr(b + pos, b'\n', n - pos)
                    e = (nl - b) if nl != NULL else n
                    if e - pos > max_line:
                        cut += 1
                        parse_line(b, pos, pos + max_line, year, ref_month, &rec, self.need_extract)
                    else:
                        parse_line(b, pos, e, year, ref_month, &rec, self.need_extract)
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
                    if self.unscanned(&ctx):
                        continue
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
                    if not self.need_extract:  # deferred until the line is kept
                        extract_fields(b, &rec)
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
            pending = []  # aggregated hits, replayed in line order when JSON lines are mixed in
            i = 0
            while i < nhits:
                k = i
                rules = None  # most lines only feed C thresholds: no list for them
                while k < nhits and hits[k].line == hits[i].line:
                    if self.any_agg and self.agg_on[hits[k].rule]:
                        if njson:
                            pending.append((hits[k].line, hits[k].rule, hits[k].cand))
                        else:
                            self._agg_rec(b, &cands[hits[k].cand], hits[k].rule, now, want)
                    elif rules is None:
                        rules = [hits[k].rule]
                    else:
                        rules.append(hits[k].rule)
                    k += 1
                if rules is not None:
                    out.append((hits[i].line, make_record(b, &cands[hits[i].cand], want), tuple(sorted(rules))))
                i = k
            if njson:
                for line_no, d, rules in self._scan_json(buf, jsonl, njson, max_line, json_max_depth, stats, counts, want,
                                                         pending, now):
                    plain = tuple(r for r in rules if not (self.any_agg and self.agg_on[r]))
                    if plain:
                        out.append((line_no, d, plain))
                    if len(plain) != len(rules):
                        pending.extend((line_no, r, d) for r in rules if self.agg_on[r])
                out.sort(key=_line_of)
                pending.sort(key=_line_rule)
                for line_no, r, what in pending:
                    if type(what) is dict:
                        self._agg_json(<dict>what, r, now)
                    elif type(what) is tuple:
                        self._agg_lazy(buf, <tuple>what, r, json_max_depth)
                    else:
                        self._agg_rec(b, &cands[<Py_ssize_t>what], r, now, want)
            for fmt in range(4):
                stats[FMT_NAMES[fmt]] = counts[fmt]
            stats["candidates"] = len(out)
            return [(c[1], c[2]) for c in out], stats
        finally:
            free(hits)
            free(cands)
            free(jsonl)

    cdef list _scan_json(self, bytes buf, Py_ssize_t* jsonl, Py_ssize_t njson, Py_ssize_t max_line,
                         int json_max_depth, dict stats, Py_ssize_t* counts, long want, list pending, double now):
        """JSON lines: jscan() finds the matched fields' bytes without Python objects; a line
        becomes a record only when a rule needs one (plain matches, or a threshold that fires).
        Lines jscan() is unsure of take the orjson path, with the same results."""
        cdef const char* b = buf
        cdef Py_ssize_t j, s, e, n = len(buf)
        cdef const char* nl
        cdef LineRec rec
        cdef ScanCtx ctx
        cdef JLine jl
        cdef int k, f
        cdef bint lazy
        cdef double ts
        cdef bytes v
        cdef list out = []
        cdef list keys
        cdef char* scratch = <char*>malloc(max_line + 16)
        if scratch == NULL:
            raise MemoryError()
        self._init_ctx(&ctx)
        jl.b = b
        jl.scratch = scratch
        try:
            for j in range(njson):
                s = jsonl[2 * j + 1]
                nl = <const char*>memchr(b + s, b'\n', n - s)
                e = (nl - b) if nl != NULL else n
                if e - s > max_line:
                    e = s + max_line
                if e > s and b[e - 1] == b'\r':
                    e -= 1
                ctx.gen = -1 - <int>j
                ctx.nfired = 0
                jl.s = s
                jl.e = e
                if jscan(b, s, e, json_max_depth, jl.vals) == JS_OK and self._jmatch(&jl, &ctx) == 0:
                    counts[FMT_JSON] += 1
                    if self.unscanned(&ctx):
                        continue
                    if not (ctx.nfired or self.n_always):
                        continue
                    lazy = self.n_always == 0 and self.any_agg
                    for k in range(ctx.nfired):
                        if not self.agg_on[ctx.fired[k]]:
                            lazy = False
                    if lazy:
                        # only thresholds counted in C: the group key and event time come from
                        # the scanned bytes; the record is built only if the threshold fires
                        ts = now
                        if jl_time(&jl, &ts) >= 0:
                            keys = []
                            for k in range(ctx.nfired):
                                key = self._key_jl(&jl, ctx.fired[k])
                                if key is None:
                                    lazy = False
                                    break
                                keys.append(key)
                            if lazy:
                                for k in range(ctx.nfired):
                                    pending.append((jsonl[2 * j], ctx.fired[k], (keys[k], ts, s, e)))
                                continue
                    rules = [ctx.fired[k] for k in range(ctx.nfired)]
                    rules.extend(self.always[k] for k in range(self.n_always))
                    d, err = json_record(buf[s:e], json_max_depth)
                    out.append((jsonl[2 * j], d, tuple(sorted(rules))))
                    continue
                # jscan() was unsure, or a value's Python text needs orjson: the old path
                ctx.nfired = 0
                reset(&rec, s, e)
                rec.facility = -1
                rec.severity = -1
                d = resolve_json(buf, &rec, json_max_depth, stats)
                if d is None:
                    counts[FMT_RAW] += 1
                    self.scan_rec(b, &rec, &ctx)
                    if self.unscanned(&ctx):
                        continue
                    if ctx.nfired or self.n_always:
                        d = make_record(b, &rec, want)
                else:
                    counts[FMT_JSON] += 1
                    if self.db != NULL:
                        ctx.alive2 = 0
                        ctx.err = 0
                        if self.scan_msg:
                            v = scan_value((<dict>d).get("message"))
                            if v is not None:
                                self.hs_field(v, len(v), F_MESSAGE, &ctx)
                        if self.always2 or ctx.alive2:
                            for k in range(self.n_scan):
                                f = self.scan_fields[k]
                                v = scan_value((<dict>d).get(FIELD_NAMES[f]))
                                if v is not None:
                                    self.hs_field(v, len(v), f, &ctx)
                        if self.unscanned(&ctx):
                            continue
                if ctx.nfired or self.n_always:
                    rules = [ctx.fired[k] for k in range(ctx.nfired)]
                    rules.extend(self.always[k] for k in range(self.n_always))
                    out.append((jsonl[2 * j], d, tuple(sorted(rules))))
        finally:
            free(scratch)
        return out

    cdef int _jmatch(self, JLine* jl, ScanCtx* ctx) noexcept nogil:
        """Scan a jscan()ned line's fields as scan_rec does; -1 when a value needs orjson."""
        cdef int k, f
        cdef const char* p
        cdef Py_ssize_t ln
        jl.msg_state = -2
        jl.extracted = 0
        ctx.nfired = 0
        ctx.alive2 = 0
        ctx.err = 0
        # resolve first: a line that must go to orjson must not have counted any match yet
        for f in range(NFIELDS):
            if self.used_f[f] and jl_field(jl, f, &p, &ln) < 0:
                return -1
        if self.db == NULL:
            return 0
        if self.scan_msg and jl_field(jl, F_MESSAGE, &p, &ln) > 0:
            self.hs_field(p, ln, F_MESSAGE, ctx)
        if not (self.always2 or ctx.alive2):
            return 0
        for k in range(self.n_scan):
            f = self.scan_fields[k]
            if jl_field(jl, f, &p, &ln) > 0:
                self.hs_field(p, ln, f, ctx)
        return 0

    cdef object _key_jl(self, JLine* jl, int rule):
        """_key_json's bytes from a jscan()ned line, or None when a value needs orjson."""
        cdef int k, got
        cdef const char* p
        cdef Py_ssize_t ln
        parts = [(<unsigned int>rule).to_bytes(4, "little")]
        for k in range(self.agg_nf[rule]):
            got = jl_field(jl, self.agg_fields[rule * NFIELDS + k], &p, &ln)
            if got < 0:
                return None
            if got == 0:
                parts.append(b"\xff\xff\xff\xff")
            else:
                parts.append((<unsigned int>ln).to_bytes(4, "little"))
                parts.append(PyBytes_FromStringAndSize(p, ln))
        return b"".join(parts)


def _line_of(c):
    return c[0]


def _line_rule(c):
    return c[0], c[1]


def json_scan_ok(bytes line, int max_depth=32):
    """Whether the C scanner takes this JSON line itself (True) or leaves it to orjson; for tests."""
    cdef JVal vals[19]
    return jscan(line, 0, len(line), max_depth, vals) == JS_OK
