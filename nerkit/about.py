"""The package version (core: imports nothing)."""

__version__ = "0.1.0"
