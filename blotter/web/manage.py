"""Staff pages: the overview of datasets, one dataset's metadata, dictionary and
visibility, import profiles and the audit log (sign-in: ``signin.py``; accounts and tokens:
``staff_accounts.py``; uploads: ``uploads.py``).

Every form carries the session's CSRF token and is checked before anything changes; the work
itself is :mod:`blotter.management`, shared with the publisher API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from blotter.access import (
    Viewer,
    can_write,
    require_account,
    require_admin,
    visible_datasets,
    writable_dataset,
)
from blotter.errors import BlotterError, InvalidRequest
from blotter.management import MetadataChange, apply_metadata_change, save_profile
from blotter.model import Cadence, Dataset, Role, Visibility
from blotter.web.rendering import portal_of, render
from blotter.web.staff_forms import form_text, read_form, see_other, sent_back, staff_viewer

router = APIRouter(include_in_schema=False)


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
    return render(request, "edit.html", _edit_page(viewer, dataset, notice=notice[:400]))


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
                mode="json", exclude={"raw_copies", "carriers"}, exclude_defaults=True
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
        edited = apply_metadata_change(store, viewer, dataset_id, MetadataChange(fields, columns))
    except BlotterError as err:
        page = _edit_page(viewer, store.get_dataset(dataset_id))
        return sent_back(request, "edit.html", page, err)
    portal_of(request).after_write(dataset_id)
    notice = "Saved." + (f" {edited.applied.message()}" if edited.applied else "")
    return see_other(f"/manage/d/{dataset_id}?" + urlencode({"notice": notice}))


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
