"""The ``kerf`` command line (Typer). One thin module per command."""
