"""kerf: partition one Linux host among several kernel instances (multikernel)."""

__version__ = "0.1.0"
