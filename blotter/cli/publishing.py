"""``blotter load``, ``blotter datasets`` and ``blotter versions prune``: a dataset's rows
and versions from a terminal."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from blotter.cli.common import (
    DatabaseUrl,
    DataDir,
    cli_operator,
    console,
    err_console,
    opened_store,
    progress,
    settings_of,
)

if TYPE_CHECKING:
    from blotter.ingest.spec import DatasetSpec
    from blotter.settings import Settings
    from blotter.store.base import Store


def load(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX file to publish.", exists=True)],
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Publish as a new version of this dataset id.")
    ] = None,
    new: Annotated[bool, typer.Option("--new", help="Create a new dataset from the file.")] = False,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            help="Dataset file (YAML): metadata, columns, types and cleaning. "
            "Without it, column types are inferred.",
            exists=True,
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="A saved import profile (see 'blotter profile'): the file's columns and "
            "cleaning; the dataset keeps its own metadata.",
        ),
    ] = None,
    upsert: Annotated[
        bool,
        typer.Option(
            "--upsert",
            help="Add the file's rows and update those with the same row identifier, "
            "instead of replacing every row (with --dataset).",
        ),
    ] = False,
    name: Annotated[str | None, typer.Option(help="Name of a new dataset (with --new).")] = None,
    note: Annotated[
        str, typer.Option("--note", help="The publisher's note on the version, in its history.")
    ] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Publish a file as a new immutable version. Nothing changes if any row is invalid."""
    from blotter.access import audit
    from blotter.ingest.pipeline import load_file
    from blotter.ingest.spec import load_spec_file
    from blotter.privacy import count_words, withdrawn_words

    if (dataset is None) == (not new):
        err_console.print("Give exactly one of --dataset ID (new version) or --new.")
        raise typer.Exit(code=2)
    if spec and profile:
        err_console.print("Give --spec or --profile, not both.")
        raise typer.Exit(code=2)
    if upsert and not dataset:
        err_console.print("--upsert adds rows to an existing dataset: give --dataset ID.")
        raise typer.Exit(code=2)
    settings = settings_of(data_dir, database_url=database_url)
    operator = cli_operator()
    if settings.stored_answers:
        # The first view stored after the load draws its key chart and its map: the drawing
        # process starts its engine (about 0.65 s) on the other core while the file is read.
        from blotter.web.drawing_process import start_drawing_process

        start_drawing_process()
    with opened_store(settings) as store:
        dataset_spec: DatasetSpec | None
        if profile:
            from blotter.management import profile_spec

            dataset_spec = profile_spec(store, profile)
            if dataset is None:
                dataset_spec = dataset_spec.model_copy(update={"id": None})
        else:
            dataset_spec = load_spec_file(spec) if spec else None
        with progress(f"Loading {file.name}") as tick:
            if dataset and (profile or upsert):
                # The upload API's path: a plain load does not import it.
                from blotter.management import publish_file

                outcome = publish_file(
                    store,
                    operator,
                    dataset,
                    file,
                    spec=dataset_spec,
                    mode="upsert" if upsert else "replace",
                    guard=False,  # the operator's own command: no confirmation asked
                    note=note,
                )
                dataset_id, version, rows = dataset, outcome["version"], outcome["rows"]
                notes = outcome.get("notes", []) + count_words(outcome.get("privacy", {}))
            else:
                result = load_file(
                    store,
                    file,
                    spec=dataset_spec,
                    dataset_id=dataset,
                    name=name,
                    progress=tick,
                    note=note,
                )
                dataset_id, version, rows = result.dataset_id, result.version, result.row_count
                notes = result.notes + count_words(result.privacy)
                if result.withdrawn:
                    words = withdrawn_words(result.withdrawn)
                    notes.append(f"{words} ({result.withdrawn_reason}).")
                audit(
                    store,
                    operator,
                    "dataset.publish",
                    dataset_id,
                    file=file.name,
                    version=version,
                    rows=rows,
                    privacy=result.privacy,
                    **({"withdrawn": result.withdrawn} if result.withdrawn else {}),
                )
        stored = _store_first_view(settings, store, dataset_id)
    for note in notes:
        console.print(f"Note: {note}")
    console.print(f"Published {rows:,} rows as version {version} of dataset {dataset_id}.")
    if stored:
        console.print(f"Stored {stored} answers of its page's first view.")


def _store_first_view(settings: Settings, store: Store, dataset_id: str) -> int:
    """The new version's unfiltered page's costliest answers, computed now and stored
    (``web/first_view.py``); a failure there is the page's to meet later, not the load's."""
    from blotter.errors import BlotterError
    from blotter.portal import Portal
    from blotter.web.first_view import store_first_view

    try:
        return store_first_view(Portal(settings=settings, store=store), dataset_id)
    except BlotterError as err:
        err_console.print(f"The page's first view was not stored: {err.message}")
        return 0


def datasets(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the datasets with their ids, rows and versions."""
    settings = settings_of(data_dir, database_url=database_url)
    with opened_store(settings) as store:
        table = Table("id", "name", "rows", "version", "updated (UTC)")
        for ds in store.list_datasets():
            table.add_row(
                ds.id,
                ds.meta.name,
                f"{ds.row_count:,}",
                str(ds.version),
                ds.updated_at.strftime("%Y-%m-%d %H:%M"),
            )
        console.print(table)


versions = typer.Typer(help="Datasets' versions and their retention.", no_args_is_help=True)


@versions.command("prune")
def versions_prune(
    dataset: Annotated[
        str | None, typer.Option(help="Only this dataset (its id) [default: every dataset].")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be removed; remove nothing.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove the versions BLOTTER_KEEP_VERSIONS does not keep: they stay listed as pruned,
    their rows no kept version needs are deleted."""
    from blotter.access import audit
    from blotter.store.retention import Retention

    settings = settings_of(data_dir, database_url=database_url)
    retention = Retention.parse(settings.keep_versions)
    with opened_store(settings) as store:
        reports = store.prune_versions(retention, dataset_id=dataset, dry_run=dry_run)
        would = "would remove" if dry_run else "removed"
        console.print(
            f"Keeping {retention.words()} (BLOTTER_KEEP_VERSIONS={settings.keep_versions})."
        )
        for report in reports:
            if not report.versions:
                console.print(f"{report.dataset_id}: nothing to prune.")
                continue
            numbers = ", ".join(map(str, report.versions))
            console.print(
                f"{report.dataset_id}: {would} version(s) {numbers}: {report.history_rows:,} "
                f"history row(s){_dropped(report.tables)}; kept: "
                f"{', '.join(map(str, report.kept))}."
            )
            if not dry_run:
                audit(
                    store,
                    cli_operator(),
                    "versions.prune",
                    report.dataset_id,
                    versions=report.versions,
                    history_rows=report.history_rows,
                    rule=settings.keep_versions,
                )


@versions.command("reapply-privacy")
def versions_reapply_privacy(
    dataset: Annotated[
        str | None, typer.Option(help="Only this dataset (its id) [default: every dataset].")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say which rows would change; write nothing.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Apply each dataset's privacy rules again to its served rows, as this version of
    Blotter applies them. Run it after an upgrade: where a rule now changes a published row
    (an address form the hundred-block rule used to miss), the rows are written again as a
    new version and every earlier version is withdrawn."""
    from blotter.management.tighten import apply_rules_again

    settings = settings_of(data_dir, database_url=database_url)
    with opened_store(settings) as store:
        chosen = [store.get_dataset(dataset)] if dataset else store.list_datasets()
        for each in chosen:
            rules = each.meta.privacy
            if rules.is_empty() or not each.version:
                console.print(f"{each.id}: no privacy rules or no rows; nothing to do.")
                continue
            if dry_run:
                changed, left_out = store.privacy_changes(each.id, rules, rules)
                console.print(
                    f"{each.id}: would change {changed:,} row(s) and leave out {left_out:,}."
                    if changed or left_out
                    else f"{each.id}: its rows already obey its rules."
                )
                continue
            applied = apply_rules_again(store, cli_operator(), each)
            console.print(
                f"{each.id}: {applied.message()}"
                if applied
                else f"{each.id}: its rows already obey its rules; nothing written."
            )


def _dropped(tables: list[str]) -> str:
    return f" (history tables dropped: {', '.join(tables)})" if tables else ""
