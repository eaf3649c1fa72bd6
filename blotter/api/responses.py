"""Data responses shared by both API generations: headers, ETags, streaming bodies.

SODA 2.1 (``/resource``) and SODA3 (``/api/v3``) answer a query with the same rows, the same
headers and the same serialization; only how the query arrives differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from blotter.access import visible_dataset
from blotter.api.csv_export import csv_answer
from blotter.api.serialize import soda_type_name, stream_csv, stream_geojson, stream_json
from blotter.auth import viewer_of
from blotter.model import Dataset
from blotter.portal import Portal
from blotter.queries import QueryResult
from blotter.soql.compiler import Output

Streamer = Callable[[list[Output], Iterable[tuple[Any, ...]]], Iterator[bytes]]
FORMATS: dict[str, tuple[str, Streamer]] = {
    "json": ("application/json; charset=utf-8", stream_json),
    "csv": ("text/csv; charset=utf-8", stream_csv),
    "geojson": ("application/vnd.geo+json; charset=utf-8", stream_geojson),
}


def data_response(
    request: Request,
    dataset_id: str,
    fmt: str,
    run: Callable[[Portal, Dataset], QueryResult],
    *,
    etag_key: object,
    download: bool = False,
    bom: bool = False,
) -> Response:
    """Run a query and stream its rows with Socrata's headers; 304 when the ETag matches."""
    portal: Portal = request.app.state.portal
    viewer = viewer_of(request, portal.store)
    dataset = visible_dataset(portal.store, viewer, dataset_id)
    # Staff may see columns the public cannot: the ETag differs with the columns served.
    shown = [c.field_name for c in dataset.columns]
    key = json.dumps([dataset.id, dataset.version, fmt, etag_key, shown], default=str)
    etag = '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'
    last_modified = format_datetime(
        (dataset.rows_updated_at or dataset.updated_at).replace(tzinfo=UTC), usegmt=True
    )
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, "Last-Modified": last_modified})
    media_type, streamer = FORMATS[fmt]
    if fmt == "csv":
        result, body = csv_answer(portal, dataset, run)
    else:
        result = run(portal, dataset)
        body = streamer(result.outputs, result.rows)
    headers = {
        "ETag": etag,
        "Last-Modified": last_modified,
        "X-SODA2-Fields": json.dumps([o.name for o in result.outputs]),
        "X-SODA2-Types": json.dumps([soda_type_name(o) for o in result.outputs]),
        "X-SODA2-Truth-Last-Modified": last_modified,
        "X-SODA2-Data-Out-Of-Date": "false",
    }
    # The answer depends on who asks (internal columns), so caches must key on credentials,
    # and never keep a staff answer where the public could be handed it.
    headers["Vary"] = "Authorization, Cookie, X-App-Token"
    if viewer.user is not None:
        headers["Cache-Control"] = "private, no-store"
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{dataset_id}.{fmt}"'
    if bom and fmt == "csv":  # Socrata's $$bom: Excel then reads the CSV as UTF-8
        body = _prefixed("\ufeff".encode(), body)
    return StreamingResponse(body, media_type=media_type, headers=headers)


def _prefixed(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
