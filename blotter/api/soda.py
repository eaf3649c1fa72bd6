"""The SODA 2.1 read API: ``/resource``, ``/api/views`` and the bulk export.

Thin: parameters in, :func:`blotter.queries.prepare_query`, serializer out. Headers and
content types are Socrata's exactly, because clients choose their parser from them.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from blotter.access import visible_dataset, visible_datasets
from blotter.api.filenames import filter_words
from blotter.api.responses import FORMATS, data_response
from blotter.api.views import view_json, visible_report
from blotter.auth import viewer_of
from blotter.errors import InvalidRequest, NotFound, SoQLError
from blotter.model import check_dataset_id, check_version_number
from blotter.portal import portal_of
from blotter.queries import prepare_query, split_params

router = APIRouter()
# Socrata clients send ``$$version=2.1`` to ask for an API generation; a dataset's version
# is a whole number.
_API_VERSION = re.compile(r"\d\.\d")


def split_name(name: str, default: str = "json") -> tuple[str, str]:
    """``abcd-1234.csv`` → (``abcd-1234``, ``csv``)."""
    stem, dot, fmt = name.partition(".")
    fmt = fmt if dot else default
    if fmt not in FORMATS:
        raise NotFound(f"Unknown format '.{fmt}'. Use .json, .csv or .geojson.", format=fmt)
    return check_dataset_id(stem), fmt


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
    params = _single_params(request)
    version = params.get("$$version")
    if version is not None and (not version.strip() or _API_VERSION.fullmatch(version)):
        # Empty is absent, as for every parameter; "2.1" is Socrata's own use of the name,
        # the API generation asked for, not a dataset's version.
        version = None
    bom = params.get("$$bom", "").lower() == "true"
    # Socrata's download links carry accessType=DOWNLOAD; such an answer is a named file.
    attach = params.get("accessType", "").upper() == "DOWNLOAD"
    return data_response(
        request,
        dataset_id,
        fmt,
        lambda portal, dataset: prepare_query(
            portal.store, dataset, params, portal.settings, unlimited=download
        ),
        etag_key=sorted(params.items()),
        download=download,
        attach=attach,
        # Only a downloaded file is named for its filter.
        about=filter_words(params) if download or attach else "",
        bom=bom,
        # A whole export is the same bytes for every reader of the version: sent from a file.
        whole=download and fmt == "csv" and _asks_everything(params),
        version=check_version_number(version) if version is not None else None,
    )


def _asks_everything(params: dict[str, str]) -> bool:
    """No clause and no filter (options such as ``$$bom`` or ``accessType`` aside)."""
    try:
        clauses, filters = split_params(params)
    except SoQLError:  # not a whole export; the query's preparation reports it in its turn
        return False
    return not clauses and not filters


@router.get("/resource/{name}")
def resource(request: Request, name: str) -> Response:
    """Query a dataset with SoQL: ``/resource/abcd-1234.json?$where=…``."""
    dataset_id, fmt = split_name(name)
    return _data_response(request, dataset_id, fmt)


@router.get("/api/views/{dataset_id}/rows.{fmt}")
def export_rows(request: Request, dataset_id: str, fmt: str) -> Response:
    """The whole dataset (or a SoQL selection of it), streamed as a download."""
    dataset_id, fmt = split_name(f"{dataset_id}.{fmt}")
    return _data_response(request, dataset_id, fmt, download=True)


@router.get("/api/views/{name}")
def view(request: Request, name: str) -> JSONResponse:
    """Dataset metadata: columns, names, times, licence."""
    dataset_id, fmt = split_name(name)
    if fmt != "json":
        raise NotFound("Metadata is available as .json only.", format=fmt)
    portal = portal_of(request)
    viewer = viewer_of(request, portal.store)
    dataset = visible_dataset(portal.store, viewer, dataset_id)
    return JSONResponse(
        view_json(dataset, staff=viewer.user is not None),
        media_type="application/json; charset=utf-8",
    )


@router.get("/api/views/{dataset_id}/quality.json")
def quality(request: Request, dataset_id: str) -> JSONResponse:
    """The latest publish's data-quality report, about the columns the viewer may see."""
    check_dataset_id(dataset_id)
    portal = portal_of(request)
    dataset = visible_dataset(portal.store, viewer_of(request, portal.store), dataset_id)
    report = visible_report(dataset, portal.store.latest_quality(dataset_id))
    if report is None:
        raise NotFound(f"Dataset {dataset_id} has no quality report yet.", dataset_id=dataset_id)
    return JSONResponse(report, media_type="application/json; charset=utf-8")


@router.get("/api/views.json")
def views(request: Request) -> JSONResponse:
    """Every dataset's metadata."""
    portal = portal_of(request)
    viewer = viewer_of(request, portal.store)
    datasets = visible_datasets(portal.store, viewer)
    return JSONResponse(
        [view_json(d, staff=viewer.user is not None) for d in datasets],
        media_type="application/json; charset=utf-8",
    )
