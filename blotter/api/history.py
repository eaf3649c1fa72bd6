"""A dataset's history over the API: every version (``versions.json``) and what changed
between two of them (``versions/{N}/diff.json``), under the access rules of every read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from blotter.access import sees_internal, visible_dataset, visible_version
from blotter.api.serialize import json_value
from blotter.auth import viewer_of
from blotter.errors import InvalidRequest
from blotter.formatting import format_timestamp
from blotter.history import checksum, earlier_checksums, public_counts, version_publishers
from blotter.model import (
    Column,
    ColumnType,
    DiffRow,
    check_dataset_id,
    check_version_number,
)
from blotter.portal import portal_of
from blotter.soql.compiler import Output

router = APIRouter()
_JSON = "application/json; charset=utf-8"
VERSIONS_PAGE = 100  # versions.json's page when no $limit is given
MOST_VERSIONS = 1_000


def published_at(value: datetime) -> str:
    """A stored (UTC) time as the history gives it: ISO 8601 with a Z."""
    return format_timestamp(value, fixed=True)


@router.get("/api/views/{dataset_id}/versions.json")
def versions(request: Request, dataset_id: str) -> JSONResponse:
    """The versions, newest first, a page at a time (``$limit``, ``$offset``): when, by
    which agency, its rows and what changed, the publisher's note, the SHA-256 of its
    ``rows.csv`` and links to its rows and its diff. A version's checksum may need its CSV
    written once: the page bounds what one request can cost, years of daily versions too."""
    check_dataset_id(dataset_id)
    portal = portal_of(request)
    params = request.query_params
    limit = _bounded(params.get("$limit", str(VERSIONS_PAGE)), "$limit", 1, MOST_VERSIONS)
    offset = _bounded(params.get("$offset", "0"), "$offset", 0, 10**12)
    viewer = viewer_of(request, portal.store)
    dataset = visible_dataset(portal.store, viewer, dataset_id)
    publishers = version_publishers(portal.store, dataset)
    base = f"/api/views/{dataset.id}"
    every = portal.store.versions(dataset.id)
    listed: list[dict[str, Any]] = []
    for version in every[offset : offset + limit]:
        # Counted over the fields this reader sees: a change to an internal column alone
        # is no change to the public.
        added, changed, removed = public_counts(
            portal.store, dataset, version, reads_internal=sees_internal(viewer, dataset)
        )
        sha, earlier = None, []
        if not version.pruned:
            at = portal.store.dataset_at(dataset.id, version.number)
            sha = checksum(portal, at)
            earlier = [
                {"sha256": given, "firstGiven": published_at(first)}
                for given, first in earlier_checksums(portal, at, sha)
            ]
        listed.append(
            {
                "version": version.number,
                "publishedAt": published_at(version.created_at),
                "agency": version.agency,
                **({"publishedBy": publishers.get(version.number)} if publishers else {}),
                "rows": version.row_count,
                "rowsAdded": added,
                "rowsChanged": changed,
                "rowsRemoved": removed,
                "note": version.note,
                "sha256": sha,
                "earlierSha256": earlier,
                "pruned": version.pruned,
                **({"prunedReason": version.pruned_reason} if version.pruned_reason else {}),
                "current": version.number == dataset.version,
                "links": {
                    "rows": f"{base}/rows.csv?$$version={version.number}",
                    "diff": f"{base}/versions/{version.number}/diff.json",
                    "page": f"/datasets/{dataset.id}/versions/{version.number}",
                },
            }
        )
    page: dict[str, Any] = {"total": len(every), "limit": limit, "offset": offset}
    if offset + limit < len(every):
        page["next"] = f"{base}/versions.json?$limit={limit}&$offset={offset + limit}"
    return JSONResponse(
        {"dataset": dataset.id, "newest": dataset.version, **page, "versions": listed},
        media_type=_JSON,
    )


@router.get("/api/views/{dataset_id}/versions/{number}/diff.json")
def diff(request: Request, dataset_id: str, number: str) -> JSONResponse:
    """What changed from version ``from`` (by default the one before) to version ``number``:
    counts, and one page (``$limit``, ``$offset``) of the rows added, removed and changed,
    each change field by field, its values written as in the JSON rows."""
    check_dataset_id(dataset_id)
    portal = portal_of(request)
    params = request.query_params
    to = check_version_number(number, "version")
    start = check_version_number(params["from"], "from") if "from" in params else to - 1
    if start < 1:
        raise InvalidRequest(
            f"Version {to} is the dataset's first: there is no version before it to compare "
            f"with. Its rows are at /api/views/{dataset_id}/rows.csv?$$version={to}.",
            parameter="from",
        )
    limit = _bounded(
        params.get("$limit", str(portal.settings.default_limit)),
        "$limit",
        1,
        portal.settings.max_limit,
    )
    offset = _bounded(params.get("$offset", "0"), "$offset", 0, 10**12)
    viewer = viewer_of(request, portal.store)
    dataset, _ = visible_version(portal.store, viewer, dataset_id, to)
    found = portal.store.version_diff(dataset, start, to, limit=limit, offset=offset)
    kinds = {c.field_name: c for c in dataset.columns}
    return JSONResponse(
        {
            "dataset": found.dataset_id,
            "from": found.from_version,
            "to": found.to_version,
            "added": found.added,
            "changed": found.changed,
            "removed": found.removed,
            "fields": found.fields,
            "limit": found.limit,
            "offset": found.offset,
            "rows": [diff_row_json(row, kinds) for row in found.rows],
        },
        media_type=_JSON,
    )


def diff_row_json(row: DiffRow, columns: dict[str, Column]) -> dict[str, Any]:
    """One row of a diff, its values written as the JSON rows write them (nulls left out
    of a row's values; a change to or from null says null)."""
    out: dict[str, Any] = {"kind": row.kind, ":id": f"row-{row.row_id}"}
    if row.kind == "changed":
        out["changes"] = [
            {
                "field": c.field_name,
                "before": _json(columns, c.field_name, c.before),
                "after": _json(columns, c.field_name, c.after),
            }
            for c in row.changes
        ]
    else:
        out["values"] = {
            name: _json(columns, name, value)
            for name, value in row.values.items()
            if value is not None
        }
    return out


def _json(columns: dict[str, Column], field: str, value: Any) -> Any:
    if value is None:
        return None
    column = columns.get(field)
    kind = column.type if column is not None else _guess(value)
    return json_value(Output(field, kind, width=2 if kind is ColumnType.POINT else 1), value)


def _guess(value: Any) -> ColumnType:
    """The type of a field since dropped from the data dictionary, from its value."""
    if isinstance(value, tuple):
        return ColumnType.POINT
    if isinstance(value, bool):
        return ColumnType.CHECKBOX
    if isinstance(value, int | float):
        return ColumnType.NUMBER
    if isinstance(value, datetime):
        return ColumnType.FLOATING_TIMESTAMP
    return ColumnType.TEXT


def _bounded(text: str, name: str, low: int, high: int) -> int:
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise InvalidRequest(
            f"'{name}' must be a whole number from {low} to {high}.", parameter=name
        )
    return int(text)
