"""Server-rendered pages, usable with no JavaScript: the catalog, the API page, errors.

Views prepare typed contexts; templates only display them. The dataset page lives in
``dataset_page.py``; this module gathers every page's routes into one router.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from blotter.access import visible_datasets
from blotter.auth import viewer_of
from blotter.catalog import CatalogQuery, facets, search
from blotter.errors import BlotterError
from blotter.web.dataset_page import router as dataset_router
from blotter.web.manage import router as manage_router
from blotter.web.rendering import HERE, friendly_date, portal_of, render

router = APIRouter(include_in_schema=False)
router.include_router(dataset_router)
router.include_router(manage_router)
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


@dataclass
class FacetLink:
    label: str
    count: int
    url: str
    active: bool


@dataclass
class CatalogPage:
    title: str
    q: str
    heading: str
    cards: list[Card]
    categories: list[FacetLink]
    agencies: list[FacetLink]
    keep: list[tuple[str, str]]  # the chosen facets, kept when the words change
    clear_url: str | None


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


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """The catalog: search by words, narrow by category and agency."""
    params = {k: v for k, v in request.query_params.items() if k in ("q", "category", "agency")}
    portal = portal_of(request)
    everything = visible_datasets(portal.store, viewer_of(request, portal.store))
    q = params.get("q", "").strip()
    categories = [params["category"]] if params.get("category") else []
    agencies = [params["agency"]] if params.get("agency") else []
    found = search(everything, CatalogQuery(q=q, categories=categories, agencies=agencies))
    # Each facet counts what choosing one of its values would show: the words and the
    # other facet apply, its own choice does not.
    by_category = facets(search(everything, CatalogQuery(q=q, agencies=agencies))).categories
    by_agency = facets(search(everything, CatalogQuery(q=q, categories=categories))).agencies
    cards = [
        Card(
            id=d.id,
            name=d.meta.name,
            summary=_first_sentence(d.meta.description),
            agency=d.meta.agency,
            category=d.meta.category,
            rows=f"{d.row_count:,}",
            updated=friendly_date(d.rows_updated_at),
            sample=d.meta.sample,
        )
        for d in sorted(found, key=lambda d: d.meta.name.casefold())
    ]
    chosen = [(k, params[k]) for k in ("category", "agency") if params.get(k)]
    total = len(found)
    heading = " ".join(
        part
        for part in (
            f"{total:,} dataset{'' if total == 1 else 's'}",
            f"in {categories[0]}" if categories else "",
            f"from {agencies[0]}" if agencies else "",
            f"matching “{q}”" if q else "",
        )
        if part
    )
    page = CatalogPage(
        title="Datasets",
        q=q,
        heading=heading,
        cards=cards,
        categories=_facet_links(dict(by_category), "category", params),
        agencies=_facet_links(dict(by_agency), "agency", params),
        keep=chosen,
        clear_url="/" if any(params.values()) else None,
    )
    return render(request, "home.html", page)


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


@router.get("/api", response_class=HTMLResponse)
def api_page(request: Request) -> HTMLResponse:
    """How programs read the data: both API generations, with examples to copy."""
    portal = portal_of(request)
    datasets = visible_datasets(portal.store, viewer_of(request, portal.store))
    example = next(
        (d.id for d in datasets if not d.meta.sample), datasets[0].id if datasets else "abcd-1234"
    )
    base = str(request.base_url).rstrip("/")
    page = ApiPage("API", base, request.url.netloc, example)
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
    429: "Too many requests",
    503: "The portal is busy",
}


def error_page(request: Request, err: BlotterError) -> Response:
    """An error as a page: what went wrong, in words, with the right status."""
    title = _ERROR_TITLES.get(err.status, "Something went wrong")
    page = ErrorPage(title, f"Error {err.status}", err.message)
    return render(request, "error.html", page, status=err.status)
