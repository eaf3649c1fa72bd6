"""Who sent a request: session cookies, HTTP Basic, API tokens; sign-in with back-off.

Browsers sign in with a form and get a session cookie (HttpOnly, SameSite=Lax, Secure over
HTTPS); the store keeps only the session id's hash, so a copied database cannot be used to
sign in, and signing out or disabling an account ends sessions on every host at once.
Scripts send HTTP Basic (account and password, or account and API token), ``Authorization:
Bearer <token>`` or the token as ``X-App-Token``, as Socrata clients do.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from starlette.requests import Request

from blotter.access import ANONYMOUS, Viewer, audit
from blotter.accounts import check_token, verify_password
from blotter.credentials import CredentialGuard, Verified
from blotter.errors import AccountLocked, AuthenticationRequired, PermissionDenied
from blotter.model import Session, User
from blotter.store.base import Store
from blotter.store.common import now

SESSION_COOKIE = "blotter_session"
SESSION_LIFETIME = timedelta(hours=12)
# Sign-in back-off: after FREE_FAILURES wrong passwords in a row an account is locked for a
# minute, doubling with each further failure up to an hour; a right password resets it.
FREE_FAILURES = 5
MAX_LOCK = timedelta(hours=1)
# Characters of an unknown name a failed sign-in keeps: more than any account name has
# (accounts.USER_NAME: at most 63), so two names cut alike were never accounts.
NAME_KEPT = 64


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def address_of(request: Request) -> str:
    return request.client.host if request.client else ""


def _login_state(store: Store, name: str, known: bool) -> tuple[int, datetime | None]:
    # A name no account has locks exactly as an account does, its failures kept in the
    # database too (every worker sees them): a lockout only real names got, or got sooner,
    # would tell who has an account.
    return store.login_state(name) if known else store.name_failures(name)


def _set_login_state(
    store: Store, name: str, known: bool, failed: int, locked_until: datetime | None
) -> None:
    if known:
        store.set_login_state(name, failed, locked_until)
    else:
        store.set_name_failures(name, failed, locked_until, now())


def sign_in(store: Store, name: str, password: str, address: str, *, via: str) -> User:
    """The account when the password is right; refusals and lockouts are audited. Known
    and unknown names get the same answers after the same work (a password hash), so
    neither the answer nor its time tells whether an account exists."""
    known = store.user_credentials(name) is not None
    # Anyone may send a name of a megabyte: what a refusal keeps of it (its audit entry, an
    # unknown name's lockout count) is no longer than an account name can be.
    kept = name if known else name[:NAME_KEPT]
    failed, locked_until = _login_state(store, kept, known)
    stamp = now()
    who = Viewer(address=address, via=via)
    if locked_until is not None and locked_until > stamp:
        audit(store, who, "login.refused-locked", user=kept)
        wait = max(1, int((locked_until - stamp).total_seconds() // 60) + 1)
        raise AccountLocked(
            f"Too many wrong passwords for this account: try again in {wait} minute"
            f"{'s' if wait != 1 else ''}.",
            retry_after_s=int((locked_until - stamp).total_seconds()) + 1,
        )
    user = verify_password(store, name, password)
    if user is None or user.disabled:
        failed += 1
        _set_login_state(store, kept, known, failed, _lock_after(failed, stamp))
        audit(store, who, "login.failed", user=kept, failures=failed)
        raise AuthenticationRequired("The account name or password is wrong.")
    if failed or locked_until:
        _set_login_state(store, kept, known, 0, None)
    return user


def _lock_after(failed: int, stamp: datetime) -> datetime | None:
    if failed < FREE_FAILURES:
        return None
    return stamp + min(timedelta(minutes=2 ** (failed - FREE_FAILURES)), MAX_LOCK)


def start_session(store: Store, user: User) -> tuple[str, Session]:
    """A new session id for the cookie (never stored) and its record."""
    session_id = secrets.token_urlsafe(32)
    stamp = now()
    session = Session(
        user_name=user.name,
        csrf=secrets.token_urlsafe(32),
        created_at=stamp,
        expires_at=stamp + SESSION_LIFETIME,
    )
    store.add_session(_digest(session_id), session)
    return session_id, session


def end_session(store: Store, session_id: str) -> None:
    store.delete_sessions(id_hash=_digest(session_id))


def session_of(store: Store, request: Request) -> tuple[Session, User] | None:
    """The live session the request's cookie names, and its account."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    session = store.get_session(_digest(session_id))
    if session is None or session.expires_at < now():
        return None
    found = store.user_credentials(session.user_name)
    if found is None or found[0].disabled:
        return None
    return session, found[0]


def viewer_of(request: Request, store: Store) -> Viewer:
    """Who sent the request, worked out once per request."""
    cached = getattr(request.state, "viewer", None)
    if isinstance(cached, Viewer):
        return cached
    viewer = _identify(request, store)
    request.state.viewer = viewer
    return viewer


def _identify(request: Request, store: Store) -> Viewer:
    address = address_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "basic":
        guard = guard_of(request)
        known = guard.remembered(header)
        if known is not None:
            return Viewer(user=known.user, scopes=known.scopes, address=address, via=known.via)
        viewer = _basic(store, credentials.strip(), address, guard)
        if viewer.user is not None:
            guard.remember(header, Verified(viewer.user, viewer.scopes, viewer.via))
        return viewer
    token = ""
    if scheme.lower() == "bearer":
        token = credentials.strip()
    elif request.headers.get("x-app-token", "").startswith("blt_"):
        token = request.headers["x-app-token"]
    elif request.query_params.get("$$app_token", "").startswith("blt_"):
        token = request.query_params["$$app_token"]
    if token:
        return _token_viewer(store, token, address)
    found = session_of(store, request)
    if found is not None:
        request.state.session = found[0]
        return Viewer(user=found[1], address=address, via="session")
    return Viewer(address=address) if address else ANONYMOUS


def guard_of(request: Request) -> CredentialGuard:
    """The app's guard of password checks (one per process)."""
    guard = getattr(request.app.state, "credential_guard", None)
    if not isinstance(guard, CredentialGuard):
        guard = request.app.state.credential_guard = CredentialGuard()
    return guard


def _basic(store: Store, credentials: str, address: str, guard: CredentialGuard) -> Viewer:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationRequired("The Basic credentials are not valid base64 text.") from None
    name, colon, secret = decoded.partition(":")
    if not colon:
        raise AuthenticationRequired("Basic credentials must be 'account:password'.")
    if secret.startswith("blt_"):
        viewer = _token_viewer(store, secret, address)
        if viewer.user is None or name not in (viewer.user.name, secret.split("_")[1]):
            raise AuthenticationRequired("That API token does not belong to this account.")
        return viewer
    with guard.password_check(address):
        user = sign_in(store, name, secret, address, via="password")
    return Viewer(user=user, address=address, via="password")


def _token_viewer(store: Store, presented: str, address: str) -> Viewer:
    record = check_token(store, presented)
    found = store.user_credentials(record.user_name) if record else None
    if record is None or found is None or found[0].disabled:
        raise AuthenticationRequired("The API token is unknown, revoked or of a disabled account.")
    return Viewer(user=found[0], scopes=frozenset(record.scopes), address=address, via="token")


def check_csrf(request: Request, submitted: str | None) -> None:
    """Every form posted with a session cookie must carry that session's CSRF token."""
    session = getattr(request.state, "session", None)
    if not isinstance(session, Session):
        return
    if not submitted or not hmac.compare_digest(submitted, session.csrf):
        raise PermissionDenied(
            "This form has expired or did not come from this site; reload the page and try again."
        )
