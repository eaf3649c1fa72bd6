"""``blotter``: run the portal and publish data from a terminal.

This module is the program: its command group and, in order, the commands of each module
beside it (``serving``, ``publishing``, ``accounts``, ``profiles``; ``common`` holds what
they share)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from blotter.cli import accounts, profiles, publishing, serving
from blotter.cli.common import fail
from blotter.errors import BlotterError


class _PortalErrors(TyperGroup):
    """The one place the command line reports a portal error, whichever command raised it
    (a database lost mid-command included): the message in words, every problem of a file
    that failed validation, exit code 1, never a traceback."""

    # Any: the context's base class is in typer's private, vendored copy of click.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BlotterError as err:
            fail(err)


app = typer.Typer(
    cls=_PortalErrors,
    help="Blotter: an open data portal for public safety, with a Socrata-compatible API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _quiet() -> None:
    """Commands report what matters themselves, in words; the libraries' warnings (a pool
    retrying a lost database) would only repeat it. ``serve`` logs them again."""
    logging.getLogger().addHandler(logging.NullHandler())


# The commands in the order ``blotter --help`` lists them.
app.command()(serving.serve)
app.command()(serving.demo)
app.command()(publishing.load)
app.command()(publishing.datasets)
app.add_typer(publishing.versions, name="versions")
app.add_typer(accounts.users, name="user")
app.add_typer(accounts.tokens, name="token")
app.add_typer(profiles.profiles, name="profile")


def main() -> None:
    """The ``blotter`` program. A process that only loads a file runs without pandas, which
    nothing in a load needs and libraries would import only because it is installed
    (``ingest/lean.py``); run in-process (tests, ``CliRunner``), ``app`` leaves it alone."""
    if sys.argv[1:2] == ["load"]:
        from blotter.ingest.lean import without_pandas

        without_pandas()
    app()
