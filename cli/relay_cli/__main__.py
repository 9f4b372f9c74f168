"""`python -m relay_cli` = `relay`."""

from relay_cli.main import cli

cli(prog_name="relay")
