"""The SODA 2.1 read API: ``/resource``, ``/api/views`` and the bulk export.

Thin: parameters in, :func:`blotter.queries.run_query`, serializer out. Headers and
content types are Socrata's exactly, because clients choose their parser from them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from blotter.api.serialize import soda_type_name, stream_csv, stream_geojson, stream_json
from blotter.api.views import view_json
from blotter.errors import InvalidRequest, NotFound
from blotter.model import Dataset, check_dataset_id
from blotter.portal import Portal
from blotter.queries import QueryResult, run_query
from blotter.soql.compiler import Output

router = APIRouter()

Streamer = Callable[[list[Output], Iterable[tuple[Any, ...]]], Iterator[bytes]]
FORMATS: dict[str, tuple[str, Streamer]] = {
    "json": ("application/json; charset=utf-8", stream_json),
    "csv": ("text/csv; charset=utf-8", stream_csv),
    "geojson": ("application/vnd.geo+json; charset=utf-8", stream_geojson),
}


def _portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def _split_name(name: str, default: str = "json") -> tuple[str, str]:
    """``abcd-1234.csv`` → (``abcd-1234``, ``csv``)."""
    stem, dot, fmt = name.partition(".")
    fmt = fmt if dot else default
    if fmt not in FORMATS:
        raise NotFound(f"Unknown format '.{fmt}'. Use .json, .csv or .geojson.", format=fmt)
    return check_dataset_id(stem), fmt


def _etag(dataset: Dataset, request: Request, fmt: str) -> str:
    key = json.dumps([dataset.id, dataset.version, sorted(request.query_params.multi_items()), fmt])
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def _single_params(request: Request) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            raise InvalidRequest(f"Parameter '{key}' is given more than once.", parameter=key)
        params[key] = value
    return params


def _data_response(
    request: Request, dataset_id: str, fmt: str, *, download: bool = False
) -> Response:
    portal = _portal(request)
    dataset = portal.store.get_dataset(dataset_id)
    etag = _etag(dataset, request, fmt)
    last_modified = format_datetime(
        (dataset.rows_updated_at or dataset.updated_at).replace(tzinfo=UTC), usegmt=True
    )
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, "Last-Modified": last_modified})
    result: QueryResult = run_query(
        portal.store, dataset_id, _single_params(request), portal.settings, unlimited=download
    )
    media_type, streamer = FORMATS[fmt]
    headers = {
        "ETag": etag,
        "Last-Modified": last_modified,
        "X-SODA2-Fields": json.dumps([o.name for o in result.outputs]),
        "X-SODA2-Types": json.dumps([soda_type_name(o) for o in result.outputs]),
        "X-SODA2-Truth-Last-Modified": last_modified,
        "X-SODA2-Data-Out-Of-Date": "false",
    }
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{dataset_id}.{fmt}"'
    return StreamingResponse(
        streamer(result.outputs, result.rows), media_type=media_type, headers=headers
    )


@router.get("/resource/{name}")
def resource(request: Request, name: str) -> Response:
    """Query a dataset with SoQL: ``/resource/abcd-1234.json?$where=…``."""
    dataset_id, fmt = _split_name(name)
    return _data_response(request, dataset_id, fmt)


@router.get("/api/views/{dataset_id}/rows.{fmt}")
def export_rows(request: Request, dataset_id: str, fmt: str) -> Response:
    """The whole dataset (or a SoQL selection of it), streamed as a download."""
    dataset_id, fmt = _split_name(f"{dataset_id}.{fmt}")
    return _data_response(request, dataset_id, fmt, download=True)


@router.get("/api/views/{name}")
def view(request: Request, name: str) -> JSONResponse:
    """Dataset metadata: columns, names, times, licence."""
    dataset_id, fmt = _split_name(name)
    if fmt != "json":
        raise NotFound("Metadata is available as .json only.", format=fmt)
    dataset = _portal(request).store.get_dataset(dataset_id)
    return JSONResponse(view_json(dataset), media_type="application/json; charset=utf-8")


@router.get("/api/views.json")
def views(request: Request) -> JSONResponse:
    """Every dataset's metadata."""
    datasets = _portal(request).store.list_datasets()
    return JSONResponse(
        [view_json(d) for d in datasets], media_type="application/json; charset=utf-8"
    )
