"""Staff pages: sign-in, users, datasets (metadata, dictionary, visibility), uploads with a
preview, API tokens, import profiles and the audit log.

Every form carries the session's CSRF token and is checked before anything changes; the work
itself is :mod:`blotter.management`, shared with the publisher API.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import anyio
import yaml
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

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
    check_csrf,
    end_session,
    guard_of,
    sign_in,
    start_session,
    viewer_of,
)
from blotter.errors import AuthenticationRequired, BlotterError, InvalidRequest, PermissionDenied
from blotter.ingest.bounds import ReadLimits
from blotter.ingest.pipeline import load_file
from blotter.management import (
    Cancelled,
    MetadataChange,
    apply_metadata_change,
    named_as_sent,
    preview_file,
    profile_spec,
    publish_file,
    remove_stale_uploads,
    save_profile,
    save_upload,
    staged_upload,
)
from blotter.model import Cadence, Dataset, Role, User, Visibility
from blotter.privacy import count_words
from blotter.store.base import Store
from blotter.web.rendering import display, portal_of, render

router = APIRouter(include_in_schema=False)
_LOGIN_CSRF = "blotter_login_csrf"


def _viewer(request: Request) -> Viewer:
    return viewer_of(request, portal_of(request).store)


async def _form(request: Request) -> FormData:
    """The posted form, after checking it came from one of our pages in a signed-in browser.

    Forms act only for a session: remembered Basic credentials, which a browser would also
    send with a forged cross-site post, do not count here."""
    viewer = _viewer(request)
    if viewer.via != "session":
        raise AuthenticationRequired("Sign in on the sign-in page to use this form.")
    form = await request.form()
    token = form.get("csrf")
    check_csrf(request, token if isinstance(token, str) else None)
    return form


def _text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value.strip() if isinstance(value, str) else default


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


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
    name, password = _text(form, "name"), str(form.get("password") or "")
    target = _safe_next(_text(form, "next", "/manage"))
    cookie = request.cookies.get(_LOGIN_CSRF, "")
    sent = _text(form, "login_csrf")
    if not cookie or not secrets.compare_digest(cookie, sent):
        raise PermissionDenied("The sign-in form expired; reload the page and sign in again.")
    store = portal_of(request).store
    try:
        user = await anyio.to_thread.run_sync(
            lambda: _checked_sign_in(request, store, name, password)
        )
    except BlotterError as err:
        page = LoginPage("Staff sign-in", target, name=name, error=err.message, login_csrf=cookie)
        refused = render(request, "login.html", page, status=err.status)
        if "retry_after_s" in err.data:
            refused.headers["Retry-After"] = str(err.data["retry_after_s"])
        return refused
    session_id, _ = start_session(store, user)
    audit(store, Viewer(user=user, address=address_of(request), via="session"), "login")
    response = _see_other(target)
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
    viewer = _viewer(request)
    await _form(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        end_session(portal_of(request).store, session_id)
        if viewer.user is not None:
            audit(portal_of(request).store, viewer, "logout")
    response = _see_other("/")
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
    viewer = _viewer(request)
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
    require_admin(_viewer(request))
    store = portal_of(request).store
    page = UsersPage("Users", store.list_users(), [str(r) for r in Role], notice=notice[:200])
    return render(request, "users.html", page)


@router.post("/manage/users")
async def add_user_form(request: Request) -> Response:
    viewer = _viewer(request)
    require_admin(viewer)
    form = await _form(request)
    store = portal_of(request).store
    values = {k: _text(form, k) for k in ("name", "role", "agency")}
    try:
        role = Role(values["role"]) if values["role"] in set(Role) else None
        if role is None:
            raise InvalidRequest(f"Choose a role: {', '.join(map(str, Role))}.")
        user = add_user(
            store, values["name"], role, str(form.get("password") or ""), values["agency"]
        )
    except BlotterError as err:
        page = UsersPage(
            "Users", store.list_users(), [str(r) for r in Role], error=err.message, form=values
        )
        return render(request, "users.html", page, status=err.status)
    audit(store, viewer, "user.add", user=user.name, role=str(user.role), agency=user.agency)
    return _see_other("/manage/users?" + urlencode({"notice": f"Account {user.name} added."}))


@router.post("/manage/users/{name}")
async def change_user(request: Request, name: str) -> Response:
    viewer = _viewer(request)
    require_admin(viewer)
    form = await _form(request)
    store = portal_of(request).store
    action = _text(form, "action")
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
        role_text, agency = _text(form, "role"), _text(form, "agency")
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
    return _see_other("/manage/users?" + urlencode({"notice": f"Account {name}: {action} done."}))


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
    viewer = _viewer(request)
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
        data = yaml.safe_load(_text(form, name)) or {}
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
    viewer = _viewer(request)
    store = portal_of(request).store
    dataset = writable_dataset(store, viewer, dataset_id)
    form = await _form(request)
    fields: dict[str, Any] = {k: _text(form, k) for k in _META_FIELDS if k in form}
    if "tags" in form:
        fields["tags"] = [t.strip() for t in _text(form, "tags").split(",") if t.strip()]
    if "row_identifier" in form:
        fields["row_identifier"] = _text(form, "row_identifier") or None
    if viewer.is_admin and "agency" in form:
        fields["agency"] = _text(form, "agency")
    try:
        for name in ("privacy", "quality"):
            if name in form:
                fields[name] = _rules(form, name)
    except BlotterError as err:
        page = _edit_page(viewer, dataset, error=err.message)
        return render(request, "edit.html", page, status=err.status)
    columns = [
        {
            "field_name": c.field_name,
            "name": _text(form, f"col-{c.field_name}-name", c.name),
            "description": _text(form, f"col-{c.field_name}-description", c.description),
            "internal": form.get(f"col-{c.field_name}-internal") == "on",
        }
        for c in dataset.columns
    ]
    try:
        apply_metadata_change(store, viewer, dataset_id, MetadataChange(fields, columns))
    except BlotterError as err:
        page = _edit_page(viewer, store.get_dataset(dataset_id), error=err.message)
        return render(request, "edit.html", page, status=err.status)
    return _see_other(f"/manage/d/{dataset_id}?" + urlencode({"notice": "Saved."}))


# --- uploads: file → preview → publish ----------------------------------------------


@dataclass
class UploadPage:
    title: str
    dataset: Dataset | None
    profiles: list[str]
    error: str = ""


@dataclass
class PreviewPage:
    title: str
    dataset: Dataset | None
    token: str
    filename: str
    profile: str
    mode: str
    name: str
    columns: list[Any]
    rows: list[list[str]]
    row_count: int
    problems: list[dict[str, Any]]
    problem_total: int
    notes: list[str]
    complete: bool = True  # False: only the first row_count rows were checked
    changes: str = ""  # what publishing would change, in words
    privacy: list[str] = field(default_factory=list)  # what the privacy rules change
    confirm_removed: int | None = None  # a replace this large must be confirmed
    published: int = 0
    warnings: list[dict[str, Any]] = field(default_factory=list)  # published, worth a look


@router.get("/manage/upload")
def upload_form(request: Request, dataset: str = "") -> Response:
    viewer = _viewer(request)
    store = portal_of(request).store
    target = writable_dataset(store, viewer, dataset) if dataset else None
    if target is None:
        _require_publisher(viewer)
    profiles = [n for n, _, _ in store.list_profiles()]
    title = f"Publish to {target.meta.name}" if target else "New dataset from a file"
    return render(request, "upload.html", UploadPage(title, target, profiles))


def _require_publisher(viewer: Viewer) -> None:
    user = require_account(viewer)
    if user.role not in (Role.ADMIN, Role.PUBLISHER):
        raise PermissionDenied("Only publishers and administrators publish datasets.")


@router.post("/manage/upload")
async def upload(request: Request) -> Response:
    viewer = _viewer(request)
    portal = portal_of(request)
    form = await _form(request)
    dataset_id = _text(form, "dataset")
    target = writable_dataset(portal.store, viewer, dataset_id) if dataset_id else None
    if target is None:
        _require_publisher(viewer)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidRequest("Choose a CSV or XLSX file to upload.")
    profile = _text(form, "profile")
    spec = profile_spec(portal.store, profile) if profile else None
    await anyio.to_thread.run_sync(remove_stale_uploads, portal)
    path = await save_upload(portal, _chunks(upload), upload.filename)
    mode = _text(form, "mode") or ("upsert" if target and target.meta.row_identifier else "")
    if target is not None and mode not in ("upsert", "replace"):
        path.unlink(missing_ok=True)
        raise InvalidRequest("Choose what the file holds: new and changed rows, or every row.")
    limits = ReadLimits.from_settings(portal.settings)
    check_rows = portal.settings.preview_check_rows
    try:
        with named_as_sent(path):
            preview = await _while_connected(
                request,
                lambda cancelled: preview_file(
                    portal.store,
                    path,
                    target,
                    spec,
                    mode=mode or "replace",
                    check_rows=check_rows,
                    limits=limits,
                    cancelled=cancelled,
                ),
            )
    except Cancelled:
        path.unlink(missing_ok=True)
        return Response(status_code=499)  # nobody is there to read it
    except BaseException:
        path.unlink(missing_ok=True)  # a file that cannot be previewed cannot be published
        raise
    if preview.problem_total:
        path.unlink(missing_ok=True)  # the page offers no publish: nothing will ask for it
    columns = preview.prepared.columns
    report = preview.report
    page = PreviewPage(
        title=f"Preview: {upload.filename}",
        dataset=target,
        token=path.name,
        filename=upload.filename,
        profile=profile,
        mode=mode,
        name=_text(form, "name"),
        columns=columns,
        rows=[_shown_row(columns, row) for row in preview.rows],
        row_count=preview.row_count,
        problems=preview.problems,
        problem_total=preview.problem_total,
        complete=preview.complete,
        notes=preview.prepared.notes,
        changes=report.words() if target is not None and preview.complete else "",
        privacy=count_words(report.privacy),
        confirm_removed=report.removed if report.needs_confirmation() else None,
        published=report.published,
        warnings=report.warnings,
    )
    return render(request, "preview.html", page, status=422 if preview.problem_total else 200)


_T = TypeVar("_T")


async def _while_connected(request: Request, work: Callable[[Callable[[], bool]], _T]) -> _T:
    """Run ``work(cancelled)`` on a thread while watching the client: once it has gone,
    ``cancelled()`` turns true (the work stops at its next check) and Cancelled is raised."""
    gone = threading.Event()

    async def watch() -> None:
        while not await request.is_disconnected():
            await anyio.sleep(0.2)
        gone.set()

    results: list[_T] = []
    failures: list[Exception] = []  # raised here, not from the group (which would wrap it)
    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            results.append(await anyio.to_thread.run_sync(lambda: work(gone.is_set)))
        except Exception as err:
            failures.append(err)
        group.cancel_scope.cancel()
    if failures:
        raise failures[0]
    if gone.is_set() or await request.is_disconnected():
        raise Cancelled
    return results[0]


async def _chunks(upload: UploadFile, size: int = 1 << 20) -> Any:
    while chunk := await upload.read(size):
        yield chunk


def _shown_row(columns: list[Any], physical: list[Any]) -> list[str]:
    """Physical values (points are two numbers) as the page shows each column."""
    out, i = [], 0
    for column in columns:
        if column.type == "point":
            lon, lat = physical[i], physical[i + 1]
            out.append(display(column.type, (lon, lat)) if lon is not None else "")
            i += 2
        else:
            out.append(display(column.type, physical[i]))
            i += 1
    return out


@router.post("/manage/publish")
async def publish(request: Request) -> Response:
    viewer = _viewer(request)
    portal = portal_of(request)
    form = await _form(request)
    path = staged_upload(portal, _text(form, "token"))
    profile = _text(form, "profile")
    spec = profile_spec(portal.store, profile) if profile else None
    dataset_id = _text(form, "dataset")
    limits = ReadLimits.from_settings(portal.settings)
    try:
        outcome: dict[str, Any] = {}
        with named_as_sent(path):
            if dataset_id:
                mode = _text(form, "mode")
                confirm = _text(form, "confirm")
                outcome = await anyio.to_thread.run_sync(
                    lambda: publish_file(
                        portal.store,
                        viewer,
                        dataset_id,
                        path,
                        spec=spec,
                        mode=mode,
                        limits=limits,
                        confirm=int(confirm) if confirm.isdigit() else None,
                    )
                )
            else:
                name = _text(form, "name")
                dataset_id = await anyio.to_thread.run_sync(
                    lambda: _publish_new(portal.store, viewer, path, spec, name, limits)
                )
    finally:
        path.unlink(missing_ok=True)
    notice = "Published a new version." if _text(form, "dataset") else "Dataset created."
    done = count_words(outcome.get("privacy", {}))
    if done:
        notice += " Privacy rules: " + "; ".join(done) + "."
    return _see_other(f"/manage/d/{dataset_id}?" + urlencode({"notice": notice}))


def _publish_new(
    store: Any, viewer: Viewer, path: Any, spec: Any, name: str, limits: ReadLimits
) -> str:
    """A new dataset from a file: private, owned by the publisher, in their agency."""
    _require_publisher(viewer)
    user = require_account(viewer)
    # A profile maps columns; its own dataset id (if any) is not where this file goes.
    spec = spec.model_copy(update={"id": None}) if spec else None
    access = {"visibility": Visibility.PRIVATE, "owner": user.name}
    if user.role is Role.PUBLISHER:
        access["agency"] = user.agency
    result = load_file(
        store, path, spec=spec, name=name or None, meta_updates=access, limits=limits
    )
    dataset = store.get_dataset(result.dataset_id)
    audit(
        store,
        viewer,
        "dataset.create",
        dataset.id,
        file=path.name.split("-", 1)[-1],
        rows=result.row_count,
    )
    return str(dataset.id)


# --- API tokens ----------------------------------------------------------------------


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


def _tokens_page(
    request: Request, secret: str = "", error: str = "", status: int = 200
) -> Response:
    viewer = _viewer(request)
    user = require_account(viewer)
    store = portal_of(request).store
    writable = [d for d in visible_datasets(store, viewer) if can_write(viewer, d)]
    page = TokensPage("API tokens", store.list_tokens(user.name), writable, secret, error)
    return render(request, "tokens.html", page, status=status)


@router.post("/manage/tokens")
async def new_token(request: Request) -> Response:
    viewer = _viewer(request)
    user = require_account(viewer)
    form = await _form(request)
    store = portal_of(request).store
    scopes = [s for s in form.getlist("scope") if isinstance(s, str)]
    if "admin" in scopes and user.role is not Role.ADMIN:
        return _tokens_page(request, error="Only administrators may make admin tokens.", status=403)
    try:
        record, secret = create_token(store, user.name, _text(form, "label"), scopes)
    except BlotterError as err:
        return _tokens_page(request, error=err.message, status=err.status)
    audit(store, viewer, "token.create", token=record.id, scopes=record.scopes)
    return _tokens_page(request, secret=secret)


@router.post("/manage/tokens/{token_id}/revoke")
async def revoke(request: Request, token_id: str) -> Response:
    viewer = _viewer(request)
    user = require_account(viewer)
    await _form(request)
    store = portal_of(request).store
    owned = {t.id for t in store.list_tokens(user.name)}
    if token_id not in owned and not viewer.is_admin:
        raise PermissionDenied("That token is not yours.")
    revoke_token(store, token_id)
    found = store.token_with_hash(token_id)
    if found is not None:  # a remembered Basic credential must not outlive the token here
        guard_of(request).forget(found[0].user_name)
    audit(store, viewer, "token.revoke", token=token_id)
    return _see_other("/manage/tokens")


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
    require_account(_viewer(request))
    store = portal_of(request).store
    text = (store.get_profile(name) or "") if name else ""
    page = ProfilesPage("Import profiles", store.list_profiles(), name, text, notice=notice[:200])
    return render(request, "profiles.html", page)


@router.post("/manage/profiles")
async def save_profile_form(request: Request) -> Response:
    viewer = _viewer(request)
    form = await _form(request)
    store = portal_of(request).store
    name, text = _text(form, "name"), str(form.get("text") or "")
    try:
        save_profile(store, viewer, name, text)
    except BlotterError as err:
        page = ProfilesPage("Import profiles", store.list_profiles(), name, text, error=err.message)
        return render(request, "profiles.html", page, status=err.status)
    query = urlencode({"name": name, "notice": f"Profile {name} saved."})
    return _see_other(f"/manage/profiles?{query}")


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
    require_admin(_viewer(request))
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
