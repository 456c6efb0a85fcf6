from ironpost.core.config.schema import Field, Section

CONTAINER = Section(
    "container",
    {
        "enabled": Field("bool", False, "run the container guard (needs a Docker engine)"),
        "docker_host": Field("str", "unix:///var/run/docker.sock", "Docker engine address"),
        "docker_timeout_secs": Field("float", 10.0, "timeout of one Docker API call", min=0.5, max=300),
        "policy_path": Field("path", "/etc/ironpost/policies", "directory of TOML policies"),
        "auto_isolate": Field("bool", False, "act on containers; when false only record what would be done"),
        "inventory_ttl_secs": Field(
            "float", 30.0, "full container list refresh interval; the events stream keeps it fresh in between", min=0.1, max=3600
        ),
        "rate_limit_secs": Field("float", 60.0, "minimum time between two actions on the same container", min=0, max=86400),
        "action_retries": Field("int", 3, "retries of an action after a transient engine error", min=0, max=20),
        "retry_backoff_secs": Field("float", 0.2, "first retry delay; doubles per retry up to 5 s", min=0.01, max=60),
        "reconnect_max_secs": Field("float", 30.0, "longest wait between reconnects to a vanished engine", min=0.1, max=3600),
        "stop_timeout_secs": Field("int", 10, "grace period for the stop action before the container is killed", min=0, max=600),
        "follow_logs": Field("bool", True, "feed containers' own logs to the log pipeline, so its alerts name the container"),
        "follow_logs_names": Field("list", [], "globs on container names whose logs are followed; empty follows all"),
        "state_file": Field("path", "", "what the guard changed, for release; empty means <data_dir>/container_isolations.json"),
    },
    doc="container guard",
)
