"""`python -m cfae ...`: the same as the `cfae` command."""

from cfae.cli import app

app(prog_name="cfae")
