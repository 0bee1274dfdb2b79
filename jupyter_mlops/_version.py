"""The package version; the labextension's package.json carries the same number (a test checks)."""

__version__ = "0.1.0"
