"""Pages and files for the public, kept: validators (ETag, Last-Modified), 304 answers, and
the drawn answer itself among the version's kept answers.

A page for an anonymous reader is the same for everyone who asks at the same versions, so
what it depends on names it (:func:`page_validators`); staff pages carry their session's
form tokens and may show internal columns, and are always drawn afresh."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version

from fastapi import Request
from fastapi.responses import Response

from blotter.access import Viewer
from blotter.errors import NotFound
from blotter.maplayers import layer_path
from blotter.model import Dataset
from blotter.portal import Portal
from blotter.queries import answers, dataset_tag, http_date, last_modified, not_modified
from blotter.store.common import now
from blotter.web.chart_drawing import NOT_DRAWN
from blotter.web.maps import boundary_path

_KEPT_HEADERS = ("content-type", "content-disposition", "cache-control")


def kept_page(
    request: Request,
    portal: Portal,
    viewer: Viewer,
    dataset: Dataset,
    form: str,
    draw: Callable[[], Response],
    on_kept: Callable[[], None] | None = None,
) -> Response:
    """``draw()``'s answer about ``dataset`` (``form`` names which page or file), for the
    public: 304 when the request's conditions match, the kept answer when one was drawn
    before (``on_kept`` then runs, e.g. to count the view), else drawn, kept and sent with
    its validators. Only a 200 with every chart drawn is kept: one with a chart left undrawn
    (its drawing stopped) is sent as drawn, with no validators, and drawn again when asked."""
    if viewer.user is not None:
        return draw()
    validators = page_validators(portal, dataset, form, dict(request.query_params))
    if not_modified(
        request.headers.get("if-none-match"),
        request.headers.get("if-modified-since"),
        validators["ETag"],
        parsedate_to_datetime(validators["Last-Modified"]),
    ):
        return Response(status_code=304, headers=validators)
    cache = answers(portal.store, portal.settings)
    key = (form, validators["ETag"])
    kept = cache.get(key)
    if kept is not None:
        body, headers = kept
        if on_kept is not None:
            on_kept()
        return Response(body, headers={**headers, **validators})
    response = draw()
    if response.status_code != 200:
        return response
    body = bytes(response.body)
    if NOT_DRAWN.encode() in body:
        response.headers["Cache-Control"] = "no-store"
        return response
    response.headers.update(validators)
    headers = {k: v for k, v in response.headers.items() if k in _KEPT_HEADERS}
    cache.put(key, (body, headers), len(body))
    return response


def page_validators(
    portal: Portal, dataset: Dataset, form: str, params: dict[str, str]
) -> dict[str, str]:
    """ETag, Last-Modified and Vary of a page (or file) about a dataset, ``form`` naming
    which: what it shows depends on the dataset's
    version, columns, dictionary and metadata, the view's parameters, the versions of the
    datasets its rates divide by (population, activity), the boundary and layer files, the day (how
    late the data are, upcoming events) and the portal's code."""
    related: list[object] = []
    moments = [last_modified(dataset)]
    for link in (dataset.meta.benchmark, dataset.meta.activity):
        if link is None:
            continue
        try:
            other = portal.store.get_dataset(link.dataset)
        except NotFound:
            related.append(link.dataset)
            continue
        related.append([other.id, other.created_at.isoformat(), other.version])
        related.append(other.updated_at.isoformat())
        moments.append(last_modified(other))
    boundary = None
    if dataset.meta.boundary:
        try:
            boundary = boundary_path(portal, dataset.meta.boundary).stat().st_mtime_ns
        except (NotFound, OSError):
            boundary = None
    # The map layers' files: a street file replaced redraws the maps.
    for name in [*portal.settings.map_layers, *dataset.meta.map_layers]:
        try:
            related.append([name, layer_path(portal.settings, name).stat().st_mtime_ns])
        except (NotFound, OSError):
            related.append(name)
    today = now().date()
    moments.append(datetime.combine(today, time.min, tzinfo=UTC))
    etag = dataset_tag(
        dataset, form, sorted(params.items()), related, boundary, today.isoformat(), _CODE
    )
    return {
        "ETag": etag,
        "Last-Modified": http_date(max(moments)),
        "Vary": "Cookie, Authorization",
    }


def _code_version() -> str:
    try:
        return version("blotter")
    except PackageNotFoundError:  # a checkout run without installing
        return "unknown"


_CODE = _code_version()
