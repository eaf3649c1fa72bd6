"""``blotter profile``: import profiles, saved mappings from a records system's export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from blotter.cli.common import (
    DatabaseUrl,
    DataDir,
    cli_operator,
    console,
    err_console,
    opened_store,
    settings_of,
)

profiles = typer.Typer(
    help="Import profiles: saved mappings from a records system's export to a dataset.",
    no_args_is_help=True,
)


@profiles.command("save")
def profile_save(
    name: Annotated[str, typer.Argument(help="Profile name, e.g. takoma-park-arrests.")],
    file: Annotated[
        Path, typer.Argument(help="Dataset file (YAML) with the columns.", exists=True)
    ],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Check a dataset file and save its columns and cleaning as a named profile."""
    from blotter.management import save_profile

    operator = cli_operator()
    with opened_store(settings_of(data_dir, database_url=database_url)) as store:
        spec = save_profile(store, operator, name, file.read_text(encoding="utf-8"))
    console.print(f"Saved profile '{name}' ({len(spec.columns)} columns).")


@profiles.command("list")
def profile_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the saved import profiles."""
    with opened_store(settings_of(data_dir, database_url=database_url)) as store:
        table = Table("name", "saved (UTC)", "by")
        for profile_name, at, by in store.list_profiles():
            table.add_row(profile_name, at.strftime("%Y-%m-%d %H:%M"), by)
        console.print(table)


@profiles.command("show")
def profile_show(
    name: Annotated[str, typer.Argument(help="Profile name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print a profile's YAML, to edit and save again."""
    with opened_store(settings_of(data_dir, database_url=database_url)) as store:
        text = store.get_profile(name)
    if text is None:
        err_console.print(f"There is no profile '{name}'.")
        raise typer.Exit(code=1)
    print(text)
