"""Server-rendered pages, usable with no JavaScript: the catalog, the API page, errors.

Views prepare typed contexts; templates only display them. The dataset page lives in
``dataset_page.py``; this module gathers every page's routes into one router.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from blotter.access import visible_datasets
from blotter.analysis.summary import freshness, month_year, period_covered, records_span
from blotter.auth import viewer_of
from blotter.catalog import CatalogQuery, facets, search
from blotter.errors import BlotterError
from blotter.maplayers import layer_path, load_layers
from blotter.model import Dataset
from blotter.portal import Portal
from blotter.queries import seen_version
from blotter.store.common import now
from blotter.web.api_page import router as api_page_router
from blotter.web.branding import router as branding_router
from blotter.web.calendar import router as calendar_router
from blotter.web.chart_files import router as chart_files_router
from blotter.web.charts import vega_etag, vega_javascript
from blotter.web.dashboard import router as dashboard_router
from blotter.web.dataset_page import router as dataset_router
from blotter.web.events import router as events_router
from blotter.web.feeds import router as feeds_router
from blotter.web.history_pages import router as history_router
from blotter.web.key_facts import KeyFact, key_facts
from blotter.web.manage import router as manage_router
from blotter.web.maps import boundary_path
from blotter.web.rendering import (
    HERE,
    absolute_url,
    friendly_date,
    portal_of,
    render,
    render_error,
)
from blotter.web.signin import router as signin_router
from blotter.web.staff_accounts import router as staff_accounts_router
from blotter.web.timing import router as timing_router
from blotter.web.uploads import router as uploads_router

router = APIRouter(include_in_schema=False)
router.include_router(dataset_router)
router.include_router(api_page_router)
router.include_router(chart_files_router)
router.include_router(signin_router)
router.include_router(manage_router)
router.include_router(staff_accounts_router)
router.include_router(uploads_router)
router.include_router(dashboard_router)
router.include_router(calendar_router)
router.include_router(events_router)
router.include_router(timing_router)
router.include_router(history_router)
router.include_router(feeds_router)
router.include_router(branding_router)
STATIC_DIR = HERE / "static"
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z0-9“\"(])")


# --- catalog -------------------------------------------------------------------------


@dataclass
class Card:
    id: str
    name: str
    summary: str
    agency: str
    category: str
    rows: str
    updated: str
    sample: bool
    period: str  # "January 2015 to December 2017", or "" without a date column
    freshness: str
    late: bool
    views: int


@dataclass
class FacetLink:
    label: str
    count: int
    url: str
    active: bool


@dataclass
class FacetGroup:
    label: str
    links: list[FacetLink]


@dataclass
class SortLink:
    label: str
    url: str
    active: bool


@dataclass
class CatalogPage:
    title: str
    agency: str  # the department's name, the page's heading
    facts: list[KeyFact]  # "103 uses of force 2015–2017; 24 in 2017", each to its dataset
    chosen: int  # facets chosen, said on the collapsed filters' summary
    q: str
    heading: str
    cards: list[Card]
    facets: list[FacetGroup]
    keep: list[tuple[str, str]]  # the chosen facets and order, kept when the words change
    clear_url: str | None
    sorts: list[SortLink]


def _first_sentence(text: str) -> str:
    """The description's first sentence, for a card; a full stop ends it only before a
    capital letter, so "U.S. Department" or "e.g. arrests" stay whole."""
    text = " ".join(text.split())
    for match in _SENTENCE_END.finditer(text):
        return text[: match.start() + 1]
    return text


def _facet_links(counts: dict[str, int], key: str, params: dict[str, str]) -> list[FacetLink]:
    """Links that add a facet value to the current view, or take the chosen one away."""
    current = params.get(key)
    links = []
    for label, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        changed = {k: v for k, v in params.items() if k != key and v}
        if current != label:
            changed[key] = label
        url = "/?" + urlencode(changed) if changed else "/"
        links.append(FacetLink(label, count, url, current == label))
    return links


FACETS = {"category": "Category", "agency": "Agency", "tag": "Tag", "cadence": "Updated"}
SORTS = {"name": "Name", "updated": "Recently updated", "views": "Most viewed"}


def _query(q: str, chosen: dict[str, str], leave_out: str | None = None) -> CatalogQuery:
    """The catalog query of the page, optionally without one facet's own choice."""

    def pick(key: str) -> list[str]:
        return [chosen[key]] if chosen.get(key) and key != leave_out else []

    return CatalogQuery(
        q=q,
        categories=pick("category"),
        agencies=pick("agency"),
        tags=pick("tag"),
        cadences=pick("cadence"),
    )


def _period(portal: Portal, dataset: Dataset) -> tuple[str, datetime | None]:
    """ "January 2015 to December 2017" (declared, else from the dataset's date column) and
    the newest record's date, cached per version and columns seen (a staff reader's date
    column may be internal: the public must never be shown a period read from it)."""
    key = (id(portal.store), *seen_version(dataset))
    if key not in _PERIODS:
        first, last = period_covered(portal.store, dataset, portal.settings)
        newest = records_span(portal.store, dataset, portal.settings)[1]
        words = (
            "" if first is None or last is None else f"{month_year(first)} to {month_year(last)}"
        )
        _PERIODS[key] = (words, newest)
    return _PERIODS[key]


_PERIODS: dict[tuple[object, ...], tuple[str, datetime | None]] = {}


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """The catalog: search by words, narrow by facets, sort."""
    params = {k: v for k, v in request.query_params.items() if k in ("q", "sort", *FACETS)}
    portal = portal_of(request)
    everything = visible_datasets(portal.store, viewer_of(request, portal.store))
    q = params.get("q", "").strip()
    chosen = {k: params[k] for k in FACETS if params.get(k)}
    sort = params.get("sort", "name") if params.get("sort") in SORTS else "name"
    found = search(everything, _query(q, chosen))
    # Each facet counts what choosing one of its values would show: the words and the
    # other facets apply, its own choice does not.
    counts = {key: facets(search(everything, _query(q, chosen, key))) for key in FACETS}
    views = portal.store.view_counts()
    order = {
        "name": lambda d: (d.meta.name.casefold(),),
        "updated": lambda d: (-(d.rows_updated_at or d.updated_at).timestamp(),),
        "views": lambda d: (-views.get(d.id, 0), d.meta.name.casefold()),
    }[sort]
    stamp = now()
    cards = []
    for d in sorted(found, key=order):
        period, newest = _period(portal, d)
        fresh = freshness(d, stamp, newest)
        cards.append(
            Card(
                id=d.id,
                name=d.meta.name,
                summary=_first_sentence(d.meta.description),
                agency=d.meta.agency,
                category=d.meta.category,
                rows=f"{d.row_count:,}",
                updated=friendly_date(d.rows_updated_at),
                sample=d.meta.sample,
                period=period,
                freshness=fresh.text,
                late=fresh.late is not None,
                views=views.get(d.id, 0),
            )
        )
    total = len(found)
    heading = " ".join(
        part
        for part in (
            f"{total:,} dataset{'' if total == 1 else 's'}",
            f"in {chosen['category']}" if "category" in chosen else "",
            f"from {chosen['agency']}" if "agency" in chosen else "",
            f"tagged “{chosen['tag']}”" if "tag" in chosen else "",
            f"updated {chosen['cadence']}" if "cadence" in chosen else "",
            f"matching “{q}”" if q else "",
        )
        if part
    )
    groups = {
        "category": counts["category"].categories,
        "agency": counts["agency"].agencies,
        "tag": counts["tag"].tags,
        "cadence": counts["cadence"].cadences,
    }
    page = CatalogPage(
        title="Datasets",
        agency=portal.settings.agency_name,
        facts=key_facts(portal, everything) if not (q or chosen) else [],
        chosen=len(chosen),
        q=q,
        heading=heading,
        cards=cards,
        facets=[
            FacetGroup(label, _facet_links(dict(groups[key]), key, params))
            for key, label in FACETS.items()
            if groups[key]
        ],
        keep=[(k, v) for k, v in params.items() if k in FACETS or k == "sort"],
        clear_url="/" if any(params.get(k) for k in ("q", *FACETS)) else None,
        sorts=[
            SortLink(label, "/?" + urlencode({**params, "sort": key}), key == sort)
            for key, label in SORTS.items()
        ],
    )
    return render(request, "home.html", page)


@router.get("/boundaries/{name}")
def boundary(request: Request, name: str) -> Response:
    """A boundary GeoJSON file named by a dataset, for its interactive map."""
    path = boundary_path(portal_of(request), name)
    return FileResponse(path, media_type="application/geo+json")


@router.get("/layers/{name}")
def map_layer(request: Request, name: str) -> Response:
    """A map layer file (streets, parks) for the interactive map; checked as at start-up, so
    a file broken since is a 503 naming it, not a blank map."""
    settings = portal_of(request).settings
    path = layer_path(settings, name)
    load_layers(settings, [name])
    stat = path.stat()
    headers = {
        "Cache-Control": "public, max-age=3600",
        "ETag": f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"',
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type="application/geo+json", headers=headers)


@router.get("/favicon.ico")
def favicon() -> Response:
    """The icon browsers ask for at the root, whatever the page links to."""
    return FileResponse(
        STATIC_DIR / "favicon.png",
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/assets/vega.js")
def vega_bundle(request: Request) -> Response:
    """Vega, Vega-Lite and Vega-Embed in one file, from vl-convert (never a CDN); loaded only
    when a reader asks for an interactive chart, so no page pays for it up front."""
    if request.headers.get("if-none-match") == vega_etag():
        return Response(status_code=304, headers={"ETag": vega_etag()})
    return Response(
        vega_javascript(),
        media_type="text/javascript; charset=utf-8",
        headers={"ETag": vega_etag(), "Cache-Control": "public, max-age=86400"},
    )


@router.get("/d/{dataset_id}")
def permalink(dataset_id: str) -> RedirectResponse:
    """Socrata-style short link to a dataset."""
    return RedirectResponse(f"/datasets/{dataset_id}", status_code=301)


# --- API -----------------------------------------------------------------------------


@dataclass
class ApiPage:
    title: str
    base: str
    host: str
    example: str
    plain_http: bool  # sodapy speaks HTTPS unless given an adapter for http://


@router.get("/api", response_class=HTMLResponse)
def api_page(request: Request) -> HTMLResponse:
    """How programs read the data: both API generations, with examples to copy."""
    portal = portal_of(request)
    datasets = visible_datasets(portal.store, viewer_of(request, portal.store))
    example = next(
        (d.id for d in datasets if not d.meta.sample), datasets[0].id if datasets else "abcd-1234"
    )
    base = absolute_url(request)
    page = ApiPage("API", base, urlsplit(base).netloc, example, base.startswith("http://"))
    return render(request, "api.html", page)


# --- errors --------------------------------------------------------------------------


@dataclass
class ErrorPage:
    title: str
    status: str
    message: str


_ERROR_TITLES = {
    400: "Something in the address is wrong",
    404: "Not found",
    408: "That took too long",
    413: "That is too large",
    414: "That address is too long",
    429: "Too many requests",
    503: "The portal is busy",
}


def error_page(request: Request, err: BlotterError, *, anonymous: bool = False) -> Response:
    """An error as a page: what went wrong, in words, with the right status."""
    title = _ERROR_TITLES.get(err.status, "Something went wrong")
    page = ErrorPage(title, f"Error {err.status}", err.message)
    return render_error(request, "error.html", page, err, anonymous=anonymous)
