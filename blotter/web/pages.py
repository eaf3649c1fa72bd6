"""Server-rendered pages, usable with no JavaScript: the catalog, the API page, errors.

Views prepare typed contexts; templates only display them. The dataset page lives in
``dataset_page.py``; this module gathers every page's routes into one router.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from blotter.catalog import CatalogQuery, facets, search
from blotter.errors import BlotterError
from blotter.web.dataset_page import router as dataset_router
from blotter.web.rendering import HERE, friendly_date, portal_of, render

router = APIRouter(include_in_schema=False)
router.include_router(dataset_router)
STATIC_DIR = HERE / "static"


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
    cards: list[Card]
    categories: list[FacetLink]
    agencies: list[FacetLink]
    total: int
    clear_url: str | None


def _first_sentence(text: str) -> str:
    head = text.split(". ")[0].strip()
    return head if head.endswith(".") else head + "."


def _facet_links(counts: dict[str, int], key: str, request: Request) -> list[FacetLink]:
    current = request.query_params.get(key)
    links = []
    for label, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        params = dict(request.query_params)
        if current == label:
            params.pop(key)
        else:
            params[key] = label
        links.append(FacetLink(label, count, "/?" + urlencode(params), current == label))
    return links


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """The catalog: search by words, narrow by category and agency."""
    params = request.query_params
    everything = portal_of(request).store.list_datasets()
    query = CatalogQuery(
        q=params.get("q", ""),
        categories=[params["category"]] if params.get("category") else [],
        agencies=[params["agency"]] if params.get("agency") else [],
    )
    found = search(everything, query)
    counted = facets(search(everything, CatalogQuery(q=query.q)))
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
    page = CatalogPage(
        title="Datasets",
        q=query.q,
        cards=cards,
        categories=_facet_links(dict(counted.categories), "category", request),
        agencies=_facet_links(dict(counted.agencies), "agency", request),
        total=len(found),
        clear_url="/" if params else None,
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
    datasets = portal_of(request).store.list_datasets()
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
    status: int
    message: str


def error_page(request: Request, err: BlotterError) -> Response:
    """An error as a page: what went wrong, in words, with the right status."""
    titles = {404: "Not found", 400: "Something in the address is wrong", 429: "Too many requests"}
    page = ErrorPage(titles.get(err.status, "Something went wrong"), err.status, err.message)
    return render(request, "error.html", page, status=err.status)
