"""What every command shares: its options, the settings and store it opens, the consoles it
writes to, how a portal error is told, and who the operator is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from blotter.errors import BlotterError, ValidationFailed
from blotter.model import Role, User
from blotter.settings import Settings
from blotter.store import Store, open_store

if TYPE_CHECKING:
    from blotter.access import Viewer

console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder holding the database file [env: BLOTTER_DATA_DIR; default: ./data].",
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="postgresql://user@host/db to use PostgreSQL instead of the embedded file "
        "[env: BLOTTER_DATABASE_URL].",
    ),
]
Workers = Annotated[
    int, typer.Option(min=1, help="Worker processes (PostgreSQL only; DuckDB allows one).")
]
Host = Annotated[str | None, typer.Option(help="Address to listen on [default: 127.0.0.1].")]
Port = Annotated[int | None, typer.Option(help="Port to listen on [env: PORT; default: 8000].")]


def settings_of(
    data_dir: Path | None,
    host: str | None = None,
    port: int | None = None,
    database_url: str | None = None,
) -> Settings:
    """The settings, with the flags given over the environment's."""
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    return Settings(**overrides)  # type: ignore[arg-type]


@contextmanager
def opened_store(settings: Settings) -> Iterator[Store]:
    """The store, closed at the end even when the command fails."""
    store = open_store(settings)
    try:
        yield store
    finally:
        store.close()


def fail(err: BlotterError) -> NoReturn:
    """A portal error in words (and the problem table of a file that failed validation),
    exit code 1."""
    err_console.print(f"[bold red]Error:[/] {err.message}", soft_wrap=True)
    if isinstance(err, ValidationFailed):
        table = Table("row", "column", "value", "problem", title=f"{err.total} problems")
        for problem in err.problems[:50]:
            table.add_row(
                str(problem.get("row", "")),
                str(problem.get("column", "")),
                repr(problem.get("value", "")),
                str(problem.get("reason", "")),
            )
        err_console.print(table)
        if err.total > 50:
            err_console.print(f"… and {err.total - 50} more.")
    raise typer.Exit(code=1)


@contextmanager
def progress(label: str) -> Iterator[Callable[[int], None]]:
    """A spinner counting rows on standard error; yields the function that updates it."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as shown:
        task = shown.add_task(label, total=None)
        yield lambda rows: shown.update(task, completed=rows)


def cli_operator() -> Viewer:
    """Whoever runs the command line has the machine's full rights, as an administrator;
    the audit log names them "cli"."""
    from blotter.access import Viewer

    return Viewer(
        user=User(name="cli", role=Role.ADMIN, created_at=datetime.now()),
        address="local",
        via="cli",
    )
