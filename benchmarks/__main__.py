"""``python -m benchmarks`` (run from the repository root)."""

from benchmarks.cli import main

main()
