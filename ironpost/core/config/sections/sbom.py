from ironpost.core.config.schema import Field, Section

SBOM = Section(
    "sbom",
    {
        "enabled": Field("bool", False, "scan lockfiles periodically in the daemon"),
        "scan_dirs": Field("list", [], "directories searched for lockfiles (node_modules, target, .git, .venv are skipped)"),
        "exclude": Field("list", [], "globs of paths to skip, matched against the full path, the path under the scan dir and the base name"),
        "scan_interval_secs": Field("int", 3600, "seconds between scans", min=10),
        "min_severity": Field("choice", "medium", "report findings at or above", choices=("unknown", "info", "low", "medium", "high", "critical")),
        "show_unknown": Field("bool", True, "report advisories without any severity score whatever min_severity says"),
        "vulndb_path": Field("path", "", "vulnerability DB; empty means <data_dir>/vulndb.sqlite"),
    },
    doc="SBOM and vulnerability scanning",
)
