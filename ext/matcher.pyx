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

Rules whose `extract:` patterns yield only src_ip and user can have them applied here too
(set_extract): PCRE2, byte semantics like the twin's `re.ASCII`, on the candidate lines of that
rule only, so a threshold keyed by the rule's own address stays in C. An address is kept in C
only when it is already in the canonical form the twin would print (else, and on a PCRE2 error,
the line goes to Python for that rule, which feeds the same counters through agg_record()).

Threads: one Matcher is not thread-safe. Its Hyperscan scratch and its per-rule match counters
are shared by every scan and used without the GIL, so two threads scanning at once would
corrupt each other's results. scan() refuses that: a second concurrent call raises
LogPipelineError instead of scanning. Give each thread its own Matcher (compile_rules) if a
pipeline ever scans in parallel.
"""

from libc.stdlib cimport realloc, calloc, free, malloc, qsort
from libc.string cimport strlen
from libc.stdio cimport snprintf
from libc.string cimport memset, memmove, memcpy, memcmp
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem, PyDict_DelItem
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_FromStringAndSize, PyByteArray_GET_SIZE
from lp_parse cimport *
from ironpost.core.errors import LogPipelineError

cdef extern from *:
    """
    #define PCRE2_CODE_UNIT_WIDTH 8
    #include <pcre2.h>
    """
    ctypedef struct pcre2_code:
        pass
    ctypedef struct pcre2_match_data:
        pass
    ctypedef size_t PCRE2_SIZE
    ctypedef const unsigned char* PCRE2_SPTR
    pcre2_code* pcre2_compile(PCRE2_SPTR pattern, PCRE2_SIZE length, unsigned int options, int* errorcode,
                              PCRE2_SIZE* erroroffset, void* ccontext) nogil
    int pcre2_jit_compile(pcre2_code* code, unsigned int options) nogil
    pcre2_match_data* pcre2_match_data_create_from_pattern(const pcre2_code* code, void* gcontext) nogil
    int pcre2_match(const pcre2_code* code, PCRE2_SPTR subject, PCRE2_SIZE length, PCRE2_SIZE startoffset,
                    unsigned int options, pcre2_match_data* md, void* mcontext) nogil
    PCRE2_SIZE* pcre2_get_ovector_pointer(pcre2_match_data* md) nogil
    int pcre2_substring_number_from_name(const pcre2_code* code, PCRE2_SPTR name) nogil
    void pcre2_code_free(pcre2_code* code) nogil
    void pcre2_match_data_free(pcre2_match_data* md) nogil
    int pcre2_get_error_message(int errorcode, unsigned char* buffer, PCRE2_SIZE bufflen) nogil
    unsigned int PCRE2_JIT_COMPLETE
    PCRE2_SIZE PCRE2_UNSET
    int PCRE2_ERROR_NOMATCH

cdef extern from "arpa/inet.h" nogil:
    const char* inet_ntop(int af, const void* src, char* dst, unsigned int size)

cdef enum:
    F_SRC_HOST = 9  # a group field beyond the parsed ones: the DNS name an extract pattern found

ctypedef struct Extractor:
    pcre2_code* code
    pcre2_match_data* md
    int field
    int g_src   # capture group number of src_ip, or -1
    int g_user  # of user, or -1

include "lp_line.pxi"
include "lp_web.pxi"
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


cdef enum:
    MEMO_SLOTS = 256    # power of two
    MEMO_BYTES = 48
    MEMO_IDS = 8


ctypedef struct FieldMemo:
    # what one short field's scan reported: process names, tags and hosts repeat on nearly every
    # line, so their second Hyperscan call (after the message) is answered from here
    int field
    int len
    int nids        # -1: more ids than fit (that content is scanned every time)
    bint valid
    unsigned int ids[MEMO_IDS]
    char data[MEMO_BYTES]


ctypedef struct ScanCtx:
    FieldMemo* rec  # while a field's scan is being remembered: where its ids go
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
    if c.rec != NULL:
        if 0 <= c.rec.nids < MEMO_IDS:
            c.rec.ids[c.rec.nids] = id
            c.rec.nids += 1
        else:
            c.rec.nids = -1
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
    char* key       # the group key (rule, then each group field's length and bytes) when longer
    Py_ssize_t klen # than KEY_INLINE, owned; shorter keys live in kin, in the same cache lines
    unsigned long long hash
    char kin[40]


cdef enum:
    KEY_INLINE = 40  # sizeof(Group.kin): an address and a rule id fit

# State idle this long past its window (or its session's ttl) is swept: as MemoryState.GRACE and
# buckets.sessions.GRACE, so a late line still finds it. Event time drives the sweep only up to
# AHEAD past the caller's wall clock (scan's now), so one forged future timestamp cannot sweep
# live state away (buckets.sessions.AHEAD).
cdef double GRACE = 3600.0
cdef double AHEAD = 300.0
SWEEP_GRACE, SWEEP_AHEAD = GRACE, AHEAD  # for the test that keeps them equal to the Python ones


cdef inline const char* group_key(Group* g) noexcept nogil:
    if g.klen <= KEY_INLINE:
        return &g.kin[0]
    return g.key


ctypedef struct HEnt:
    unsigned long long hash  # kept beside the slot: a probe compares it without touching the group
    Py_ssize_t slot1         # group slot + 1; 0 = empty


cdef inline unsigned long long key_hash(const char* p, Py_ssize_t n) noexcept nogil:
    cdef unsigned long long h = 1469598103934665603ULL
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ <unsigned char>p[i]) * 1099511628211ULL
    return h ^ (h >> 29)


cdef int cmp_touch(const void* a, const void* b) noexcept nogil:
    cdef long long x = (<long long*>a)[0], y = (<long long*>b)[0]
    return (x > y) - (x < y)


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
    # one database per field that patterns target: the message is not scanned for the process
    # name's patterns (and so on), and a small field's scan costs what its few patterns cost
    cdef hs_database_t* fdb[9]
    cdef bint has_db
    cdef hs_scratch_t* scratch
    cdef FieldMemo* memo    # scan results of short non-message fields (process, tag, ...), by content
    # or_missing patterns: they hold when the line has no such field (ids per field, flat)
    cdef int* miss_ids
    cdef int miss_off[10]
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
    # group key -> slot, open addressing with linear probing over slot + 1 (0: empty); a dict
    # of bytes keys cost a key object, a hash and a dict probe per counted line
    cdef HEnt* htab
    cdef Py_ssize_t hmask
    cdef Py_ssize_t nlive
    cdef list free_slots
    cdef char* kbuf         # the key of the line being counted
    cdef Py_ssize_t kcap
    cdef list fired_out
    cdef Py_ssize_t max_groups
    cdef readonly long long evictions
    cdef readonly long long expired   # groups, session entries and distinct marks swept (GRACE)
    cdef double state_now   # newest event time seen, at most horizon: what the sweeps measure by
    cdef double horizon     # scan's now + ahead
    cdef public double ahead  # AHEAD; infinite for a finished log replayed offline (Pipeline replay)
    cdef Py_ssize_t sweep_at  # live groups at which the next sweep of the group table runs
    cdef long long swept_touch  # the touch counter at the last sweep
    cdef double dist_window   # the longest window of a rule counting distinct values
    cdef bint any_agg
    cdef bint need_extract  # some pattern scans src_ip/user/rhost: extract on every line
    cdef bint used_f[9]     # fields some pattern targets
    cdef bint busy          # a scan is running (it releases the GIL): a second one must not share state
    cdef int inject_code    # fault injection for tests: the next inject_left scans "return" this code
    cdef long long inject_left
    cdef readonly long long scan_errors
    cdef readonly long long lines_unscanned
    cdef readonly int last_scan_error
    cdef Extractor* ext
    cdef int n_ext, cap_ext
    cdef int* ext_first     # per rule: index of its first extractor, and how many
    cdef int* ext_n
    cdef char* ext_decl     # per rule: bit 1 src_ip, bit 2 user declared by its patterns
    cdef readonly long long extract_errors
    cdef int* agg_dist       # per rule: 1 + the field whose distinct values it counts, 0 for events
    cdef object dmarks       # OrderedDict: group key + value -> last time seen (MemoryState.mark_once)
    cdef int* ext_owner      # per rule: the rule whose identical patterns it shares (itself if first)
    cdef dict ext_specs
    cdef long long scan_gen  # per-line cache of each owner's extraction result, valid within one scan
    cdef long long* c_gen
    cdef Py_ssize_t* c_pos
    cdef int* c_res
    cdef Py_ssize_t* c_soff
    cdef Py_ssize_t* c_slen
    cdef Py_ssize_t* c_uoff
    cdef Py_ssize_t* c_ulen
    cdef char* sess_on       # per rule: its matches are remembered in the pipeline's session table
    cdef int* sess_key       # per rule: up to 4 key fields (text field id, or -1 for the pid)
    cdef int* sess_nkey
    cdef dict sess_mem       # session key bytes -> bytearray
                             # (8-byte last touch time, then packed (rule, ts, src_ip, user) entries) not yet taken by Python
    # the sweep's order: a ring of owned references to the keys, oldest first (a key taken by the
    # session table since is skipped there); a deque's method calls cost 2.8k instructions a look
    cdef PyObject** ring
    cdef Py_ssize_t ring_head, ring_len, ring_cap
    cdef double sess_ttl     # the longest ttl of the session rules
    cdef set sess_watch      # session keys whose session waits for an address: their lines go to Python
    cdef Py_ssize_t sess_cap
    cdef readonly long long sess_evicted
    cdef readonly long long extract_fallbacks


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
        ctx.rec = NULL
    def __cinit__(self):
        cdef int f
        for f in range(NFIELDS):
            self.fdb[f] = NULL
        self.has_db = False
        self.memo = NULL
        self.miss_ids = NULL
        for f in range(10):
            self.miss_off[f] = 0
        self.busy = False
        self.inject_left = 0
        self.scratch = NULL
        self.groups = NULL
        self.htab = NULL
        self.kbuf = NULL
        self.agg_on = NULL
        self.ext = NULL
        self.ext_first = NULL
        self.ext_n = NULL
        self.ext_decl = NULL
        self.sess_on = NULL
        self.sess_key = NULL
        self.sess_nkey = NULL
        self.sess_mem = None
        self.ring = NULL
        self.ring_head = self.ring_len = self.ring_cap = 0
        self.sess_ttl = 0.0
        self.state_now = -1e300
        self.horizon = -1e300
        self.sweep_at = 4096
        self.swept_touch = 0
        self.ahead = AHEAD
        self.dist_window = 0.0
        self.sess_watch = set()
        self.sess_cap = 100_000
        self.n_ext = 0
        self.cap_ext = 0

    def __init__(self, list patterns, int n_rules, always=()):
        cdef Py_ssize_t i, n = len(patterns)
        cdef const char** exprs
        cdef unsigned int* flags
        cdef unsigned int* ids
        cdef hs_compile_error_t* err = NULL
        cdef int f, k
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
        self.ext_first = <int*>calloc(n_rules + 1, sizeof(int))
        self.ext_n = <int*>calloc(n_rules + 1, sizeof(int))
        self.ext_decl = <char*>calloc(n_rules + 1, 1)
        self.agg_dist = <int*>calloc(n_rules + 1, sizeof(int))
        if self.agg_dist == NULL:
            raise MemoryError()
        self.dmarks = None
        self.ext_owner = <int*>calloc(n_rules + 1, sizeof(int))
        self.c_gen = <long long*>calloc(n_rules + 1, sizeof(long long))
        self.c_pos = <Py_ssize_t*>calloc(n_rules + 1, sizeof(Py_ssize_t))
        self.c_res = <int*>calloc(n_rules + 1, sizeof(int))
        self.c_soff = <Py_ssize_t*>calloc(n_rules + 1, sizeof(Py_ssize_t))
        self.c_slen = <Py_ssize_t*>calloc(n_rules + 1, sizeof(Py_ssize_t))
        self.c_uoff = <Py_ssize_t*>calloc(n_rules + 1, sizeof(Py_ssize_t))
        self.c_ulen = <Py_ssize_t*>calloc(n_rules + 1, sizeof(Py_ssize_t))
        if (self.ext_owner == NULL or self.c_gen == NULL or self.c_pos == NULL or self.c_res == NULL
                or self.c_soff == NULL or self.c_slen == NULL or self.c_uoff == NULL or self.c_ulen == NULL):
            raise MemoryError()
        self.ext_specs = {}
        self.scan_gen = 1
        self.sess_on = <char*>calloc(n_rules + 1, 1)
        self.sess_key = <int*>calloc((n_rules + 1) * 4, sizeof(int))
        self.sess_nkey = <int*>calloc(n_rules + 1, sizeof(int))
        if (self.ext_first == NULL or self.ext_n == NULL or self.ext_decl == NULL or self.sess_on == NULL
                or self.sess_key == NULL or self.sess_nkey == NULL):
            raise MemoryError()
        self.htab = NULL
        self.hmask = -1
        self.nlive = 0
        self.kcap = 512
        self.kbuf = <char*>malloc(self.kcap)
        if self.kbuf == NULL:
            raise MemoryError()
        self.free_slots = []
        self.fired_out = []
        self.max_groups = 100_000
        for f in range(NFIELDS):
            used[f] = False
        self.miss_ids = <int*>calloc(n + 1, sizeof(int))
        if self.miss_ids == NULL:
            raise MemoryError()
        k = 0
        for f in range(NFIELDS):  # or_missing pattern ids grouped by field: miss_ids[miss_off[f]:miss_off[f+1]]
            self.miss_off[f] = k
            for i in range(n):
                if patterns[i][2] == f and len(patterns[i]) > 4 and patterns[i][4]:
                    self.miss_ids[k] = i
                    k += 1
        self.miss_off[NFIELDS] = k
        for i in range(n):
            expr, caseless, field, rule = patterns[i][:4]
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
            for f in range(NFIELDS):
                if not used[f]:
                    continue
                k = 0
                for i in range(n):
                    if patterns[i][2] != f:
                        continue
                    exprs[k] = <bytes>patterns[i][0]
                    flags[k] = HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY | (HS_FLAG_CASELESS if patterns[i][1] else 0)
                    ids[k] = i  # reported ids are the global pattern indexes on_match knows
                    k += 1
                if hs_compile_multi(exprs, flags, ids, k, HS_MODE_BLOCK, NULL, &self.fdb[f], &err) != HS_SUCCESS:
                    if err != NULL:
                        index = ids[err.expression] if 0 <= err.expression < k else -1
                        msg = err.message.decode("utf-8", "replace")
                        hs_free_compile_error(err)
                        raise ValueError(index, msg)
                    raise ValueError(-1, "hyperscan compile failed")
                # one scratch serves every database it was allocated (grown) for
                if hs_alloc_scratch(self.fdb[f], &self.scratch) != HS_SUCCESS:
                    raise MemoryError("hyperscan scratch")
                self.has_db = True
            if self.n_scan:
                self.memo = <FieldMemo*>calloc(MEMO_SLOTS, sizeof(FieldMemo))
                if self.memo == NULL:
                    raise MemoryError()
        finally:
            free(exprs)
            free(flags)
            free(ids)

    def __dealloc__(self):
        if self.scratch != NULL:
            hs_free_scratch(self.scratch)
        while self.ring_len:
            Py_XDECREF(self.ring[self.ring_head])
            self.ring_head = (self.ring_head + 1) % self.ring_cap
            self.ring_len -= 1
        free(self.ring)
        cdef int fd
        for fd in range(NFIELDS):
            if self.fdb[fd] != NULL:
                hs_free_database(self.fdb[fd])
        free(self.memo)
        free(self.miss_ids)
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
                free(self.groups[g].key)
            free(self.groups)
        free(self.htab)
        free(self.kbuf)
        cdef int x
        if self.ext != NULL:
            for x in range(self.n_ext):
                pcre2_match_data_free(self.ext[x].md)
                pcre2_code_free(self.ext[x].code)
            free(self.ext)
        free(self.ext_first)
        free(self.ext_n)
        free(self.ext_decl)
        free(self.sess_on)
        free(self.ext_owner)
        free(self.agg_dist)
        free(self.c_gen)
        free(self.c_pos)
        free(self.c_res)
        free(self.c_soff)
        free(self.c_slen)
        free(self.c_uoff)
        free(self.c_ulen)
        free(self.sess_key)
        free(self.sess_nkey)
        if self.agg_on != NULL:
            free(self.agg_on)
            free(self.agg_count)
            free(self.agg_nf)
            free(self.agg_fields)
            free(self.agg_window)
            free(self.agg_dedup)
            free(self.agg_matches)
            free(self.agg_deduped)

    def aggregate(self, int rule, int count, double window, double dedup, tuple fields, Py_ssize_t max_groups=100_000,
                  int distinct=-1):
        """Count this rule's matches per group (text field ids) over event time in C, with the
        semantics of buckets.ThresholdEngine + MemoryState; only firing lines reach Python,
        through take_fired(). distinct: a text field id whose distinct values are counted."""
        cdef int k
        if distinct >= NFIELDS:
            raise ValueError(rule, "bad distinct field")
        self.agg_dist[rule] = distinct + 1
        if distinct >= 0 and window > self.dist_window:
            self.dist_window = window
        if distinct >= 0 and self.dmarks is None:
            from collections import OrderedDict
            self.dmarks = OrderedDict()
        if not 0 <= rule < self.n_rules or len(fields) > NFIELDS or count < 1:
            raise ValueError(rule, "bad aggregate spec")
        self.agg_on[rule] = 1
        self.agg_count[rule] = count
        self.agg_window[rule] = window
        self.agg_dedup[rule] = dedup
        self.agg_nf[rule] = len(fields)
        for k in range(len(fields)):
            if not 0 <= fields[k] <= F_SRC_HOST:
                raise ValueError(rule, "bad group field")
            self.agg_fields[rule * NFIELDS + k] = fields[k]
        self.max_groups = max_groups
        self.any_agg = True

    def set_extract(self, int rule, list specs):
        """The rule's extract patterns, in order: [(field_id, pattern bytes)]; their named groups
        must be among src_ip and user. Applied to the rule's candidate lines before its C threshold."""
        cdef int errcode = 0, k, g
        cdef PCRE2_SIZE erroff = 0
        cdef pcre2_code* code
        cdef Extractor* ne
        cdef unsigned char msg[256]
        if not 0 <= rule < self.n_rules or self.ext_n[rule]:
            raise ValueError(rule, "bad or repeated extract spec")
        spec_key = tuple((int(f), bytes(p)) for f, p in specs)
        owner = self.ext_specs.get(spec_key)
        if owner is not None:
            self.ext_owner[rule] = owner
            self.ext_first[rule] = self.ext_first[owner]
            self.ext_n[rule] = self.ext_n[owner]
            self.ext_decl[rule] = self.ext_decl[owner]
            return
        self.ext_specs[spec_key] = rule
        self.ext_owner[rule] = rule
        self.ext_first[rule] = self.n_ext
        for field, pat in specs:
            if not 0 <= field < NFIELDS:
                raise ValueError(rule, f"field {field} out of range")
            code = pcre2_compile(<PCRE2_SPTR><const char*>pat, len(pat), 0, &errcode, &erroff, NULL)
            if code == NULL:
                pcre2_get_error_message(errcode, msg, sizeof(msg))
                raise ValueError(rule, f"extract pattern rejected at {erroff}: {(<char*>msg).decode()}")
            pcre2_jit_compile(code, PCRE2_JIT_COMPLETE)  # falls back to the interpreter where JIT is missing
            if self.n_ext == self.cap_ext:
                self.cap_ext = self.cap_ext * 2 + 8
                ne = <Extractor*>realloc(self.ext, self.cap_ext * sizeof(Extractor))
                if ne == NULL:
                    pcre2_code_free(code)
                    raise MemoryError()
                self.ext = ne
            k = self.n_ext
            self.ext[k].code = code
            self.ext[k].md = pcre2_match_data_create_from_pattern(code, NULL)
            self.ext[k].field = field
            g = pcre2_substring_number_from_name(code, <PCRE2_SPTR><const char*>b"src_ip")
            self.ext[k].g_src = g if g > 0 else -1
            g = pcre2_substring_number_from_name(code, <PCRE2_SPTR><const char*>b"user")
            self.ext[k].g_user = g if g > 0 else -1
            self.n_ext += 1
            self.ext_n[rule] += 1
            if self.ext[k].md == NULL:
                raise MemoryError()
            if self.ext[k].g_src > 0:
                self.ext_decl[rule] |= 1
            if self.ext[k].g_user > 0:
                self.ext_decl[rule] |= 2

    cdef int _extract(self, const char* b, LineRec* r, int rule) noexcept nogil:
        """Apply the rule's extractors to r (as Rule.apply_extract does): 0 done, 1 the twin's
        result would differ from what C can express here (the line goes to Python), -1 PCRE2 error.
        Rules with the same patterns share one result per line (fast and slow variants)."""
        cdef int k, x, rc, o = self.ext_owner[rule]
        cdef bint got_src = False, got_user = False
        cdef PCRE2_SIZE* ov
        cdef Extractor* e
        cdef Py_ssize_t s = 0, n = -1, us = 0, un = -1
        cdef int res = 0
        if self.c_gen[o] == self.scan_gen and self.c_pos[o] == r.off[F_RAW]:
            res = self.c_res[o]
            s, n, us, un = self.c_soff[o], self.c_slen[o], self.c_uoff[o], self.c_ulen[o]
            got_src = n >= 0
            got_user = un >= 0
        else:
            for k in range(self.ext_n[rule]):
                x = self.ext_first[rule] + k
                e = &self.ext[x]
                if r.len[e.field] < 0:
                    continue
                rc = pcre2_match(e.code, <PCRE2_SPTR>(b + r.off[e.field]), <PCRE2_SIZE>r.len[e.field], 0, 0, e.md, NULL)
                if rc == PCRE2_ERROR_NOMATCH:
                    continue
                if rc < 0:
                    self.extract_errors += 1
                    res = -1
                    break
                ov = pcre2_get_ovector_pointer(e.md)
                if not got_src and e.g_src > 0 and e.g_src < rc and ov[2 * e.g_src] != PCRE2_UNSET:
                    s = r.off[e.field] + <Py_ssize_t>ov[2 * e.g_src]
                    n = <Py_ssize_t>(ov[2 * e.g_src + 1] - ov[2 * e.g_src])
                    got_src = True
                if not got_user and e.g_user > 0 and e.g_user < rc and ov[2 * e.g_user] != PCRE2_UNSET:
                    us = r.off[e.field] + <Py_ssize_t>ov[2 * e.g_user]
                    un = <Py_ssize_t>(ov[2 * e.g_user + 1] - ov[2 * e.g_user])
                    got_user = True
            if res == 0 and got_src and canonical_address(b, &s, &n) == 0:
                res = 1
            self.c_gen[o] = self.scan_gen
            self.c_pos[o] = r.off[F_RAW]
            self.c_res[o] = res
            self.c_soff[o], self.c_slen[o], self.c_uoff[o], self.c_ulen[o] = s, (n if got_src else -1), us, (un if got_user else -1)
        if res != 0:
            return res
        if self.ext_decl[rule] & 1:
            r.port = -1  # the built-in port belonged to the built-in guess of the address
            r.off[F_SRC_IP] = s
            r.len[F_SRC_IP] = n if got_src else -1
        if self.ext_decl[rule] & 2:
            r.off[F_USER] = us
            r.len[F_USER] = un if got_user else -1
        return 0

    def set_session(self, int rule, tuple key, Py_ssize_t max_sessions=100_000, double ttl=600.0):
        """Remember this rule's C-counted matches per session (key: text field ids, -1 = pid) for
        the pipeline's session table, which takes them (session_take) when a line of that session
        reaches Python. A session it watches (session_watch) sends its lines to Python instead."""
        cdef int k
        if not 0 <= rule < self.n_rules or not 0 < len(key) <= 4:
            raise ValueError(rule, "bad session spec")
        for k in range(len(key)):
            if not -1 <= key[k] < NFIELDS:
                raise ValueError(rule, "bad session key field")
            self.sess_key[rule * 4 + k] = key[k]
        self.sess_nkey[rule] = len(key)
        self.sess_on[rule] = 1
        self.sess_cap = max_sessions
        if ttl > self.sess_ttl:
            self.sess_ttl = ttl
        if self.sess_mem is None:
            self.sess_mem = {}

    def session_take(self, bytes key):
        """The matches remembered for this session key since the last take, oldest first:
        [(rule, src_ip, user, ts)] (they are kept packed in bytes, which the collector ignores)."""
        if self.sess_mem is None:
            return None
        blob = self.sess_mem.pop(key, None)
        if blob is None:
            return None
        return unpack_entries(PyByteArray_AS_STRING(blob) + 8, PyByteArray_GET_SIZE(blob) - 8)

    def session_watch(self, bytes key, bint on):
        if on:
            self.sess_watch.add(key)
        else:
            self.sess_watch.discard(key)

    cdef bint _remember(self, const char* b, LineRec* r, int rule, double ts) except -1:
        """True when the session waits for an address (the line must go to Python); else the
        match is remembered for the session table to take later. Key and entries are packed in
        C buffers: a tuple per line kept the garbage collector busy with 100k sessions."""
        cdef int k, f, nn
        cdef char kbuf[1024]
        cdef char ebuf[600]
        cdef Py_ssize_t ko = 0, eo, n
        cdef unsigned int ln
        cdef const char* p
        for k in range(self.sess_nkey[rule]):
            f = self.sess_key[rule * 4 + k]
            if f < 0:
                if r.pid < 0:
                    if k == self.sess_nkey[rule] - 1:
                        return False  # no connection id: nothing to correlate (as SessionTable.observe)
                    n = -1
                else:
                    nn = snprintf(kbuf + ko + 4, 24, "%d", r.pid)
                    n = nn
                    p = NULL
            elif r.len[f] < 0:
                if k == self.sess_nkey[rule] - 1:
                    return False
                n = -1
            else:
                n = r.len[f]
                p = b + r.off[f]
                if ko + 4 + n > <Py_ssize_t>sizeof(kbuf):
                    return True  # an absurdly long key: let Python handle the line
                if n:
                    memcpy(kbuf + ko + 4, p, n)
            ln = 0xFFFFFFFF if n < 0 else <unsigned int>n
            memcpy(kbuf + ko, &ln, 4)
            ko += 4 + (n if n > 0 else 0)
        key = PyBytes_FromStringAndSize(kbuf, ko)
        if key in self.sess_watch:
            return True
        # entry: rule (4), ts (8), src_ip and user as (4-byte length or 0xffffffff, bytes), each at most 255
        eo = 0
        memcpy(ebuf, &rule, 4)
        memcpy(ebuf + 4, &ts, 8)
        eo = 12
        for f in (F_SRC_IP, F_USER):
            n = r.len[f]
            if n > 255:
                return True
            ln = 0xFFFFFFFF if n < 0 else <unsigned int>n
            memcpy(ebuf + eo, &ln, 4)
            eo += 4
            if n > 0:
                memcpy(ebuf + eo, b + r.off[f], n)
                eo += n
        self._advance(ts)
        blob = self.sess_mem.get(key)
        if blob is None:
            blob = PyByteArray_FromStringAndSize(NULL, 8 + eo)
            memcpy(PyByteArray_AS_STRING(blob), &ts, 8)
            memcpy(PyByteArray_AS_STRING(blob) + 8, ebuf, eo)
            self.sess_mem[key] = blob
            self._ring_push(key)
            while len(self.sess_mem) > self.sess_cap and self.ring_len:
                old = self._ring_pop()
                if PyDict_GetItem(self.sess_mem, old) != NULL:
                    PyDict_DelItem(self.sess_mem, old)
                    self.sess_evicted += 1
            self._sweep_sessions()
            return False
        p = PyByteArray_AS_STRING(blob)
        n = PyByteArray_GET_SIZE(blob)
        if not has_entry(p + 8, n - 8, ebuf, eo) and count_entries(p + 8, n - 8) < 16:
            blob += PyByteArray_FromStringAndSize(ebuf, eo)
            p = PyByteArray_AS_STRING(blob)
        # (an entry already there, the same rule, address and user again in a burst, teaches the
        # table nothing new; it still counts as activity of the session)
        if ts > (<double*>p)[0]:
            memcpy(<char*>p, &ts, 8)
        return False

    cdef inline void _advance(self, double ts) noexcept:
        if ts > self.horizon:
            ts = self.horizon
        if ts > self.state_now:
            self.state_now = ts

    cdef int _sweep_sessions(self) except -1:
        """Look at four sessions from the oldest end per new session: one idle past sess_ttl + GRACE
        goes (buckets.sessions.SessionTable._sweep; nearly every sshd connection has a pid of its
        own and never comes back), one touched since goes to the back. Touching a session only
        writes its time, so the order is fixed up here, not on every line; four looks per new
        session keep the table within 4/3 of the live sessions (two let it grow to twice)."""
        cdef double cut = self.state_now - self.sess_ttl - GRACE
        cdef double last
        cdef PyObject* blob
        for _ in range(4):
            if not self.ring_len:
                return 0
            key = self._ring_pop()
            blob = PyDict_GetItem(self.sess_mem, key)
            if blob == NULL:
                continue  # taken by the session table since
            memcpy(&last, PyByteArray_AS_STRING(<object>blob), 8)
            if last >= cut:
                self._ring_push(key)
            else:
                PyDict_DelItem(self.sess_mem, key)
                self.expired += 1
        return 0

    cdef int _ring_push(self, object key) except -1:
        cdef PyObject** nr
        cdef Py_ssize_t i
        if self.ring_len == self.ring_cap:
            nr = <PyObject**>malloc((self.ring_cap * 2 + 1024) * sizeof(PyObject*))
            if nr == NULL:
                raise MemoryError()
            for i in range(self.ring_len):
                nr[i] = self.ring[(self.ring_head + i) % self.ring_cap]
            free(self.ring)
            self.ring, self.ring_head, self.ring_cap = nr, 0, self.ring_cap * 2 + 1024
        Py_INCREF(key)
        self.ring[(self.ring_head + self.ring_len) % self.ring_cap] = <PyObject*>key
        self.ring_len += 1
        return 0

    cdef object _ring_pop(self):
        """The oldest key (the ring's reference passes to the caller)."""
        cdef PyObject* k = self.ring[self.ring_head]
        self.ring_head = (self.ring_head + 1) % self.ring_cap
        self.ring_len -= 1
        out = <object>k  # a new reference for the caller ...
        Py_XDECREF(k)    # ... and the ring's own is let go
        return out

    def agg_record(self, int rule, dict rec, double ts):
        """Count one match the Python path handled (a fallback line) in this rule's C state:
        (count, first_seen) when it fires, else None."""
        cdef int count = 0
        cdef double first = 0
        if not self.agg_on[rule]:
            raise ValueError(rule, "not an aggregated rule")
        key = self._key_json(rec, rule)
        if not self._dist_ok(key, rec, rule, ts):
            return None
        if self._hit(<const char*>key, len(key), rule, ts, &count, &first):
            return count, first
        return None

    def take_fired(self):
        """[(record, rule, count, first_seen, ts)] fired since the last call, in event order."""
        out, self.fired_out = self.fired_out, []
        return out

    def agg_metrics(self):
        cdef Py_ssize_t g, held = self.capgroups * sizeof(Group) + (self.hmask + 1) * sizeof(HEnt)
        for g in range(self.ngroups):
            held += self.groups[g].cap * sizeof(double) + (self.groups[g].klen if self.groups[g].key != NULL else 0)
            # (keys of up to KEY_INLINE bytes are inside the Group, counted with the array)
        return {"groups": self.nlive, "evictions": self.evictions, "expired": self.expired, "bytes": held,
                "sessions": len(self.sess_mem) if self.sess_mem is not None else 0,
                "distinct_marks": len(self.dmarks) if self.dmarks is not None else 0,
                "matches": {r: self.agg_matches[r] for r in range(self.n_rules) if self.agg_on[r]},
                "deduped": {r: self.agg_deduped[r] for r in range(self.n_rules) if self.agg_on[r]}}

    cdef int _evict(self) except -1:
        """Full: drop the least recently used tenth of the groups (counted)."""
        cdef Py_ssize_t slot, k = max(1, self.nlive // 10), n = 0
        cdef long long cutoff
        cdef long long* touches = <long long*>malloc(self.nlive * sizeof(long long) + 8)
        if touches == NULL:
            raise MemoryError()
        for slot in range(self.ngroups):
            if self.groups[slot].used:
                touches[n] = self.groups[slot].touch
                n += 1
        qsort(touches, n, sizeof(long long), cmp_touch)
        cutoff = touches[k - 1]  # touches are unique (one counter): exactly k groups are at or below
        free(touches)
        for slot in range(self.ngroups):
            if self.groups[slot].used and self.groups[slot].touch <= cutoff:
                self._drop_group(slot)
                self.evictions += 1
        return 0

    cdef int _drop_group(self, Py_ssize_t slot) except -1:
        cdef Group* g = &self.groups[slot]
        self._unindex(slot)
        g.n = 0
        g.off = 0
        g.has_mark = 0
        g.used = 0
        free(g.key)
        g.key = NULL
        if g.cap > 64:
            free(g.buf)  # a burst's long window goes back; a small one is kept for the slot's reuse
            g.buf = NULL
            g.cap = 0
        self.free_slots.append(slot)
        return 0

    cdef int _sweep_groups(self) except -1:
        """Drop the groups idle past their window and their dedup mark plus GRACE (as
        MemoryState._sweep): their next event would start afresh anyway. Runs when the live
        groups have doubled since the last sweep, so a group costs O(1) amortised. A group
        touched since the last sweep stays whatever its times say: after a line dated far ahead
        (within the horizon, or anywhere in a replay) every group looks idle by event time, and
        the busy ones must keep counting."""
        cdef Py_ssize_t slot
        cdef Group* g
        cdef double cut = self.state_now - GRACE
        for slot in range(self.ngroups):
            g = &self.groups[slot]
            if not g.used or g.touch > self.swept_touch:
                continue
            if g.n and g.buf[g.off + g.n - 1] + self.agg_window[g.rule] >= cut:
                continue
            if g.has_mark and g.mark + self.agg_dedup[g.rule] >= cut:
                continue
            self._drop_group(slot)
            self.expired += 1
        self.sweep_at = max(4096, 2 * self.nlive)
        self.swept_touch = self.touch
        return 0

    cdef Py_ssize_t _find(self, const char* key, Py_ssize_t klen, unsigned long long h) noexcept nogil:
        """The table position holding this key, or the empty position where it would go."""
        cdef Py_ssize_t i = <Py_ssize_t>(h & <unsigned long long>self.hmask), s
        cdef Group* g
        while True:
            s = self.htab[i].slot1
            if s == 0:
                return i
            if self.htab[i].hash == h:
                g = &self.groups[s - 1]
                if g.klen == klen and memcmp(group_key(g), key, klen) == 0:
                    return i
            i = (i + 1) & self.hmask

    cdef void _unindex(self, Py_ssize_t slot) noexcept nogil:
        """Remove a group from the table, shifting back the entries after it (linear probing
        needs no tombstones that way)."""
        cdef Group* g = &self.groups[slot]
        cdef Py_ssize_t i = self._find(group_key(g), g.klen, g.hash), j = i, home
        self.htab[i].slot1 = 0
        self.nlive -= 1
        while True:
            j = (j + 1) & self.hmask
            if self.htab[j].slot1 == 0:
                return
            home = <Py_ssize_t>(self.htab[j].hash & <unsigned long long>self.hmask)
            # move j's entry into the hole at i unless its home lies cyclically in (i, j]
            if (j > i and (home <= i or home > j)) or (j < i and (home <= i and home > j)):
                self.htab[i] = self.htab[j]
                self.htab[j].slot1 = 0
                i = j

    cdef int _grow_table(self) except -1:
        cdef Py_ssize_t cap = (self.hmask + 1) * 2 if self.htab != NULL else 1024, slot, i
        cdef HEnt* old = self.htab
        while cap < 2 * (self.nlive + 1):
            cap *= 2
        self.htab = <HEnt*>calloc(cap, sizeof(HEnt))
        if self.htab == NULL:
            self.htab = old
            raise MemoryError()
        self.hmask = cap - 1
        free(old)
        for slot in range(self.ngroups):
            if self.groups[slot].used:
                i = self._find(group_key(&self.groups[slot]), self.groups[slot].klen, self.groups[slot].hash)
                self.htab[i].hash = self.groups[slot].hash
                self.htab[i].slot1 = slot + 1
        return 0

    cdef Py_ssize_t _slot(self, const char* key, Py_ssize_t klen, int rule) except -1:
        cdef Py_ssize_t slot, i
        cdef Group* ng
        cdef unsigned long long h = key_hash(key, klen)
        if self.htab != NULL:
            i = self._find(key, klen, h)
            if self.htab[i].slot1:
                return self.htab[i].slot1 - 1
        if self.nlive >= self.sweep_at:
            self._sweep_groups()
        if self.nlive >= self.max_groups:
            self._evict()
        if self.htab == NULL or 2 * (self.nlive + 1) > self.hmask + 1:
            self._grow_table()
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
            self.groups[slot].key = NULL
        if klen > KEY_INLINE:
            self.groups[slot].key = <char*>malloc(klen)
            if self.groups[slot].key == NULL:
                raise MemoryError()
            memcpy(self.groups[slot].key, key, klen)
        else:
            memcpy(self.groups[slot].kin, key, klen)
        self.groups[slot].klen = klen
        self.groups[slot].hash = h
        self.groups[slot].n = 0
        self.groups[slot].off = 0
        self.groups[slot].has_mark = 0
        self.groups[slot].rule = rule
        self.groups[slot].used = 1
        i = self._find(key, klen, h)
        self.htab[i].hash = h
        self.htab[i].slot1 = slot + 1
        self.nlive += 1
        return slot

    cdef int _hit(self, const char* key, Py_ssize_t klen, int rule, double ts, int* count, double* first) except -1:
        """1 when this event fires the rule for its group (threshold reached, not a duplicate)."""
        cdef Py_ssize_t slot = self._slot(key, klen, rule), pos, cut, lo, hi
        cdef Group* g = &self.groups[slot]
        cdef double window = self.agg_window[rule], dedup = self.agg_dedup[rule], newest
        cdef double* nts
        cdef double* t
        cdef bint fresh
        self.agg_matches[rule] += 1
        self._advance(ts)
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

    cdef Py_ssize_t _key_rec(self, const char* b, LineRec* r, int rule) except -1:
        """Write the group key into self.kbuf and return its length: rule, then per group field a
        4-byte length (0xffffffff: absent) and the bytes."""
        cdef Py_ssize_t total = 4, o, n
        cdef int k, f
        cdef unsigned int ln
        cdef char* nb
        for k in range(self.agg_nf[rule]):
            f = self.agg_fields[rule * NFIELDS + k]
            total += 4 + (r.len[f] if f < NFIELDS and r.len[f] > 0 else 0)
        if total > self.kcap:
            nb = <char*>realloc(self.kbuf, total)
            if nb == NULL:
                raise MemoryError()
            self.kbuf, self.kcap = nb, total
        memcpy(self.kbuf, &rule, 4)
        o = 4
        for k in range(self.agg_nf[rule]):
            f = self.agg_fields[rule * NFIELDS + k]
            n = r.len[f] if f < NFIELDS else -1  # src_host: only lines C hands to Python have one
            ln = 0xFFFFFFFF if n < 0 else <unsigned int>n
            memcpy(self.kbuf + o, &ln, 4)
            o += 4
            if n > 0:
                memcpy(self.kbuf + o, b + r.off[f], n)
                o += n
        return o

    cdef bytes _key_json(self, dict d, int rule):
        """Same layout as _key_rec, from a JSON record's values."""
        cdef int k, f
        parts = [(<unsigned int>rule).to_bytes(4, "little")]
        for k in range(self.agg_nf[rule]):
            f = self.agg_fields[rule * NFIELDS + k]
            v = scan_value(d.get(FIELD_NAMES[f] if f < NFIELDS else "src_host"))
            if v is None:
                parts.append(b"\xff\xff\xff\xff")
            else:
                parts.append(len(v).to_bytes(4, "little"))
                parts.append(v)
        return b"".join(parts)

    cdef bint _agg_rec(self, const char* b, LineRec* r, int rule, double now, long want) except -1:
        """Count a candidate line in the rule's C state; False when the line must go to Python."""
        cdef int count = 0
        cdef double first = 0, ts = r.ts if r.has_ts else now
        cdef LineRec own
        if self.ext_n[rule]:
            own = r[0]
            r = &own
            if self._extract(b, r, rule) != 0:
                self.extract_fallbacks += 1
                return False
        if self.sess_on[rule] and self._remember(b, r, rule, ts):
            return False
        cdef Py_ssize_t klen = self._key_rec(b, r, rule)
        if self.agg_dist[rule]:
            f = self.agg_dist[rule] - 1
            if r.len[f] < 0 or not self._fresh(PyBytes_FromStringAndSize(self.kbuf, klen),
                                               PyBytes_FromStringAndSize(b + r.off[f], r.len[f]), rule, ts):
                self.agg_matches[rule] += 1  # matched all the same, as the Python engine counts it
                return True
        if self._hit(self.kbuf, klen, rule, ts, &count, &first):
            self.fired_out.append((make_record(b, r, want), rule, count, first, ts))
        return True

    cdef bint _fresh(self, bytes key, bytes value, int rule, double ts) except -1:
        """A value not seen in this group within the window (MemoryState.mark_once)."""
        cdef double window = self.agg_window[rule]
        mk = key + b"|d|" + value
        prev = self.dmarks.get(mk)
        fresh = prev is None or ts - prev > window or ts < prev - window
        if prev is None and len(self.dmarks) >= self.max_groups:
            self.dmarks.popitem(last=False)
            self.evictions += 1
        self.dmarks[mk] = max(ts, prev) if (prev is not None and not fresh) else ts
        self.dmarks.move_to_end(mk)
        if prev is None:
            self._advance(ts)
            self._sweep_marks()
        return fresh

    cdef int _sweep_marks(self) except -1:
        """Two marks idle past the longest distinct window + GRACE, per new mark (as sessions)."""
        cdef double cut = self.state_now - self.dist_window - GRACE
        for _ in range(2):
            if not self.dmarks or <double>self.dmarks[next(iter(self.dmarks))] >= cut:
                return 0
            self.dmarks.popitem(last=False)
            self.expired += 1
        return 0

    cdef bint _dist_ok(self, bytes key, dict d, int rule, double ts) except -1:
        if not self.agg_dist[rule]:
            return True
        v = scan_value(d.get(FIELD_NAMES[self.agg_dist[rule] - 1]))
        if v is not None and self._fresh(key, v, rule, ts):
            return True
        self.agg_matches[rule] += 1  # a repeated or absent value: matched all the same, not counted again
        return False

    cdef void _agg_json(self, dict d, int rule, double now) except *:
        cdef int count = 0
        cdef double first = 0
        t = d.get("timestamp")
        cdef double ts = t if type(t) is float else now
        key = self._key_json(d, rule)
        if not self._dist_ok(key, d, rule, ts):
            return
        if self._hit(<const char*>key, len(key), rule, ts, &count, &first):
            self.fired_out.append((dict(d), rule, count, first, ts))

    cdef void _agg_lazy(self, bytes buf, tuple what, int rule, int json_max_depth) except *:
        cdef int count = 0
        cdef double first = 0
        key, ts, s, e = what
        if self._hit(<const char*>key, len(key), rule, ts, &count, &first):
            d, err = json_record(buf[s:e], json_max_depth)
            self.fired_out.append((d, rule, count, first, ts))

    cdef void hs_field(self, const char* p, Py_ssize_t n, int field, ScanCtx* ctx) noexcept nogil:
        """hs_scan one field, remembering a failure on the context (it marks the line unscanned)."""
        cdef hs_error_t rc
        cdef FieldMemo* m = NULL
        cdef int k
        ctx.field = field
        if self.inject_left > 0:
            self.inject_left -= 1
            rc = self.inject_code
        elif self.fdb[field] == NULL:
            return
        else:
            if field != F_MESSAGE and self.memo != NULL and n <= MEMO_BYTES:
                m = &self.memo[(key_hash(p, n) + <unsigned long long>field) & (MEMO_SLOTS - 1)]
                if m.valid and m.field == field and m.len == n and memcmp(m.data, p, n) == 0:
                    for k in range(m.nids):
                        on_match(m.ids[k], 0, 0, 0, ctx)
                    return
                m.valid = False
                m.nids = 0
                ctx.rec = m
            rc = hs_scan(self.fdb[field], p, <unsigned int>n, 0, self.scratch, on_match, ctx)
            if m != NULL:
                ctx.rec = NULL
                if rc == HS_SUCCESS and m.nids >= 0:
                    m.field = field
                    m.len = <int>n
                    memcpy(m.data, p, n)
                    m.valid = True
        if rc != HS_SUCCESS:
            ctx.err = rc
            self.scan_errors += 1
            self.last_scan_error = rc

    cdef void absent_field(self, int field, ScanCtx* ctx) noexcept nogil:
        """The line has no such field: its or_missing patterns hold, as if they had matched."""
        cdef int k
        ctx.field = field
        for k in range(self.miss_off[field], self.miss_off[field + 1]):
            on_match(self.miss_ids[k], 0, 0, 0, ctx)

    cdef void _scan_value(self, dict d, int field, ScanCtx* ctx) except *:
        """A decoded JSON record's field as scan_rec scans a line's: its text, or absent."""
        x = d.get(FIELD_NAMES[field])
        v = scan_value(x)
        if v is not None:
            self.hs_field(v, len(v), field, ctx)
        elif x is None:  # a value no pattern can see (a list, true) is present, not missing
            self.absent_field(field, ctx)

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
        if not self.has_db:
            return
        if self.scan_msg:
            if r.len[F_MESSAGE] >= 0:
                self.hs_field(b + r.off[F_MESSAGE], r.len[F_MESSAGE], F_MESSAGE, ctx)
            else:
                self.absent_field(F_MESSAGE, ctx)
        if not (self.always2 or ctx.alive2):
            return  # every rule with patterns elsewhere already missed on the message
        for k in range(self.n_scan):
            f = self.scan_fields[k]
            if r.len[f] >= 0:
                self.hs_field(b + r.off[f], r.len[f], f, ctx)
            else:
                self.absent_field(f, ctx)

    def _inject_scan_errors(self, int code, long long count):
        """Fault injection for tests: the next `count` hs_scan calls fail with `code`."""
        self.inject_code = code
        self.inject_left = count

    def scan(self, bytes buf, int year, int ref_month=0, Py_ssize_t max_line=65536, int json_max_depth=32,
             long want=-1, double now=0.0, int mode=0):
        """want: bit mask of the fields to build for syslog candidates (see lp_record.pxi); JSON lines are whole.
        mode: MODE_NAMES index, the source's format (0 detects it per line)."""
        if not 0 <= mode < NMODE:
            raise ValueError(f"mode {mode} is not one of 0..{NMODE - 1} (MODE_NAMES)")
        # Checked and set under the GIL, so two threads cannot both pass.
        if self.busy:
            raise LogPipelineError("a Matcher is not thread-safe: scan() called while another scan runs; "
                                   "give each thread its own Matcher")
        self.busy = True
        self.horizon = now + self.ahead
        cdef long long errs0 = self.scan_errors, unscanned0 = self.lines_unscanned
        try:
            cands, stats = self._scan(buf, year, ref_month, max_line, json_max_depth, want, now, mode)
        finally:
            self.busy = False
        stats["scan_errors"] = self.scan_errors - errs0
        stats["lines_unscanned"] = self.lines_unscanned - unscanned0
        return cands, stats

    cdef _scan(self, bytes buf, int year, int ref_month, Py_ssize_t max_line, int json_max_depth,
               long want, double now, int mode):
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
        cdef Py_ssize_t counts[NFMT]
        cdef bint oom = False
        cdef int fmt
        self._init_ctx(&ctx)
        memset(counts, 0, sizeof(counts))
        memset(self.rule_gen, 0, (self.n_rules + 1) * sizeof(int))
        self.scan_gen += 1  # the per-line extraction cache is valid within one scan (offsets are per buffer)
        try:
            with nogil:
                while pos < n:
                    nl = <const char*>memchr(b + pos, b'\n', n - pos)
                    e = (nl - b) if nl != NULL else n
                    if e - pos > max_line:
                        cut += 1
                        parse_line(b, pos, pos + max_line, year, ref_month, &rec, self.need_extract, mode)
                    else:
                        parse_line(b, pos, e, year, ref_month, &rec, self.need_extract, mode)
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
                    if (self.any_agg and self.agg_on[hits[k].rule] and not (njson and self.ext_n[hits[k].rule])
                            and (njson or self._agg_rec(b, &cands[hits[k].cand], hits[k].rule, now, want))):
                        if njson:
                            pending.append((hits[k].line, hits[k].rule, hits[k].cand))
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
                    plain = tuple(r for r in rules if not (self.any_agg and self.agg_on[r] and not self.ext_n[r]))
                    if plain:
                        out.append((line_no, d, plain))
                    if len(plain) != len(rules):
                        pending.extend((line_no, r, d) for r in rules if self.agg_on[r] and not self.ext_n[r])
                out.sort(key=_line_of)
                pending.sort(key=_line_rule)
                for line_no, r, what in pending:
                    if type(what) is dict:
                        self._agg_json(<dict>what, r, now)
                    elif type(what) is tuple:
                        self._agg_lazy(buf, <tuple>what, r, json_max_depth)
                    else:
                        self._agg_rec(b, &cands[<Py_ssize_t>what], r, now, want)
            for fmt in range(NFMT):
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
                        if not self.agg_on[ctx.fired[k]] or self.ext_n[ctx.fired[k]] or self.agg_dist[ctx.fired[k]]:
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
                    if self.has_db:
                        ctx.alive2 = 0
                        ctx.err = 0
                        if self.scan_msg:
                            self._scan_value(d, F_MESSAGE, &ctx)
                        if self.always2 or ctx.alive2:
                            for k in range(self.n_scan):
                                self._scan_value(d, self.scan_fields[k], &ctx)
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
        cdef int k, f, got
        cdef const char* p
        cdef Py_ssize_t ln
        jl.msg_state = -2
        jl.extracted = 0
        ctx.nfired = 0
        ctx.alive2 = 0
        ctx.err = 0
        # resolve first: a line that must go to orjson must not have counted any match yet
        for f in range(NFIELDS):
            if self.used_f[f]:
                got = jl_field(jl, f, &p, &ln)
                if got < 0 or (got == 0 and self.miss_off[f + 1] > self.miss_off[f]):
                    return -1  # (none here may be absent or a value no pattern sees: the record decides)
        if not self.has_db:
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
            if self.agg_fields[rule * NFIELDS + k] >= NFIELDS:
                return None
            got = jl_field(jl, self.agg_fields[rule * NFIELDS + k], &p, &ln)
            if got < 0:
                return None
            if got == 0:
                parts.append(b"\xff\xff\xff\xff")
            else:
                parts.append((<unsigned int>ln).to_bytes(4, "little"))
                parts.append(PyBytes_FromStringAndSize(p, ln))
        return b"".join(parts)


cdef Py_ssize_t entry_len(const char* p, Py_ssize_t left) noexcept nogil:
    cdef Py_ssize_t o = 12, k
    cdef unsigned int ln
    for k in range(2):
        if o + 4 > left:
            return -1
        memcpy(&ln, p + o, 4)
        o += 4
        if ln != <unsigned int>0xFFFFFFFF:
            o += ln
    return o if o <= left else -1


cdef int count_entries(const char* p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t o = 0, e
    cdef int c = 0
    while o < n:
        e = entry_len(p + o, n - o)
        if e < 0:
            break
        o += e
        c += 1
    return c


cdef bint has_entry(const char* p, Py_ssize_t n, const char* ent, Py_ssize_t elen) noexcept:
    """An entry equal to ent but for its time (bytes 4..11)."""
    cdef Py_ssize_t o = 0, e
    while o < n:
        e = entry_len(p + o, n - o)
        if e < 0:
            return False
        if e == elen and memcmp(p + o, ent, 4) == 0 and memcmp(p + o + 12, ent + 12, elen - 12) == 0:
            return True
        o += e
    return False


cdef list unpack_entries(const char* p, Py_ssize_t n):
    cdef Py_ssize_t o = 0, e, q
    cdef int rule
    cdef double ts
    cdef unsigned int ln
    out = []
    while o < n:
        e = entry_len(p + o, n - o)
        if e < 0:
            break
        memcpy(&rule, p + o, 4)
        memcpy(&ts, p + o + 4, 8)
        q = o + 12
        vals = []
        for _ in range(2):
            memcpy(&ln, p + q, 4)
            q += 4
            if ln == 0xFFFFFFFF:
                vals.append(None)
            else:
                vals.append(dec(p, q, ln))
                q += ln
        out.append((rule, vals[0], vals[1], ts))
        o += e
    return out


cdef int canonical_address(const char* b, Py_ssize_t* ps, Py_ssize_t* pn) noexcept nogil:
    """1 when b[s:s+n] (brackets and a ::ffff: prefix of a dotted quad dropped, which moves s/n)
    is an IP address written exactly as the twin's ipaddress would print it; 0 otherwise."""
    cdef Py_ssize_t s = ps[0], n = pn[0], k
    cdef char tmp[64]
    cdef char back[64]
    cdef unsigned char bin[16]
    cdef int af = AF_INET
    if n >= 2 and b[s] == b'[' and b[s + n - 1] == b']':
        s += 1
        n -= 2
    if n <= 0 or n >= 46:
        return 0
    memcpy(tmp, b + s, n)
    tmp[n] = 0
    if n > 7 and (tmp[0] == b':' and tmp[1] == b':' and (tmp[2] | 32) == b'f' and (tmp[3] | 32) == b'f'
                  and (tmp[4] | 32) == b'f' and (tmp[5] | 32) == b'f' and tmp[6] == b':'):
        if inet_pton(AF_INET, tmp + 7, bin) == 1:
            s += 7
            n -= 7
            memmove(tmp, tmp + 7, n + 1)
    for k in range(n):
        if tmp[k] == b':':
            af = AF_INET6
            break
    if inet_pton(af, tmp, bin) != 1:
        return 0
    if inet_ntop(af, bin, back, sizeof(back)) == NULL:
        return 0
    if <Py_ssize_t>strlen(back) != n or memcmp(back, tmp, n) != 0:
        return 0
    if af == AF_INET6:
        for k in range(n):
            if tmp[k] == b'.':
                return 0  # ipaddress prints embedded IPv4 forms in hex
    ps[0] = s
    pn[0] = n
    return 1


def _line_of(c):
    return c[0]


def _line_rule(c):
    return c[0], c[1]


def json_scan_ok(bytes line, int max_depth=32):
    """Whether the C scanner takes this JSON line itself (True) or leaves it to orjson; for tests."""
    cdef JVal vals[JN_COUNT]
    return jscan(line, 0, len(line), max_depth, vals) == JS_OK
