"""Staff accounts: names, roles, and passwords hashed with Argon2 (never stored in clear)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from blotter.errors import InvalidRequest
from blotter.model import USER_NAME, Role, User
from blotter.store.base import Store
from blotter.store.common import now

MIN_PASSWORD = 12
_hasher = PasswordHasher()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(
            f"A password needs at least {MIN_PASSWORD} characters; a passphrase of a few "
            "words is easy to remember and hard to guess."
        )


def add_user(store: Store, name: str, role: Role, password: str, agency: str = "") -> User:
    """Create an account. Publishers belong to an agency; their datasets are its datasets."""
    if not USER_NAME.match(name):
        raise InvalidRequest(
            f"'{name}' is not an account name: 2 to 63 lowercase letters, digits, '.', '_' "
            "or '-', starting with a letter or digit.",
            name=name,
        )
    if role is Role.PUBLISHER and not agency:
        raise InvalidRequest(
            "A publisher needs an agency (--agency): it decides which datasets they may publish."
        )
    check_password_strength(password)
    user = User(name=name, role=role, agency=agency, created_at=now())
    return store.add_user(user, _hasher.hash(password))


def verify_password(store: Store, name: str, password: str) -> User | None:
    """The account when the password is right, else None (the same for unknown names)."""
    found = store.user_credentials(name)
    if found is None:
        _hasher.hash(password)  # spend the same time, so names cannot be probed by timing
        return None
    user, stored = found
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    return user
