"""Ironpost: one host-security daemon and CLI (XDP filter, log pipeline, container guard, SBOM)."""

__version__ = "0.1.0"
