"""SODA3: Socrata's current query and export endpoints, over the same compiler and serializers.

``POST /api/v3/views/{id}/query.{fmt}`` takes ``{"query", "page", "includeSynthetic"}`` in a
JSON body (``GET`` takes the same as URL parameters); ``GET /api/v3/views/{id}/export.{fmt}``
streams a whole result. Rows, headers and errors are those of SODA 2.1 for the same query.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from blotter.api.responses import FORMATS, data_response
from blotter.errors import (
    AuthenticationRequired,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    SoQLError,
)
from blotter.model import check_dataset_id, check_version_number
from blotter.portal import portal_of
from blotter.queries import prepare_parsed
from blotter.soql import ast
from blotter.soql.parser import parse_statement

router = APIRouter()

MAX_PAGE_SIZE = 50_000


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    page_number: int = Field(1, ge=1, alias="pageNumber")
    page_size: int = Field(1000, ge=1, le=MAX_PAGE_SIZE, alias="pageSize")


class QueryRequest(BaseModel):
    """The body of a SODA3 query."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    query: str = "SELECT *"
    page: Page | None = None
    include_synthetic: bool = Field(False, alias="includeSynthetic")
    parameters: dict[str, Any] = Field(default_factory=dict)
    # A version to read as it was served (as ``$$version`` in SODA 2.1); None: the newest.
    version: int | None = Field(None, ge=1)

    @field_validator("query")
    @classmethod
    def _empty_is_everything(cls, query: str) -> str:
        # As in SODA 2.1, an empty query is an absent one, not an error.
        return query if query.strip() else "SELECT *"


def _dataset_and_format(dataset_id: str, fmt: str) -> tuple[str, str]:
    if fmt not in FORMATS:
        raise NotFound(f"Unknown format '.{fmt}'. Use .json, .csv or .geojson.", format=fmt)
    return check_dataset_id(dataset_id), fmt


def _identify(request: Request) -> None:
    """Refuse anonymous reads when the portal asks SODA3 callers to identify themselves."""
    portal = portal_of(request)
    if portal.settings.soda3_anonymous:
        return
    token = request.headers.get("x-app-token") or request.query_params.get("$$app_token")
    if token is None:
        raise AuthenticationRequired(
            "This portal asks SODA3 callers to identify themselves: send an app token in the "
            "X-App-Token header."
        )
    if token not in portal.settings.app_tokens:
        raise PermissionDenied("This app token is not known to this portal.")


def adjust(query: ast.Query, request: QueryRequest) -> ast.Query:
    """Apply SODA3 paging and synthetic fields to a parsed statement.

    A page is taken from within the statement's own LIMIT/OFFSET window; with no ORDER BY the
    compiler orders by :id, so pages never repeat or drop a row.
    """
    if request.include_synthetic:
        star = ast.Star(system=True)
        select = (star, *query.select) if query.select else (star, ast.Star())
        query = dataclasses.replace(query, select=select)
    if request.page is None:
        return query
    size, number = request.page.page_size, request.page.page_number
    start = (query.offset or 0) + (number - 1) * size
    if query.limit is not None:
        remaining = max(0, query.limit - (number - 1) * size)
        size = min(size, remaining)
    return dataclasses.replace(query, limit=size, offset=start)


def _answer(
    request: Request, dataset_id: str, fmt: str, body: QueryRequest, *, download: bool
) -> Response:
    _identify(request)
    if body.parameters:
        raise SoQLError(
            "Query parameters are not supported yet: write the values into the query.",
            clause="parameters",
        )
    started = time.monotonic()  # the query time limit counts parsing and compiling
    query = adjust(parse_statement(body.query), body)
    return data_response(
        request,
        dataset_id,
        fmt,
        lambda portal, dataset: prepare_parsed(
            portal.store, dataset, query, portal.settings, unlimited=download, started=started
        ),
        etag_key=body.model_dump(by_alias=True),
        download=download,
        about=_query_words(body.query),
        version=body.version,
    )


def _query_words(query: str) -> str:
    """What a statement picks, for a download's name: the text after ``SELECT *``."""
    return re.sub(r"^\s*select\s+\*\s*", "", query, flags=re.IGNORECASE)


def _from_url(request: Request) -> QueryRequest:
    # An empty parameter is an absent one, as Socrata reads them.
    params = {k: v for k, v in request.query_params.items() if v.strip()}
    unknown = set(params) - {
        "query",
        "pageNumber",
        "pageSize",
        "includeSynthetic",
        "version",
        "$$app_token",
        "app_token",
    }
    if unknown:
        raise InvalidRequest(f"Unknown parameter(s): {', '.join(sorted(unknown))}.")
    data: dict[str, Any] = {}
    if "query" in params:
        data["query"] = params["query"]
    if "pageNumber" in params or "pageSize" in params:
        data["page"] = {k: params[k] for k in ("pageNumber", "pageSize") if k in params}
    if "includeSynthetic" in params:
        data["includeSynthetic"] = params["includeSynthetic"]
    if "version" in params:
        data["version"] = check_version_number(params["version"], "version")
    return _validated(data)


def _validated(data: object) -> QueryRequest:
    try:
        return QueryRequest.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in err.errors()
        )
        raise InvalidRequest(f"Invalid SODA3 request: {problems}.") from None


@router.post("/api/v3/views/{dataset_id}/query.{fmt}")
async def query_post(request: Request, dataset_id: str, fmt: str) -> Response:
    """Run a SoQL statement sent as JSON: ``{"query": "SELECT …", "page": {…}}``."""
    dataset_id, fmt = _dataset_and_format(dataset_id, fmt)
    try:
        data = await request.json()
    except (ValueError, RecursionError):  # nested past Python's stack: no query either
        raise InvalidRequest('The body must be JSON: {"query": "SELECT …"}.') from None
    return _answer(request, dataset_id, fmt, _validated(data), download=False)


@router.get("/api/v3/views/{dataset_id}/query.{fmt}")
def query_get(request: Request, dataset_id: str, fmt: str) -> Response:
    """The same query with ``query=``, ``pageNumber=``, ``pageSize=`` in the URL."""
    dataset_id, fmt = _dataset_and_format(dataset_id, fmt)
    return _answer(request, dataset_id, fmt, _from_url(request), download=False)


@router.get("/api/v3/views/{dataset_id}/export.{fmt}")
def export(request: Request, dataset_id: str, fmt: str) -> Response:
    """The whole result of ``query=`` (the whole dataset by default), streamed as a download."""
    dataset_id, fmt = _dataset_and_format(dataset_id, fmt)
    body = _from_url(request)
    if body.page is not None:
        raise InvalidRequest("An export is never paged; drop pageNumber and pageSize.")
    return _answer(request, dataset_id, fmt, body, download=True)
