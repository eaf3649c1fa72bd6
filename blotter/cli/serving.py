"""``blotter serve`` and ``blotter demo``: the portal on uvicorn, one process or several."""

from __future__ import annotations

import json
import logging
import os

import typer

from blotter.cli.common import (
    DatabaseUrl,
    DataDir,
    Host,
    Port,
    Workers,
    console,
    err_console,
    opened_store,
    progress,
    settings_of,
)
from blotter.model import Role
from blotter.settings import Settings
from blotter.store import Store, open_store

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
            access_log=settings.access_log,
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
        access_log=settings.access_log,
    )


def _parser_room(settings: Settings) -> int:
    """Room in the h11 parser for the longest URL the portal takes and its headers, so a
    long URL gets the portal's own 414 (with its error body), not the server's plain 400."""
    return settings.max_url_bytes + (64 << 10)


def serve(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    database_url: DatabaseUrl = None,
    workers: Workers = 1,
) -> None:
    """Serve the portal: pages for people, the SODA API for programs."""
    _serve(settings_of(data_dir, host, port, database_url), workers)


def demo(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    database_url: DatabaseUrl = None,
    workers: Workers = 1,
) -> None:
    """Load the sample datasets into an empty portal, then serve it."""
    from blotter.samples import load_samples

    settings = settings_of(data_dir, host, port, database_url)
    with opened_store(settings) as store:
        if store.list_datasets():
            console.print(f"{settings.database_path} already holds datasets; serving them.")
        else:
            with progress("Loading sample datasets") as tick:
                results = load_samples(store, progress=tick)
            for result in results:
                dataset = store.get_dataset(result.dataset_id)
                console.print(f"  {dataset.id}  {dataset.row_count:>7,} rows  {dataset.meta.name}")
            if not store.list_users():
                _demo_admin(store)
    _serve(settings, workers)


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
