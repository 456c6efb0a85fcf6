from ironpost.core.config.schema import Field, Section

LOG_PIPELINE = Section(
    "log_pipeline",
    {
        "enabled": Field("bool", True, "run the log pipeline"),
        "rules_dir": Field("path", "rules", "directory of YAML detection rules"),
        "files": Field("list", [], "file globs to tail (rotation-safe; offsets kept in data_dir)"),
        "syslog_udp": Field("addr", "", "syslog UDP listen address, e.g. 127.0.0.1:5514; empty disables"),
        "syslog_tcp": Field("addr", "", "syslog TCP listen address (RFC 6587); empty disables"),
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
    },
    doc="log pipeline: collectors, parsers, rules",
    subsections=("storage",),
)

LOG_PIPELINE_STORAGE = Section(
    "log_pipeline.storage",
    {
        "sqlite_path": Field("path", "", "alert store; empty means <data_dir>/ironpost.db"),
        "postgres_url": Field("url", "", "store alerts in PostgreSQL instead of SQLite", secret=True),
        "redis_url": Field("url", "", "shared threshold/dedup state in Redis", secret=True),
        "retention_days": Field("int", 30, "alerts and actions older than this are deleted", min=1),
        "batch_size": Field("int", 500, "alerts written per batch", min=1, max=100_000),
        "spool_max_bytes": Field("int", 268_435_456, "most bytes the outage spool in data_dir holds; events beyond it "
                                 "are dropped and counted (storage_spool_dropped_total)", min=4096),
    },
    doc="where alerts and actions are stored",
)
