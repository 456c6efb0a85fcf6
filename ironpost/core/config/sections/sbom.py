from ironpost.core.config.schema import Alias, Field, Section

SBOM_FORMATS = ("cyclonedx", "cyclonedx-xml", "spdx", "spdx-tv")

SBOM = Section(
    "sbom",
    {
        "enabled": Field("bool", False, "scan lockfiles periodically in the daemon"),
        "scan_dirs": Field("list", [], "directories searched for lockfiles (node_modules, target, .git, .venv are skipped)"),
        "vuln_db_path": Field("path", "", "vulnerability DB: a directory (the DB is vulndb.sqlite in it) or a *.sqlite/*.db "
                              "file; empty means <data_dir>/vulndb.sqlite"),
        "min_severity": Field("choice", "medium", "report findings at or above", choices=("unknown", "info", "low", "medium", "high", "critical")),
        "output_format": Field("choice", "cyclonedx", "format of `sbom generate` without --format and of the SBOMs the "
                               "daemon writes to <data_dir>/sbom after each scan", choices=SBOM_FORMATS),
        "exclude": Field("list", [], "globs of paths to skip, matched against the full path, the path under the scan dir and the base name"),
        "scan_interval_secs": Field("int", 3600, "seconds between scans", min=10),
        "include_workspace_crates": Field("bool", True, "match Cargo workspace crates (lockfile members without a source) "
                                          "named like a published crate against its advisories; their findings are "
                                          "marked \"workspace crate\". false leaves them out"),
        "show_unknown": Field("bool", True, "report advisories without any severity score whatever min_severity says"),
    },
    doc="SBOM and vulnerability scanning",
    aliases={"vulndb_path": Alias(Field("path"), "vuln_db_path")},  # our earlier name, same value
)
