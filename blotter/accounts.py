"""Staff accounts and API tokens: passwords hashed with Argon2, token secrets with SHA-256;
neither is ever stored in clear."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import timedelta

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from blotter.errors import InvalidRequest, NotFound, StoreShortOfResources
from blotter.model import USER_NAME, ApiToken, Role, User
from blotter.store.base import Store
from blotter.store.common import now

MIN_PASSWORD = 12
# A token's last use is shown to the minute: recorded at most once a minute, so a client that
# sends its token with every request does not make every request a write.
USE_RECORDED_EVERY = timedelta(minutes=1)
log = logging.getLogger(__name__)
# Argon2id at RFC 9106's second recommended setting (64 MiB, 3 passes): a few hundred ms of
# CPU a hash, on purpose. credentials.py bounds how often a request may make one.
HASHING = profiles.RFC_9106_LOW_MEMORY
_hasher = PasswordHasher.from_parameters(HASHING)


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


def hash_password(password: str) -> str:
    """An Argon2 hash of a new password that is strong enough."""
    check_password_strength(password)
    return _hasher.hash(password)


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


# --- API tokens -------------------------------------------------------------------------

# read-internal: read internal datasets and columns; write:<dataset id>: publish that
# dataset's rows; manage:<dataset id>: its rows, metadata, visibility and deletion too;
# admin: everything the account's role allows.
SCOPE = re.compile(r"^(read-internal|admin|(write|manage):[a-z0-9]{4}-[a-z0-9]{4})$")
_TOKEN = re.compile(r"^blt_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})$")


def _digest(secret: str) -> str:
    # Secrets are 256 random bits: a plain SHA-256 is enough, and cheap on every request.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    store: Store, user_name: str, label: str, scopes: list[str]
) -> tuple[ApiToken, str]:
    """A new token for an account; the returned string is shown once and never stored."""
    if store.user_credentials(user_name) is None:
        raise InvalidRequest(f"There is no account '{user_name}'.", user=user_name)
    bad = [s for s in scopes if not SCOPE.match(s)]
    if bad or not scopes:
        raise InvalidRequest(
            f"Unknown scope(s): {', '.join(bad) or '(none given)'}. Scopes are read-internal, "
            "write:<dataset id>, manage:<dataset id> and admin.",
        )
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    record = ApiToken(
        id=token_id,
        user_name=user_name,
        label=label or "token",
        scopes=sorted(set(scopes)),
        created_at=now(),
    )
    store.add_token(record, _digest(secret))
    return record, f"blt_{token_id}_{secret}"


def check_token(store: Store, presented: str) -> ApiToken | None:
    """The token's record when ``presented`` is a live token (and its use is recorded)."""
    match = _TOKEN.match(presented)
    if match is None:
        return None
    found = store.token_with_hash(match.group(1))
    if found is None:
        return None
    record, stored = found
    if record.revoked_at is not None or not hmac.compare_digest(stored, _digest(match.group(2))):
        return None
    used = now()
    last = record.last_used_at
    if last is None or used - last >= USE_RECORDED_EVERY:
        try:
            store.mark_token(record.id, used_at=used)
        except StoreShortOfResources:  # a full disk: the request itself may still be a read
            log.warning("Token %s used, but its last use could not be recorded.", record.id)
    return record


def revoke_token(store: Store, token_id: str) -> None:
    if store.token_with_hash(token_id) is None:
        raise NotFound(f"There is no token '{token_id}'.", token=token_id)
    store.mark_token(token_id, revoked_at=now())
