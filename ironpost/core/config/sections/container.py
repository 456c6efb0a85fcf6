from ironpost.core.config.schema import Field, Section

CONTAINER = Section(
    "container",
    {
        "enabled": Field("bool", False, "run the container guard (needs a Docker engine)"),
        "docker_host": Field("str", "unix:///var/run/docker.sock", "Docker engine address"),
        "policy_path": Field("path", "/etc/ironpost/policies", "directory of TOML policies"),
        "auto_isolate": Field("bool", False, "act on containers; when false only record what would be done"),
    },
    doc="container guard",
)
