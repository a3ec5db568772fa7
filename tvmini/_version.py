"""The package version (one place, read by the kernel cache keys)."""
__version__ = "0.1.0"
