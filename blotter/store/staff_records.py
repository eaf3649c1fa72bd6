"""What a store keeps of the portal's staff and its own use, beside the datasets: accounts
and sign-in failures, sessions, the audit log, page views, import profiles and API tokens.

Part of the :class:`~blotter.store.base.Store` interface, kept apart so each file stays
readable; both engines implement it once, in ``store/records.py``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from blotter.model import ApiToken, AuditEntry, Role, Session, User


class StaffRecords(ABC):
    # --- accounts --------------------------------------------------------------------

    @abstractmethod
    def add_user(self, user: User, password_hash: str) -> User:
        """Store a new account; Conflict when the name is taken."""

    @abstractmethod
    def user_credentials(self, name: str) -> tuple[User, str] | None:
        """An account and its password hash, or None."""

    @abstractmethod
    def list_users(self) -> list[User]: ...

    @abstractmethod
    def update_user(
        self,
        name: str,
        *,
        role: Role | None = None,
        agency: str | None = None,
        disabled: bool | None = None,
        password_hash: str | None = None,
    ) -> User: ...

    @abstractmethod
    def login_state(self, name: str) -> tuple[int, datetime | None]:
        """(consecutive failed sign-ins, locked until) of an account."""

    @abstractmethod
    def set_login_state(self, name: str, failed: int, locked_until: datetime | None) -> None: ...

    @abstractmethod
    def name_failures(self, name: str) -> tuple[int, datetime | None]:
        """(consecutive failed sign-ins, locked until) of a name that is no account."""

    @abstractmethod
    def set_name_failures(
        self, name: str, failed: int, locked_until: datetime | None, at: datetime
    ) -> None: ...

    # --- sessions, audit, import profiles --------------------------------------------

    @abstractmethod
    def add_session(self, id_hash: str, session: Session) -> None: ...

    @abstractmethod
    def get_session(self, id_hash: str) -> Session | None: ...

    @abstractmethod
    def delete_sessions(
        self, *, id_hash: str | None = None, user_name: str | None = None
    ) -> None: ...

    @abstractmethod
    def add_audit(self, entry: AuditEntry) -> None:
        """Append one audit entry; there is deliberately no way to change or remove one."""

    @abstractmethod
    def audit_log(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        dataset_id: str | None = None,
        action: str | None = None,
    ) -> list[AuditEntry]: ...

    @abstractmethod
    def count_view(self, dataset_id: str) -> None:
        """One more opening of a dataset's page."""

    @abstractmethod
    def view_counts(self) -> dict[str, int]: ...

    @abstractmethod
    def save_profile(self, name: str, spec_yaml: str, by: str, at: datetime) -> None: ...

    @abstractmethod
    def get_profile(self, name: str) -> str | None: ...

    @abstractmethod
    def list_profiles(self) -> list[tuple[str, datetime, str]]: ...

    @abstractmethod
    def add_token(self, token: ApiToken, secret_hash: str) -> ApiToken: ...

    @abstractmethod
    def token_with_hash(self, token_id: str) -> tuple[ApiToken, str] | None:
        """A token's record and its secret's hash, or None."""

    @abstractmethod
    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]: ...

    @abstractmethod
    def mark_token(
        self, token_id: str, *, used_at: datetime | None = None, revoked_at: datetime | None = None
    ) -> None:
        """Record a token's last use, or revoke it; DatasetNotFound-like NotFound if unknown."""
