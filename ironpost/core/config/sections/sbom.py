from ironpost.core.config.schema import Field, Section

SBOM = Section(
    "sbom",
    {
        "enabled": Field("bool", False, "scan lockfiles periodically in the daemon"),
        "scan_dirs": Field("list", [], "directories searched for lockfiles"),
        "exclude": Field("list", [], "glob patterns of paths to skip"),
        "scan_interval_secs": Field("int", 3600, "seconds between scans", min=10),
        "min_severity": Field("choice", "medium", "report findings at or above", choices=("unknown", "info", "low", "medium", "high", "critical")),
        "vulndb_path": Field("path", "", "vulnerability DB; empty means <data_dir>/vulndb.sqlite"),
    },
    doc="SBOM and vulnerability scanning",
)
