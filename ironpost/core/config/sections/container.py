from ironpost.core.config.schema import Alias, Field, Section


def docker_socket_of(host: str) -> str:
    """docker_host (a URL) as docker_socket: a unix:// URL becomes its path, other URLs stay."""
    return host[len("unix://"):] if host.startswith("unix:///") else host


def _docker_address(v: str):
    if not v:
        return "must not be empty"
    if v.startswith("/") or "://" in v:
        return None
    return "expected a socket path (/var/run/docker.sock) or a URL (unix://, tcp://, ssh://)"

CONTAINER = Section(
    "container",
    {
        "enabled": Field("bool", False, "run the container guard (needs a Docker engine)"),
        "docker_socket": Field("str", "/var/run/docker.sock", "Docker engine: a unix socket path, or a URL "
                               "(tcp://host:2376, ssh://user@host)", check=_docker_address),
        "poll_interval_secs": Field(
            "float", 30.0, "full container list refresh interval; the Docker event stream keeps it fresh in between",
            min=0.1, max=3600),
        "policy_path": Field("path", "/etc/ironpost/policies", "directory of TOML policies"),
        "auto_isolate": Field("bool", False, "act on containers; when false only record what would be done"),
        "docker_timeout_secs": Field("float", 10.0, "timeout of one Docker API call", min=0.5, max=300),
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
    aliases={  # our earlier names
        "docker_host": Alias(Field("str", check=_docker_address), "docker_socket", to_canonical=docker_socket_of),
        "inventory_ttl_secs": Alias(Field("float", min=0.1, max=3600), "poll_interval_secs"),
    },
)
