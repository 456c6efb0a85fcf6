from ironpost.core.config.schema import Field, Section

GENERAL = Section(
    "general",
    {
        "log_level": Field("choice", "info", "daemon log level", choices=("trace", "debug", "info", "warn", "error"),
                           value_aliases=(("warning", "warn"),)),
        "log_format": Field("choice", "json", "json lines, or pretty for a console", choices=("json", "pretty")),
        "data_dir": Field("path", "/var/lib/ironpost", "state: SQLite stores, offsets, spool, vulnerability DB"),
        "pid_file": Field("path", "", "PID file; empty means <data_dir>/ironpost.pid"),
        "control_socket": Field("path", "", "unix control socket (mode 0600); empty means <data_dir>/ironpost.sock"),
        "http_listen": Field("addr", "127.0.0.1:9469", "/healthz and /metrics; empty disables"),
        "bus_capacity": Field("int", 10000, "events each subscriber queue holds before backpressure", min=16, max=10_000_000),
        "shutdown_timeout_secs": Field("float", 10.0, "time to drain queues and flush storage on stop", min=0.1, max=600),
    },
    doc="daemon-wide settings",
)
