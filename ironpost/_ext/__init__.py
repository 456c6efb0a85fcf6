"""Compiled extensions, built from ext/*.pyx by setup.py. Never edited by hand."""
