from ironpost.core.config.schema import Alias, Field, Section

# a source's format: "auto" detects each line's shape; any other reads every line as that shape
# (anything else as raw text), so that text in one kind of log cannot pose as another kind
FORMATS = ("auto", "syslog", "json", "access", "nginx_error", "apache_error", "raw")

# what `sources` can name: file tail, syslog (UDP and TCP), container logs from the container
# guard (bus "logs"), packet records from the network module (bus "packets")
SOURCES = ("file", "syslog", "container", "ebpf")


def _sources(v):
    bad = [s for s in v if s not in SOURCES]
    return f"unknown source {bad[0]!r} (known: {', '.join(SOURCES)})" if bad else None

LOG_PIPELINE = Section(
    "log_pipeline",
    {
        "enabled": Field("bool", True, "run the log pipeline"),
        "sources": Field("list", list(SOURCES), "collectors that run: " + ", ".join(SOURCES) +
                         " (file needs watch_paths, syslog an address)", check=_sources),
        "syslog_bind": Field("addr", "", "syslog listen address for both UDP and TCP, e.g. 0.0.0.0:514; empty disables"),
        "watch_paths": Field("list", [], "files or globs to tail (rotation-safe; offsets kept in data_dir)"),
        "batch_size": Field("int", 500, "alerts and actions the storage writer writes at once, at most", min=1, max=100_000),
        "flush_interval_secs": Field(
            "float", 0.0, "longest an alert waits for its storage batch to fill; 0 writes what is queued at once",
            min=0, max=3600),
        "rules_dir": Field("path", "rules", "directory of YAML detection rules"),
        "formats": Field("table", {}, "per-source format override, e.g. { \"/var/log/nginx/access.log\" = \"access\", "
                         "syslog = \"syslog\" }: a key is a watched path or glob, or syslog, or container; sources "
                         "not named are auto-detected per line", choices=FORMATS),
        "syslog_udp": Field("addr", "", "syslog UDP listen address when it differs from syslog_bind; empty: syslog_bind"),
        "syslog_tcp": Field("addr", "", "syslog TCP (RFC 6587) listen address when it differs from syslog_bind; empty: syslog_bind"),
        # --- collectors (file tail, syslog UDP/TCP) ---
        "file_offsets_path": Field("path", "", "where file-tail offsets are kept; empty means <data_dir>/file_offsets.json"),
        "files_start_at": Field(
            "choice", "end", "where to start a file seen for the first time on the very first run "
            "(files that appear later are always read from the beginning)", choices=("end", "beginning")),
        "files_poll_interval_secs": Field("float", 0.25, "how often tailed files are checked for new data and rotation", min=0.01, max=60),
        "udp_queue_size": Field("int", 65536, "syslog UDP datagrams buffered before new ones are dropped (and counted)", min=16, max=10_000_000),
        "tcp_idle_timeout_secs": Field("float", 60.0, "a syslog TCP connection without a complete frame for this long is closed (slow-loris guard)", min=0.05, max=86400),
        "tcp_max_connections": Field("int", 256, "syslog TCP connections accepted at once; more are refused and counted", min=1, max=100_000),
        "max_line_bytes": Field("int", 65536, "longer lines are cut and counted", min=256, max=65536),
        "json_max_depth": Field("int", 32, "deeper JSON is a counted error", min=1, max=32),
        "year": Field("int", 0, "year for BSD syslog lines that carry none; 0 = current year (Dec lines read in Jan: last year)",
                      min=0, max=9999),
        "max_groups": Field("int", 100_000, "threshold/dedup groups kept in memory; least recently used evicted (counted)",
                            min=100, max=10_000_000),
        "buffer_lines": Field("int", 100_000, "log lines queued between the collectors and the rules engine", min=16,
                              max=10_000_000),
        "buffer_drop_policy": Field(
            "choice", "oldest", "when the buffer is full, lines from syslog UDP are dropped (and counted): the oldest "
            "queued, or the newest arriving; tailed files, syslog TCP (reading pauses, so the sender slows) and "
            "container logs wait instead, as they lose nothing by waiting", choices=("oldest", "newest")),
    },
    doc="log pipeline: collectors, parsers, rules",
    subsections=("storage",),
    aliases={"files": Alias(Field("list"), "watch_paths")},  # our earlier name
)

LOG_PIPELINE_STORAGE = Section(
    "log_pipeline.storage",
    {
        "postgres_url": Field("url", "", "store alerts in PostgreSQL instead of SQLite", secret=True),
        "redis_url": Field("url", "", "shared threshold/dedup state in Redis", secret=True),
        "retention_days": Field("int", 30, "alerts and actions older than this are deleted", min=1),
        "sqlite_path": Field("path", "", "alert store; empty means <data_dir>/ironpost.db"),
        "spool_max_bytes": Field("int", 268_435_456, "most bytes the outage spool in data_dir holds; events beyond it "
                                 "are dropped and counted (storage_spool_dropped_total)", min=4096),
    },
    doc="where alerts and actions are stored",
    # where batch_size used to live; the seed puts it in [log_pipeline]
    aliases={"batch_size": Alias(Field("int", min=1, max=100_000), "batch_size", section="log_pipeline")},
)
