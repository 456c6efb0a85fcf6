"""SBOM and vulnerabilities: lockfiles → packages → CycloneDX/SPDX, and matching against a local OSV database."""
