# cython: language_level=3
"""C declarations shared by ext/logparse.pyx and ext/matcher.pyx: field and format ids, LineRec.

A parsed line is a LineRec of offsets into the caller's buffer; no Python object is made. The code
that fills it lives in lp_line.pxi (syslog, raw) and lp_web.pxi (web server logs), which both
extensions include.
"""

cdef extern from "arpa/inet.h" nogil:
    int inet_pton(int af, const char* src, void* dst)

cdef extern from "sys/socket.h" nogil:
    int AF_INET
    int AF_INET6

# field ids; the order matches FIELD_NAMES in the Python twin
cdef enum:
    F_HOST = 0
    F_PROCESS = 1
    F_TAG = 2
    F_MSGID = 3
    F_MESSAGE = 4
    F_SRC_IP = 5
    F_USER = 6
    F_RHOST = 7
    F_RAW = 8
    NFIELDS = 9

cdef enum:
    FMT_RAW = 0
    FMT_3164 = 1
    FMT_5424 = 2
    FMT_JSON = 3
    FMT_ACCESS = 4         # nginx/Apache common or combined access log
    FMT_NGINX_ERROR = 5
    FMT_APACHE_ERROR = 6
    NFMT = 7

# per-source format override (MODE_NAMES in the twin): auto-detect, or read every line as one shape
# (a line that is not of that shape is raw text)
cdef enum:
    MODE_AUTO = 0
    MODE_SYSLOG = 1
    MODE_JSON = 2
    MODE_ACCESS = 3
    MODE_NGINX_ERROR = 4
    MODE_APACHE_ERROR = 5
    MODE_RAW = 6
    NMODE = 7

# web server fields beyond the syslog ones (HTTP_FIELDS in the twin); status and bytes are ints
cdef enum:
    H_METHOD = 0
    H_PATH = 1
    H_PROTOCOL = 2
    H_REFERER = 3
    H_UA = 4
    H_LEVEL = 5
    NHTTP = 6

ctypedef struct LineRec:
    Py_ssize_t off[9]
    Py_ssize_t len[9]      # -1: field absent
    Py_ssize_t sd_off
    Py_ssize_t sd_len      # -1: no structured data
    double ts
    int has_ts
    int fmt
    int facility
    int severity
    int pid
    int port
    int extracted          # extract_fields has run (parse can defer it to the lines a caller keeps)
    int status             # access: the HTTP status, else -1
    long long nbytes       # access: the response size, else -1 ("-" or absent)
    Py_ssize_t hoff[6]
    Py_ssize_t hlen[6]     # -1: absent; only web formats set them
