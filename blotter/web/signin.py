"""Staff sign-in and sign-out: the sign-in form (its own CSRF cookie, since no session
exists yet), the session cookie set and cleared, and where a page that needs an account
sends the browser."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from blotter.access import Viewer, audit
from blotter.auth import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    address_of,
    end_session,
    guard_of,
    sign_in,
    start_session,
)
from blotter.errors import BlotterError, PermissionDenied
from blotter.model import User
from blotter.store.base import Store
from blotter.web.rendering import portal_of, render
from blotter.web.staff_forms import form_text, read_form, see_other, sent_back, staff_viewer

router = APIRouter(include_in_schema=False)
_LOGIN_CSRF = "blotter_login_csrf"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or portal_of(request).settings.secure_cookies


@dataclass
class LoginPage:
    title: str
    next: str
    name: str = ""
    error: str = ""
    login_csrf: str = ""


def _safe_next(value: str) -> str:
    """Only a path on this site: never an open redirect."""
    return value if value.startswith("/") and not value.startswith("//") else "/manage"


@router.get("/login")
def login_form(request: Request, next: str = "/manage") -> Response:
    token = secrets.token_urlsafe(24)
    page = LoginPage("Staff sign-in", _safe_next(next), login_csrf=token)
    response = render(request, "login.html", page)
    response.set_cookie(
        _LOGIN_CSRF, token, httponly=True, samesite="strict", secure=_secure(request)
    )
    return response


def _checked_sign_in(request: Request, store: Store, name: str, password: str) -> User:
    # On a thread: the Argon2 check (or the wait for a turn at one) must not hold the loop.
    with guard_of(request).password_check(address_of(request)):
        return sign_in(store, name, password, address_of(request), via="session")


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    name, password = form_text(form, "name"), str(form.get("password") or "")
    target = _safe_next(form_text(form, "next", "/manage"))
    cookie = request.cookies.get(_LOGIN_CSRF, "")
    sent = form_text(form, "login_csrf")
    if not cookie or not secrets.compare_digest(cookie, sent):
        raise PermissionDenied("The sign-in form expired; reload the page and sign in again.")
    store = portal_of(request).store
    try:
        user = await anyio.to_thread.run_sync(
            lambda: _checked_sign_in(request, store, name, password)
        )
    except BlotterError as err:
        page = LoginPage("Staff sign-in", target, name=name, login_csrf=cookie)
        return sent_back(request, "login.html", page, err)
    session_id, _ = start_session(store, user)
    audit(store, Viewer(user=user, address=address_of(request), via="session"), "login")
    response = see_other(target)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(_LOGIN_CSRF)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    viewer = staff_viewer(request)
    await read_form(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        end_session(portal_of(request).store, session_id)
        if viewer.user is not None:
            audit(portal_of(request).store, viewer, "logout")
    response = see_other("/")
    response.delete_cookie(SESSION_COOKIE)
    return response


def login_url(path: str) -> str:
    return "/login?next=" + quote(path, safe="/")
