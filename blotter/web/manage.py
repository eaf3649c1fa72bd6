"""Staff pages: sign-in, users, datasets (metadata, dictionary, visibility), uploads with a
preview, API tokens, import profiles and the audit log.

Every form carries the session's CSRF token and is checked before anything changes; the work
itself is :mod:`blotter.management`, shared with the publisher API.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import yaml
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from blotter.access import (
    Viewer,
    audit,
    can_write,
    require_account,
    require_admin,
    visible_datasets,
    writable_dataset,
)
from blotter.accounts import add_user, create_token, hash_password, revoke_token
from blotter.auth import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    address_of,
    end_session,
    guard_of,
    sign_in,
    start_session,
)
from blotter.errors import BlotterError, InvalidRequest, PermissionDenied
from blotter.management import (
    MetadataChange,
    apply_metadata_change,
    save_profile,
)
from blotter.model import Cadence, Dataset, Role, User, Visibility
from blotter.store.base import Store
from blotter.web.rendering import portal_of, render
from blotter.web.staff_forms import form_text, read_form, see_other, sent_back, staff_viewer

router = APIRouter(include_in_schema=False)
_LOGIN_CSRF = "blotter_login_csrf"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or portal_of(request).settings.secure_cookies


# --- sign-in -------------------------------------------------------------------------


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


# --- overview ------------------------------------------------------------------------


@dataclass
class DatasetRow:
    id: str
    name: str
    visibility: str
    rows: int
    writable: bool
    internal_columns: int


@dataclass
class ManagePage:
    title: str
    datasets: list[DatasetRow]
    is_admin: bool
    can_publish: bool
    notice: str = ""


@router.get("/manage")
def manage(request: Request, notice: str = "") -> Response:
    viewer = staff_viewer(request)
    user = require_account(viewer)
    store = portal_of(request).store
    rows = [
        DatasetRow(
            d.id,
            d.meta.name,
            str(d.meta.visibility),
            d.row_count,
            can_write(viewer, d),
            sum(c.internal for c in d.columns),
        )
        for d in visible_datasets(store, viewer)
    ]
    page = ManagePage(
        "Manage",
        rows,
        viewer.is_admin,
        user.role in (Role.ADMIN, Role.PUBLISHER),
        notice=notice[:200],
    )
    return render(request, "manage.html", page)


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


# --- one dataset: metadata, dictionary, visibility ----------------------------------


@dataclass
class EditPage:
    title: str
    dataset: Dataset
    visibilities: list[str]
    cadences: list[str]
    identifiers: list[str]
    is_admin: bool
    privacy_yaml: str
    quality_yaml: str
    privacy_words: list[str]
    error: str = ""
    notice: str = ""


@router.get("/manage/d/{dataset_id}")
def edit_dataset(request: Request, dataset_id: str, notice: str = "") -> Response:
    viewer = staff_viewer(request)
    dataset = writable_dataset(portal_of(request).store, viewer, dataset_id)
    return render(request, "edit.html", _edit_page(viewer, dataset, notice=notice[:200]))


def _edit_page(viewer: Viewer, dataset: Dataset, **extra: str) -> EditPage:
    identifiers = [c.field_name for c in dataset.columns if c.type != "point"]
    return EditPage(
        f"Edit {dataset.meta.name}",
        dataset,
        [str(v) for v in Visibility],
        [str(c) for c in Cadence],
        identifiers,
        viewer.is_admin,
        _yaml(
            dataset.meta.privacy.model_dump(
                mode="json", exclude={"raw_copies"}, exclude_defaults=True
            )
        ),
        _yaml(dataset.meta.quality.model_dump(mode="json", exclude_defaults=True)),
        dataset.meta.privacy.describe(),
        **extra,
    )


def _yaml(rules: dict[str, Any]) -> str:
    return yaml.safe_dump(rules, sort_keys=False, allow_unicode=True) if rules else ""


def _rules(form: FormData, name: str) -> dict[str, Any]:
    """A rules box's YAML as a mapping (empty: no rules)."""
    try:
        data = yaml.safe_load(form_text(form, name)) or {}
    except yaml.YAMLError as err:
        raise InvalidRequest(f"The {name} rules are not valid YAML: {err}", field=name) from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"The {name} rules must be a mapping of keys to values.", field=name)
    return data


_META_FIELDS = (
    "name",
    "description",
    "category",
    "license",
    "license_url",
    "attribution",
    "attribution_url",
    "source_url",
    "cadence",
    "contact_name",
    "contact_email",
    "notes",
    "visibility",
)


@router.post("/manage/d/{dataset_id}")
async def save_dataset(request: Request, dataset_id: str) -> Response:
    viewer = staff_viewer(request)
    store = portal_of(request).store
    dataset = writable_dataset(store, viewer, dataset_id)
    form = await read_form(request)
    fields: dict[str, Any] = {k: form_text(form, k) for k in _META_FIELDS if k in form}
    if "tags" in form:
        fields["tags"] = [t.strip() for t in form_text(form, "tags").split(",") if t.strip()]
    if "row_identifier" in form:
        fields["row_identifier"] = form_text(form, "row_identifier") or None
    if viewer.is_admin and "agency" in form:
        fields["agency"] = form_text(form, "agency")
    try:
        for name in ("privacy", "quality"):
            if name in form:
                fields[name] = _rules(form, name)
    except BlotterError as err:
        return sent_back(request, "edit.html", _edit_page(viewer, dataset), err)
    columns = [
        {
            "field_name": c.field_name,
            "name": form_text(form, f"col-{c.field_name}-name", c.name),
            "description": form_text(form, f"col-{c.field_name}-description", c.description),
            "internal": form.get(f"col-{c.field_name}-internal") == "on",
        }
        for c in dataset.columns
    ]
    try:
        apply_metadata_change(store, viewer, dataset_id, MetadataChange(fields, columns))
    except BlotterError as err:
        page = _edit_page(viewer, store.get_dataset(dataset_id))
        return sent_back(request, "edit.html", page, err)
    return see_other(f"/manage/d/{dataset_id}?" + urlencode({"notice": "Saved."}))


# --- uploads: file → preview → publish ----------------------------------------------


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


# --- import profiles -----------------------------------------------------------------


@dataclass
class ProfilesPage:
    title: str
    profiles: list[tuple[str, Any, str]]
    name: str = ""
    text: str = ""
    error: str = ""
    notice: str = ""


@router.get("/manage/profiles")
def profiles(request: Request, name: str = "", notice: str = "") -> Response:
    require_account(staff_viewer(request))
    store = portal_of(request).store
    text = (store.get_profile(name) or "") if name else ""
    page = ProfilesPage("Import profiles", store.list_profiles(), name, text, notice=notice[:200])
    return render(request, "profiles.html", page)


@router.post("/manage/profiles")
async def save_profile_form(request: Request) -> Response:
    viewer = staff_viewer(request)
    form = await read_form(request)
    store = portal_of(request).store
    name, text = form_text(form, "name"), str(form.get("text") or "")
    try:
        save_profile(store, viewer, name, text)
    except BlotterError as err:
        page = ProfilesPage("Import profiles", store.list_profiles(), name, text)
        return sent_back(request, "profiles.html", page, err)
    query = urlencode({"name": name, "notice": f"Profile {name} saved."})
    return see_other(f"/manage/profiles?{query}")


# --- audit log (administrators) ------------------------------------------------------


@dataclass
class AuditPage:
    title: str
    entries: list[Any]
    dataset: str
    newer: str | None
    older: str | None


_AUDIT_PAGE = 100


@router.get("/manage/audit")
def audit_page(request: Request, dataset: str = "", page: int = 1) -> Response:
    require_admin(staff_viewer(request))
    store = portal_of(request).store
    page = max(page, 1)
    entries = store.audit_log(
        limit=_AUDIT_PAGE + 1, offset=(page - 1) * _AUDIT_PAGE, dataset_id=dataset or None
    )
    base = {"dataset": dataset} if dataset else {}
    older = (
        "/manage/audit?" + urlencode({**base, "page": page + 1})
        if len(entries) > _AUDIT_PAGE
        else None
    )
    newer = "/manage/audit?" + urlencode({**base, "page": page - 1}) if page > 1 else None
    context = AuditPage("Audit log", entries[:_AUDIT_PAGE], dataset, newer, older)
    return render(request, "audit.html", context)


def login_url(path: str) -> str:
    return "/login?next=" + quote(path, safe="/")
