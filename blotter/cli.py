"""``blotter``: run the portal and publish data from a terminal."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from blotter.errors import BlotterError, ValidationFailed
from blotter.model import Role, User
from blotter.settings import Settings
from blotter.store import Store, open_store

if TYPE_CHECKING:
    from blotter.access import Viewer
    from blotter.ingest.spec import DatasetSpec

console = Console()
err_console = Console(stderr=True)


class _PortalErrors(TyperGroup):
    """The one place the command line reports a portal error, whichever command raised it
    (a database lost mid-command included): the message in words, every problem of a file
    that failed validation, exit code 1, never a traceback."""

    # Any: the context's base class is in typer's private, vendored copy of click.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BlotterError as err:
            _fail(err)


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


def _settings(
    data_dir: Path | None,
    host: str | None = None,
    port: int | None = None,
    database_url: str | None = None,
) -> Settings:
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
def _store(settings: Settings) -> Iterator[Store]:
    """The store, closed at the end even when the command fails."""
    store = open_store(settings)
    try:
        yield store
    finally:
        store.close()


def _fail(err: BlotterError) -> NoReturn:
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
def _progress(label: str) -> Iterator[Callable[[int], None]]:
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)
        yield lambda rows: progress.update(task, completed=rows)


# Idle keep-alive connections are closed after this many seconds. uvicorn's 5 s equals
# httpx's own pool expiry, so a client reusing a connection just as the server closed it lost
# the request (the benchmark's load test saw it); a minute is what proxies and clients expect
# (requests keeps connections for ever), and an idle connection costs the server almost nothing.
KEEP_ALIVE_S = 65


def _serve(settings: Settings, workers: int = 1) -> None:
    import uvicorn

    # A server's warnings (a database lost, an answer cut short) belong in its log.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s:  %(message)s", force=True)

    if workers == 1:
        from blotter.app import create_app

        portal_app = create_app(settings)
        console.print(f"Blotter is serving at [bold]http://{settings.host}:{settings.port}[/]")
        uvicorn.run(
            portal_app,
            host=settings.host,
            port=settings.port,
            h11_max_incomplete_event_size=_parser_room(settings),
            timeout_keep_alive=KEEP_ALIVE_S,
        )
        return
    if not settings.database_url:
        err_console.print(
            "[bold red]Error:[/] several workers need PostgreSQL (--database-url): "
            "the embedded DuckDB file can be open in one process only."
        )
        raise typer.Exit(code=2)
    # Reach the database (and bring its schema up to date) once here, so an unreachable one
    # is one line, not a traceback from every worker.
    open_store(settings).close()
    console.print(f"Blotter is serving at [bold]http://{settings.host}:{settings.port}[/]")
    # Each worker process builds its own app from the environment.
    # A setting left unset stays unset (its text "None" would be read as a value).
    for name, value in settings.model_dump(mode="json").items():
        key = f"BLOTTER_{name.upper()}"
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value if isinstance(value, str) else json.dumps(value)
    uvicorn.run(
        "blotter.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        h11_max_incomplete_event_size=_parser_room(settings),
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def _parser_room(settings: Settings) -> int:
    """Room in the h11 parser for the longest URL the portal takes and its headers, so a
    long URL gets the portal's own 414 (with its error body), not the server's plain 400."""
    return settings.max_url_bytes + (64 << 10)


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    database_url: DatabaseUrl = None,
    workers: Workers = 1,
) -> None:
    """Serve the portal: pages for people, the SODA API for programs."""
    _serve(_settings(data_dir, host, port, database_url), workers)


@app.command()
def demo(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    database_url: DatabaseUrl = None,
    workers: Workers = 1,
) -> None:
    """Load the sample datasets into an empty portal, then serve it."""
    from blotter.samples import load_samples

    settings = _settings(data_dir, host, port, database_url)
    with _store(settings) as store:
        if store.list_datasets():
            console.print(f"{settings.database_path} already holds datasets; serving them.")
        else:
            with _progress("Loading sample datasets") as tick:
                results = load_samples(store, progress=tick)
            for result in results:
                dataset = store.get_dataset(result.dataset_id)
                console.print(f"  {dataset.id}  {dataset.row_count:>7,} rows  {dataset.meta.name}")
            if not store.list_users():
                _demo_admin(store)
    _serve(settings, workers)


def _operator() -> Viewer:
    """Whoever runs the command line has the machine's full rights, as an administrator;
    the audit log names them "cli"."""
    from blotter.access import Viewer

    return Viewer(
        user=User(name="cli", role=Role.ADMIN, created_at=datetime.now()),
        address="local",
        via="cli",
    )


def _demo_admin(store: Store) -> None:
    """A first administrator for the demo, with a random passphrase shown once, so the staff
    pages can be tried at once (a real portal creates its own with 'blotter user add')."""
    import secrets

    from blotter.accounts import add_user

    password = "-".join(secrets.token_urlsafe(6) for _ in range(4))
    add_user(store, "admin", Role.ADMIN, password)
    console.print(
        f"Staff sign-in at /login: account [bold]admin[/bold], password [bold]{password}[/bold] "
        "(shown once; add more accounts from the Users page)."
    )


@app.command()
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
    from blotter.privacy import count_words

    if (dataset is None) == (not new):
        err_console.print("Give exactly one of --dataset ID (new version) or --new.")
        raise typer.Exit(code=2)
    if spec and profile:
        err_console.print("Give --spec or --profile, not both.")
        raise typer.Exit(code=2)
    if upsert and not dataset:
        err_console.print("--upsert adds rows to an existing dataset: give --dataset ID.")
        raise typer.Exit(code=2)
    settings = _settings(data_dir, database_url=database_url)
    operator = _operator()
    with _store(settings) as store:
        dataset_spec: DatasetSpec | None
        if profile:
            from blotter.management import profile_spec

            dataset_spec = profile_spec(store, profile)
            if dataset is None:
                dataset_spec = dataset_spec.model_copy(update={"id": None})
        else:
            dataset_spec = load_spec_file(spec) if spec else None
        with _progress(f"Loading {file.name}") as tick:
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
                audit(
                    store,
                    operator,
                    "dataset.publish",
                    dataset_id,
                    file=file.name,
                    version=version,
                    rows=rows,
                    privacy=result.privacy,
                )
    for note in notes:
        console.print(f"Note: {note}")
    console.print(f"Published {rows:,} rows as version {version} of dataset {dataset_id}.")


@app.command()
def datasets(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the datasets with their ids, rows and versions."""
    settings = _settings(data_dir, database_url=database_url)
    with _store(settings) as store:
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
app.add_typer(versions, name="versions")


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

    settings = _settings(data_dir, database_url=database_url)
    retention = Retention.parse(settings.keep_versions)
    with _store(settings) as store:
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
                    _operator(),
                    "versions.prune",
                    report.dataset_id,
                    versions=report.versions,
                    history_rows=report.history_rows,
                    rule=settings.keep_versions,
                )


def _dropped(tables: list[str]) -> str:
    return f" (history tables dropped: {', '.join(tables)})" if tables else ""


users = typer.Typer(help="Staff accounts: admins, publishers and analysts.", no_args_is_help=True)
app.add_typer(users, name="user")


@users.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Account name, e.g. jsmith.")],
    role: Annotated[
        Role,
        typer.Option(
            help="admin (everything), publisher (their agency's datasets) or "
            "analyst (reads internal data)."
        ),
    ],
    agency: Annotated[str, typer.Option(help="The agency a publisher publishes for.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a staff account; the password is asked for twice and stored only as a hash."""
    from blotter.accounts import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = _settings(data_dir, database_url=database_url)
    with _store(settings) as store:
        user = add_user(store, name, role, password, agency)
    where = f" for {user.agency}" if user.agency else ""
    console.print(f"Created {user.role} account '{user.name}'{where}.")


@users.command("list")
def user_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the staff accounts (never their passwords)."""
    settings = _settings(data_dir, database_url=database_url)
    with _store(settings) as store:
        table = Table("name", "role", "agency", "created (UTC)")
        for user in store.list_users():
            table.add_row(
                user.name, str(user.role), user.agency, user.created_at.strftime("%Y-%m-%d %H:%M")
            )
        console.print(table)


tokens = typer.Typer(help="API tokens: shown once, stored hashed, revocable.", no_args_is_help=True)
app.add_typer(tokens, name="token")


@tokens.command("create")
def token_create(
    user: Annotated[str, typer.Argument(help="The account the token acts for.")],
    scope: Annotated[
        list[str],
        typer.Option(
            help="read-internal, write:<dataset id> (rows), manage:<dataset id> (rows, "
            "metadata, visibility, deletion) or admin; repeatable."
        ),
    ],
    label: Annotated[str, typer.Option(help="What the token is for, e.g. 'monthly upload'.")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API token and print it once: it cannot be shown again."""
    from blotter.accounts import create_token

    with _store(_settings(data_dir, database_url=database_url)) as store:
        record, secret = create_token(store, user, label, scope)
    console.print(f"Token {record.id} for {record.user_name} ({', '.join(record.scopes)}).")
    console.print("Copy it now; it is stored only as a hash and cannot be shown again:")
    print(secret)  # plain stdout, so scripts can capture the secret without rich formatting


@tokens.command("list")
def token_list(
    user: Annotated[str | None, typer.Argument(help="Only this account's tokens.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List tokens with their scopes and last use (never their secrets)."""
    with _store(_settings(data_dir, database_url=database_url)) as store:
        table = Table("id", "account", "label", "scopes", "last used", "revoked")
        for t in store.list_tokens(user):
            table.add_row(
                t.id,
                t.user_name,
                t.label,
                ", ".join(t.scopes),
                t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never",
                "yes" if t.revoked_at else "",
            )
        console.print(table)


@tokens.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from token list).")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a token at once, everywhere."""
    from blotter.accounts import revoke_token

    with _store(_settings(data_dir, database_url=database_url)) as store:
        revoke_token(store, token_id)
    console.print(f"Token {token_id} is revoked.")


profiles = typer.Typer(
    help="Import profiles: saved mappings from a records system's export to a dataset.",
    no_args_is_help=True,
)
app.add_typer(profiles, name="profile")


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

    operator = _operator()
    with _store(_settings(data_dir, database_url=database_url)) as store:
        spec = save_profile(store, operator, name, file.read_text(encoding="utf-8"))
    console.print(f"Saved profile '{name}' ({len(spec.columns)} columns).")


@profiles.command("list")
def profile_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the saved import profiles."""
    with _store(_settings(data_dir, database_url=database_url)) as store:
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
    with _store(_settings(data_dir, database_url=database_url)) as store:
        text = store.get_profile(name)
    if text is None:
        err_console.print(f"There is no profile '{name}'.")
        raise typer.Exit(code=1)
    print(text)


def main() -> None:
    """The ``blotter`` program. A process that only loads a file runs without pandas, which
    nothing in a load needs and libraries would import only because it is installed
    (``ingest/lean.py``); run in-process (tests, ``CliRunner``), ``app`` leaves it alone."""
    if sys.argv[1:2] == ["load"]:
        from blotter.ingest.lean import without_pandas

        without_pandas()
    app()


if __name__ == "__main__":
    main()
