"""``python -m kerf``: the same as the ``kerf`` command."""

from kerf.cli.app import main

main()
