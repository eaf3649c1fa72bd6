"""The SODA publisher API: row upserts, replaces and deletes, and dataset management.

Socrata's shapes throughout, so its clients (sodapy's ``upsert``, ``replace``, ``delete``,
``create``, ``update_metadata``, ``set_permission``) work unchanged. Every change is a new
immutable version and an audit entry; a payload with any bad value changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from blotter.access import (
    Viewer,
    audit,
    managed_dataset,
    require_account,
    require_admin,
    writable_dataset,
)
from blotter.api.soda import split_name
from blotter.api.views import view_json
from blotter.auth import check_csrf, viewer_of
from blotter.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from blotter.ingest.rows import records_from_body, stage_changes
from blotter.management import (
    MetadataChange,
    apply_metadata_change,
    create_dataset,
    delete_row,
    publish_records,
    upload_file,
)
from blotter.model import ChangeCounts, check_dataset_id
from blotter.portal import portal_of

router = APIRouter()
_JSON = "application/json; charset=utf-8"


# What an HTML form can send without asking first (no CORS preflight). Writes from other
# sites' pages are refused before any route (blotter.security.CrossSiteWrites), whatever
# their type; a form body is refused here as well, since no client of ours sends one.
_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
# Row writes are JSON or CSV. No type at all is JSON: sodapy sends its rows without one.
_ROW_TYPES = {"", "application/json", "text/json", "text/csv", "application/csv"}


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _rows_of(request: Request, body: bytes) -> list[dict[str, Any]]:
    """The rows of a write's body; 415 for anything but JSON and CSV."""
    media_type = _media_type(request)
    if media_type not in _ROW_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Rows are sent as JSON (application/json) or CSV (text/csv), not {media_type}.",
            content_type=media_type,
        )
    return records_from_body(body, media_type)


def _writer(request: Request) -> Viewer:
    """The viewer of an API write: a browser session must send its CSRF token, and bodies
    a form could post are refused."""
    media_type = _media_type(request)
    if media_type in _FORM_TYPES:
        raise UnsupportedMediaType(
            f"Writes take JSON (application/json) or CSV (text/csv), not {media_type}.",
            content_type=media_type,
        )
    viewer = viewer_of(request, portal_of(request).store)
    require_account(viewer)
    if viewer.via == "session":
        check_csrf(request, request.headers.get("x-csrf-token"))
    return viewer


async def _body(request: Request) -> bytes:
    """The request body, refused with 413 beyond the configured size without reading it all."""
    limit = portal_of(request).settings.max_write_mb * 1024 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(_too_large(limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(_too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> str:
    return (
        f"The body is larger than {limit // (1024 * 1024)} MB. Send rows in smaller batches, "
        "or upload the file with POST /api/views/{id}/upload."
    )


def soda_counts(counts: ChangeCounts, *, by_identifier: bool) -> dict[str, int]:
    """Socrata's upsert response."""
    matched = counts.updated + counts.deleted
    return {
        "By RowIdentifier": matched if by_identifier else 0,
        "Rows Updated": counts.updated,
        "Rows Deleted": counts.deleted,
        "Rows Created": counts.created,
        "Errors": 0,
        "By SID": 0 if by_identifier else matched,
    }


@router.post("/resource/{name}")
async def upsert(request: Request, name: str) -> JSONResponse:
    """Add, update (by row identifier or :id) and delete (``":deleted": true``) rows."""
    dataset_id, _ = split_name(name)
    portal = portal_of(request)
    viewer = _writer(request)
    dataset = writable_dataset(portal.store, viewer, dataset_id)
    records = _rows_of(request, await _body(request))
    staged = stage_changes(dataset, records)
    version, counts = portal.store.apply_changes(
        dataset_id,
        staged.key,
        staged.table,
        source=f"upsert by {viewer.name}",
        note=_note(request),
    )
    audit(
        portal.store,
        viewer,
        "rows.upsert",
        dataset_id,
        version=version.number,
        **counts.model_dump(),
        privacy=version.privacy,
    )
    portal.after_write(dataset_id)
    body = soda_counts(counts, by_identifier=dataset.meta.row_identifier is not None)
    return JSONResponse(body, media_type=_JSON)


@router.put("/resource/{name}")
async def replace(request: Request, name: str) -> JSONResponse:
    """Replace every row with the payload, as one new version."""
    dataset_id, _ = split_name(name)
    portal = portal_of(request)
    viewer = _writer(request)
    dataset = writable_dataset(portal.store, viewer, dataset_id)
    records = _rows_of(request, await _body(request))
    version = publish_records(
        portal.store, dataset, records, source=f"replace by {viewer.name}", note=_note(request)
    )
    audit(
        portal.store,
        viewer,
        "rows.replace",
        dataset_id,
        version=version.number,
        privacy=version.privacy,
    )
    portal.after_write(dataset_id)
    counts = ChangeCounts(created=version.row_count)
    return JSONResponse(soda_counts(counts, by_identifier=False), media_type=_JSON)


@router.delete("/resource/{dataset_id}/{row}")
def delete_one_row(request: Request, dataset_id: str, row: str) -> JSONResponse:
    """Delete one row, named by its row identifier (or :id when the dataset has none)."""
    check_dataset_id(dataset_id)
    portal = portal_of(request)
    viewer = _writer(request)
    dataset = writable_dataset(portal.store, viewer, dataset_id)
    value = row.removesuffix(".json")
    version = delete_row(
        portal.store, dataset, value, source=f"delete by {viewer.name}", note=_note(request)
    )
    audit(portal.store, viewer, "rows.delete", dataset_id, row=value, version=version.number)
    portal.after_write(dataset_id)
    counts = ChangeCounts(deleted=1)
    by_identifier = dataset.meta.row_identifier is not None
    return JSONResponse(soda_counts(counts, by_identifier=by_identifier), media_type=_JSON)


@router.post("/api/views.json")
async def create(request: Request) -> JSONResponse:
    """Create an empty dataset from Socrata's view JSON (name, columns, metadata)."""
    portal = portal_of(request)
    viewer = _writer(request)
    payload = _json_object(await _body(request))
    dataset = create_dataset(portal.store, viewer, payload)
    audit(portal.store, viewer, "dataset.create", dataset.id, name=dataset.meta.name)
    return JSONResponse(view_json(dataset, staff=True), media_type=_JSON)


@router.put("/api/views/{name}")
@router.patch("/api/views/{name}")
async def update_view(request: Request, name: str) -> JSONResponse:
    """Edit metadata and the data dictionary; ``?method=setPermission`` sets visibility."""
    dataset_id, _ = split_name(name)
    portal = portal_of(request)
    viewer = _writer(request)
    managed_dataset(portal.store, viewer, dataset_id)
    if request.query_params.get("method") == "setPermission":
        value = request.query_params.get("value", "")
        visibility = {"public.read": "public", "private": "private", "internal": "internal"}
        if value not in visibility:
            raise InvalidRequest(
                f"Unknown permission '{value}': use public.read, internal or private.",
                value=value,
            )
        change = MetadataChange(fields={"visibility": visibility[value]})
    else:
        change = MetadataChange.from_socrata(_json_object(await _body(request)))
    edited = apply_metadata_change(portal.store, viewer, dataset_id, change)
    portal.after_write(dataset_id)
    body = view_json(edited.dataset, staff=True)
    if edited.applied is not None:
        # Stricter privacy rules were applied to the published rows: what that did.
        body["blotter"]["privacyApplied"] = edited.applied.as_json()
    return JSONResponse(body, media_type=_JSON)


@router.delete("/api/views/{name}")
def delete_view(request: Request, name: str) -> JSONResponse:
    """Delete a dataset and every version of it (admins and its agency's publishers)."""
    dataset_id, _ = split_name(name)
    portal = portal_of(request)
    viewer = _writer(request)
    dataset = managed_dataset(portal.store, viewer, dataset_id)
    portal.store.delete_dataset(dataset_id)
    audit(portal.store, viewer, "dataset.delete", dataset_id, name=dataset.meta.name)
    return JSONResponse({"deleted": dataset_id}, media_type=_JSON)


@router.post("/api/views/{dataset_id}/upload")
async def upload(request: Request, dataset_id: str) -> JSONResponse:
    """Publish a CSV or XLSX body as a new version: ``?filename=…&profile=…&mode=upsert``;
    ``dryRun=true`` reports what would change and publishes nothing.

    The body streams to disk, so its size is bounded by the upload limit, not by memory."""
    check_dataset_id(dataset_id)
    portal = portal_of(request)
    viewer = _writer(request)
    writable_dataset(portal.store, viewer, dataset_id)
    params = request.query_params
    filename = params.get("filename", f"{dataset_id}.csv")
    confirm = params.get("confirm")
    result = await upload_file(
        portal,
        viewer,
        dataset_id,
        request.stream(),
        filename=filename,
        profile=params.get("profile") or None,
        mode=params.get("mode") or None,
        confirm=_int(confirm, "confirm", 0, 10**12) if confirm else None,
        dry_run=params.get("dryRun", "false").lower() == "true",
        note=_note(request),
    )
    if params.get("dryRun", "false").lower() != "true":
        portal.after_write(dataset_id)
    return JSONResponse(result, media_type=_JSON)


@router.get("/api/audit.json")
def audit_log(request: Request) -> JSONResponse:
    """The audit log, newest first (administrators): ``?dataset=…&limit=…&offset=…``."""
    portal = portal_of(request)
    viewer = viewer_of(request, portal.store)
    require_admin(viewer)
    limit = _int(request.query_params.get("limit", "100"), "limit", 1, 10_000)
    offset = _int(request.query_params.get("offset", "0"), "offset", 0, 10**12)
    dataset_id = request.query_params.get("dataset") or None
    entries = portal.store.audit_log(limit=limit, offset=offset, dataset_id=dataset_id)
    return JSONResponse([e.model_dump(mode="json") for e in entries], media_type=_JSON)


MAX_NOTE = 2000


def _note(request: Request) -> str:
    """The publisher's note on the version a write makes (``?note=…``), kept in the history."""
    note = request.query_params.get("note", "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidRequest(
            f"The note is {len(note):,} characters long; a version's note holds at most "
            f"{MAX_NOTE:,}.",
            parameter="note",
        )
    return note


def _int(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidRequest(f"'{name}' must be a whole number from {low} to {high}.")
    return int(text)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise InvalidRequest(f"The body is not valid JSON: {err}.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return data
