"""Staff pages for accounts: users (administrators add, change and disable them) and
each account's API tokens (created, shown once, revoked).

Every form carries the session's CSRF token and is checked before anything changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from blotter.access import audit, can_write, require_account, require_admin, visible_datasets
from blotter.accounts import add_user, create_token, hash_password, revoke_token
from blotter.auth import guard_of
from blotter.errors import BlotterError, InvalidRequest, PermissionDenied
from blotter.model import Dataset, Role
from blotter.web.rendering import portal_of, render
from blotter.web.staff_forms import form_text, read_form, see_other, sent_back, staff_viewer

router = APIRouter(include_in_schema=False)


# --- users (administrators) ----------------------------------------------------------


@dataclass
class UsersPage:
    title: str
    users: list[Any]
    roles: list[str]
    error: str = ""
    notice: str = ""
    form: dict[str, str] = field(default_factory=dict)


@router.get("/manage/users")
def users(request: Request, notice: str = "") -> Response:
    require_admin(staff_viewer(request))
    store = portal_of(request).store
    page = UsersPage("Users", store.list_users(), [str(r) for r in Role], notice=notice[:200])
    return render(request, "users.html", page)


@router.post("/manage/users")
async def add_user_form(request: Request) -> Response:
    viewer = staff_viewer(request)
    require_admin(viewer)
    form = await read_form(request)
    store = portal_of(request).store
    values = {k: form_text(form, k) for k in ("name", "role", "agency")}
    try:
        role = Role(values["role"]) if values["role"] in set(Role) else None
        if role is None:
            raise InvalidRequest(f"Choose a role: {', '.join(map(str, Role))}.")
        user = add_user(
            store, values["name"], role, str(form.get("password") or ""), values["agency"]
        )
    except BlotterError as err:
        page = UsersPage("Users", store.list_users(), [str(r) for r in Role], form=values)
        return sent_back(request, "users.html", page, err)
    audit(store, viewer, "user.add", user=user.name, role=str(user.role), agency=user.agency)
    return see_other("/manage/users?" + urlencode({"notice": f"Account {user.name} added."}))


@router.post("/manage/users/{name}")
async def change_user(request: Request, name: str) -> Response:
    viewer = staff_viewer(request)
    require_admin(viewer)
    form = await read_form(request)
    store = portal_of(request).store
    action = form_text(form, "action")
    if action == "disable" and name == viewer.name:
        raise InvalidRequest("You cannot disable your own account.")
    guard_of(request).forget(name)  # a remembered Basic credential must not outlive this
    if action in ("disable", "enable"):
        store.update_user(name, disabled=action == "disable")
        if action == "disable":
            store.delete_sessions(user_name=name)
            for token in store.list_tokens(name):
                if token.revoked_at is None:
                    revoke_token(store, token.id)
    elif action == "update":
        role_text, agency = form_text(form, "role"), form_text(form, "agency")
        if role_text not in set(Role):
            raise InvalidRequest(f"Choose a role: {', '.join(map(str, Role))}.")
        if role_text == Role.PUBLISHER and not agency:
            raise InvalidRequest("A publisher needs an agency.")
        if name == viewer.name and role_text != Role.ADMIN:
            raise InvalidRequest("You cannot take away your own administrator role.")
        password = str(form.get("password") or "")
        store.update_user(
            name,
            role=Role(role_text),
            agency=agency,
            password_hash=hash_password(password) if password else None,
        )
        if password:
            store.set_login_state(name, 0, None)
            store.delete_sessions(user_name=name)
    else:
        raise InvalidRequest(f"Unknown action '{action}'.")
    audit(store, viewer, f"user.{action}", user=name)
    return see_other("/manage/users?" + urlencode({"notice": f"Account {name}: {action} done."}))


# --- API tokens ---------------------------------------------------------------------


@dataclass
class TokensPage:
    title: str
    tokens: list[Any]
    writable: list[Dataset]
    secret: str = ""
    error: str = ""


@router.get("/manage/tokens")
def tokens(request: Request) -> Response:
    return _tokens_page(request)


def _tokens_page(request: Request, secret: str = "", error: BlotterError | None = None) -> Response:
    viewer = staff_viewer(request)
    user = require_account(viewer)
    store = portal_of(request).store
    writable = [d for d in visible_datasets(store, viewer) if can_write(viewer, d)]
    page = TokensPage("API tokens", store.list_tokens(user.name), writable, secret)
    if error is not None:
        return sent_back(request, "tokens.html", page, error)
    return render(request, "tokens.html", page)


@router.post("/manage/tokens")
async def new_token(request: Request) -> Response:
    viewer = staff_viewer(request)
    user = require_account(viewer)
    form = await read_form(request)
    store = portal_of(request).store
    scopes = [s for s in form.getlist("scope") if isinstance(s, str)]
    try:
        if "admin" in scopes and user.role is not Role.ADMIN:
            raise PermissionDenied("Only administrators may make admin tokens.")
        record, secret = create_token(store, user.name, form_text(form, "label"), scopes)
    except BlotterError as err:
        return _tokens_page(request, error=err)
    audit(store, viewer, "token.create", token=record.id, scopes=record.scopes)
    return _tokens_page(request, secret=secret)


@router.post("/manage/tokens/{token_id}/revoke")
async def revoke(request: Request, token_id: str) -> Response:
    viewer = staff_viewer(request)
    user = require_account(viewer)
    await read_form(request)
    store = portal_of(request).store
    owned = {t.id for t in store.list_tokens(user.name)}
    if token_id not in owned and not viewer.is_admin:
        raise PermissionDenied("That token is not yours.")
    revoke_token(store, token_id)
    found = store.token_with_hash(token_id)
    if found is not None:  # a remembered Basic credential must not outlive the token here
        guard_of(request).forget(found[0].user_name)
    audit(store, viewer, "token.revoke", token=token_id)
    return see_other("/manage/tokens")
