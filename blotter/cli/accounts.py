"""``blotter user`` and ``blotter token``: staff accounts and their API tokens."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from blotter.cli.common import DatabaseUrl, DataDir, console, opened_store, settings_of
from blotter.model import Role

users = typer.Typer(help="Staff accounts: admins, publishers and analysts.", no_args_is_help=True)


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
    settings = settings_of(data_dir, database_url=database_url)
    with opened_store(settings) as store:
        user = add_user(store, name, role, password, agency)
    where = f" for {user.agency}" if user.agency else ""
    console.print(f"Created {user.role} account '{user.name}'{where}.")


@users.command("list")
def user_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the staff accounts (never their passwords)."""
    settings = settings_of(data_dir, database_url=database_url)
    with opened_store(settings) as store:
        table = Table("name", "role", "agency", "created (UTC)")
        for user in store.list_users():
            table.add_row(
                user.name, str(user.role), user.agency, user.created_at.strftime("%Y-%m-%d %H:%M")
            )
        console.print(table)


tokens = typer.Typer(help="API tokens: shown once, stored hashed, revocable.", no_args_is_help=True)


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

    with opened_store(settings_of(data_dir, database_url=database_url)) as store:
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
    with opened_store(settings_of(data_dir, database_url=database_url)) as store:
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

    with opened_store(settings_of(data_dir, database_url=database_url)) as store:
        revoke_token(store, token_id)
    console.print(f"Token {token_id} is revoked.")
