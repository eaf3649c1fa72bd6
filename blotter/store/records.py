"""The catalog's small records (accounts, API tokens, sign-ins, sessions, audit, import
profiles), written once for every SQL engine.

Each engine supplies two primitives, ``_query`` (a read) and ``_transaction`` (statements in
one write transaction), that take constant SQL in DuckDB's dialect with ``?`` placeholders
and bound values; PostgreSQL's store has sqlglot write each statement for it (``pgsql``).
"""

from __future__ import annotations

import json
from abc import abstractmethod
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from blotter.errors import Conflict, NotFound
from blotter.model import ApiToken, AuditEntry, Role, Session, User
from blotter.store.common import TOKEN_FIELDS, token_from_row

_USER_FIELDS = "name, role, agency, created_at, disabled"


class Statements(Protocol):
    """Statements run inside one write transaction."""

    def rows(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """Run a statement that returns rows (a SELECT, or a write with RETURNING)."""
        ...

    def run(self, sql: str, params: list[Any]) -> None:
        """Run a statement whose rows, if any, are not needed."""
        ...


def _user(row: tuple[Any, ...]) -> User:
    name, role, agency, created, disabled = row
    return User(
        name=name, role=Role(role), agency=agency, created_at=created, disabled=bool(disabled)
    )


class SqlRecords:
    """Accounts, sessions, audit entries and profiles over an engine's two primitives."""

    @abstractmethod
    def _query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """Rows of a read (on a replica when the engine has one)."""

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Statements]:
        """One write transaction, committed when the block ends (rolled back if it raises)."""

    def _records_transaction(self) -> AbstractContextManager[Statements]:
        """A write of records only (accounts, sessions, audit entries, page views, quality
        reports, profiles): it changes no dataset, so an engine keeping datasets keeps them."""
        return self._transaction()

    def _commands(self, steps: list[tuple[str, list[Any]]]) -> None:
        """Writes run in one transaction, committed before returning."""
        with self._records_transaction() as tx:
            for sql, params in steps:
                tx.run(sql, params)

    def _command(self, sql: str, params: list[Any]) -> None:
        self._commands([(sql, params)])

    # --- accounts --------------------------------------------------------------------

    def add_user(self, user: User, password_hash: str) -> User:
        """Store a new account; Conflict when the name is taken."""
        with self._records_transaction() as tx:
            inserted = tx.rows(
                "INSERT INTO blotter_users (name, role, agency, password_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name",
                [user.name, str(user.role), user.agency, password_hash, user.created_at],
            )
        if not inserted:
            raise Conflict(f"The account '{user.name}' already exists.", user=user.name)
        return user

    def user_credentials(self, name: str) -> tuple[User, str] | None:
        """An account and its password hash, or None."""
        rows = self._query(
            f"SELECT {_USER_FIELDS}, password_hash FROM blotter_users WHERE name = ?",  # noqa: S608 - constant
            [name],
        )
        return (_user(rows[0][:-1]), rows[0][-1]) if rows else None

    def list_users(self) -> list[User]:
        rows = self._query(f"SELECT {_USER_FIELDS} FROM blotter_users ORDER BY name", [])  # noqa: S608 - constant
        return [_user(row) for row in rows]

    def update_user(
        self,
        name: str,
        *,
        role: Role | None = None,
        agency: str | None = None,
        disabled: bool | None = None,
        password_hash: str | None = None,
    ) -> User:
        """Change an account; NotFound when there is none."""
        if self.user_credentials(name) is None:
            raise NotFound(f"There is no account '{name}'.", user=name)
        self._command(
            "UPDATE blotter_users SET role = coalesce(?, role), agency = coalesce(?, agency), "
            "disabled = coalesce(?, disabled), password_hash = coalesce(?, password_hash) "
            "WHERE name = ?",
            [str(role) if role else None, agency, disabled, password_hash, name],
        )
        found = self.user_credentials(name)
        assert found is not None
        return found[0]

    def login_state(self, name: str) -> tuple[int, datetime | None]:
        """(consecutive failed sign-ins, locked until) of an account; (0, None) if unknown."""
        rows = self._query(
            "SELECT failed_logins, locked_until FROM blotter_users WHERE name = ?", [name]
        )
        return (rows[0][0] or 0, rows[0][1]) if rows else (0, None)

    def set_login_state(self, name: str, failed: int, locked_until: datetime | None) -> None:
        self._command(
            "UPDATE blotter_users SET failed_logins = ?, locked_until = ? WHERE name = ?",
            [failed, locked_until, name],
        )

    def name_failures(self, name: str) -> tuple[int, datetime | None]:
        """(consecutive failed sign-ins, locked until) of a name that is no account."""
        rows = self._query(
            "SELECT failed, locked_until FROM blotter_name_failures WHERE name = ?", [name]
        )
        return (rows[0][0], rows[0][1]) if rows else (0, None)

    def set_name_failures(
        self, name: str, failed: int, locked_until: datetime | None, at: datetime
    ) -> None:
        """Record a name's failures as of ``at`` (none: forgotten); failures older than a
        day are forgotten too, so the table holds at most a day of made-up names."""
        statements: list[tuple[str, list[Any]]] = [
            (
                "DELETE FROM blotter_name_failures WHERE name = ? OR last_failed < ?",
                [name, at - timedelta(days=1)],
            ),
        ]
        if failed:
            statements.append(
                (
                    "INSERT INTO blotter_name_failures VALUES (?, ?, ?, ?)",
                    [name, failed, locked_until, at],
                )
            )
        self._commands(statements)

    # --- API tokens ------------------------------------------------------------------

    def add_token(self, token: ApiToken, secret_hash: str) -> ApiToken:
        self._command(
            "INSERT INTO blotter_tokens (id, user_name, label, scopes, secret_hash, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                token.id,
                token.user_name,
                token.label,
                json.dumps(token.scopes),
                secret_hash,
                token.created_at,
            ],
        )
        return token

    def token_with_hash(self, token_id: str) -> tuple[ApiToken, str] | None:
        """A token's record and its secret's hash, or None."""
        rows = self._query(
            f"SELECT {TOKEN_FIELDS}, secret_hash FROM blotter_tokens WHERE id = ?",  # noqa: S608 - constant
            [token_id],
        )
        return (token_from_row(rows[0][:-1]), rows[0][-1]) if rows else None

    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        rows = self._query(f"SELECT {TOKEN_FIELDS} FROM blotter_tokens ORDER BY created_at", [])  # noqa: S608 - constant
        tokens = [token_from_row(row) for row in rows]
        return [t for t in tokens if user_name is None or t.user_name == user_name]

    def mark_token(
        self, token_id: str, *, used_at: datetime | None = None, revoked_at: datetime | None = None
    ) -> None:
        """Record a token's last use, or revoke it (a revocation is never undone)."""
        self._command(
            "UPDATE blotter_tokens SET last_used_at = coalesce(?, last_used_at), "
            "revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
            [used_at, revoked_at, token_id],
        )

    # --- sessions --------------------------------------------------------------------

    def add_session(self, id_hash: str, session: Session) -> None:
        """Store a new session; expired ones are cleared on the way."""
        self._commands(
            [
                ("DELETE FROM blotter_sessions WHERE expires_at < ?", [session.created_at]),
                (
                    "INSERT INTO blotter_sessions VALUES (?, ?, ?, ?, ?)",
                    [
                        id_hash,
                        session.user_name,
                        session.csrf,
                        session.created_at,
                        session.expires_at,
                    ],
                ),
            ]
        )

    def get_session(self, id_hash: str) -> Session | None:
        rows = self._query(
            "SELECT user_name, csrf, created_at, expires_at FROM blotter_sessions "
            "WHERE id_hash = ?",
            [id_hash],
        )
        if not rows:
            return None
        user, csrf, created, expires = rows[0]
        return Session(user_name=user, csrf=csrf, created_at=created, expires_at=expires)

    def delete_sessions(self, *, id_hash: str | None = None, user_name: str | None = None) -> None:
        """End one session, or every session of an account (when it is disabled)."""
        if id_hash is not None:
            self._command("DELETE FROM blotter_sessions WHERE id_hash = ?", [id_hash])
        if user_name is not None:
            self._command("DELETE FROM blotter_sessions WHERE user_name = ?", [user_name])

    # --- audit -----------------------------------------------------------------------

    def add_audit(self, entry: AuditEntry) -> None:
        self._command(
            "INSERT INTO blotter_audit VALUES (?, ?, ?, ?, ?, ?)",
            [
                entry.at,
                entry.actor,
                entry.address,
                entry.action,
                entry.dataset_id,
                json.dumps(entry.detail, default=str),
            ],
        )

    def audit_log(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        dataset_id: str | None = None,
        action: str | None = None,
    ) -> list[AuditEntry]:
        """Newest first; optionally only one dataset's entries, or one action's."""
        # One constant statement: an empty filter matches every entry.
        rows = self._query(
            "SELECT logged_at, actor, address, action, dataset_id, detail FROM blotter_audit "
            "WHERE (? = '' OR dataset_id = ?) AND (? = '' OR action = ?) "
            "ORDER BY logged_at DESC LIMIT ? OFFSET ?",
            [dataset_id or "", dataset_id or "", action or "", action or "", limit, offset],
        )
        return [
            AuditEntry(
                at=at,
                actor=actor,
                address=address,
                action=action,
                dataset_id=ds,
                detail=json.loads(detail) if isinstance(detail, str) else detail,
            )
            for at, actor, address, action, ds, detail in rows
        ]

    # --- page views ------------------------------------------------------------------

    def count_view(self, dataset_id: str) -> None:
        self._command(
            "INSERT INTO blotter_views VALUES (?, 1) ON CONFLICT (dataset_id) "
            "DO UPDATE SET views = blotter_views.views + 1",
            [dataset_id],
        )

    def view_counts(self) -> dict[str, int]:
        return {
            d: int(n) for d, n in self._query("SELECT dataset_id, views FROM blotter_views", [])
        }

    # --- quality reports -------------------------------------------------------------

    def save_quality(
        self, dataset_id: str, version: int, at: datetime, report: dict[str, Any]
    ) -> None:
        """Keep the quality report of one version (replacing one kept for it before)."""
        self._commands(
            [
                (
                    "DELETE FROM blotter_quality WHERE dataset_id = ? AND version = ?",
                    [dataset_id, version],
                ),
                (
                    "INSERT INTO blotter_quality VALUES (?, ?, ?, ?)",
                    [dataset_id, version, at, json.dumps(report, default=str)],
                ),
            ]
        )

    def latest_quality(self, dataset_id: str) -> dict[str, Any] | None:
        """The newest version's quality report, or None."""
        rows = self._query(
            "SELECT report FROM blotter_quality WHERE dataset_id = ? ORDER BY version DESC LIMIT 1",
            [dataset_id],
        )
        if not rows:
            return None
        report = rows[0][0]
        return json.loads(report) if isinstance(report, str) else dict(report)

    # --- answers stored per version --------------------------------------------------

    def save_answers(self, dataset_id: str, version: int, created_at: datetime, text: str) -> None:
        """Keep a version's stored answers (``queries/stored_answers.py``), replacing any kept
        for it before; ``created_at`` is the dataset's, which tells a dataset made again
        under the same id apart."""
        self._commands(
            [
                (
                    "DELETE FROM blotter_answers WHERE dataset_id = ? AND version = ?",
                    [dataset_id, version],
                ),
                (
                    "INSERT INTO blotter_answers VALUES (?, ?, ?, ?)",
                    [dataset_id, version, created_at, text],
                ),
            ]
        )

    def stored_answers(self, dataset_id: str, version: int, created_at: datetime) -> str | None:
        """A version's stored answers as :meth:`save_answers` kept them, or None."""
        rows = self._query(
            "SELECT answers FROM blotter_answers "
            "WHERE dataset_id = ? AND version = ? AND created_at = ?",
            [dataset_id, version, created_at],
        )
        return str(rows[0][0]) if rows else None

    # --- checksums given for a version ----------------------------------------------

    def keep_checksum(
        self, dataset_id: str, created_at: datetime, version: int, sha256: str, at: datetime
    ) -> None:
        """Record that ``sha256`` was given for a version (first time only)."""
        self._commands(
            [
                (
                    "INSERT INTO blotter_checksums VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [dataset_id, created_at, version, sha256, at],
                )
            ]
        )

    def checksums_given(
        self, dataset_id: str, created_at: datetime, version: int
    ) -> list[tuple[str, datetime]]:
        """Every SHA-256 recorded for a version, with when each was first given, oldest
        first."""
        rows = self._query(
            "SELECT sha256, first_given FROM blotter_checksums "
            "WHERE dataset_id = ? AND created_at = ? AND version = ? ORDER BY first_given, sha256",
            [dataset_id, created_at, version],
        )
        return [(str(sha), at) for sha, at in rows]

    # --- import profiles -------------------------------------------------------------

    def save_profile(self, name: str, spec_yaml: str, by: str, at: datetime) -> None:
        """Create or replace a named import profile (its dataset file, as YAML text)."""
        self._commands(
            [
                ("DELETE FROM blotter_profiles WHERE name = ?", [name]),
                ("INSERT INTO blotter_profiles VALUES (?, ?, ?, ?)", [name, spec_yaml, at, by]),
            ]
        )

    def get_profile(self, name: str) -> str | None:
        rows = self._query("SELECT spec FROM blotter_profiles WHERE name = ?", [name])
        return rows[0][0] if rows else None

    def list_profiles(self) -> list[tuple[str, datetime, str]]:
        """(name, updated at, updated by) of every profile."""
        rows = self._query(
            "SELECT name, updated_at, updated_by FROM blotter_profiles ORDER BY name", []
        )
        return [(n, t, b) for n, t, b in rows]
