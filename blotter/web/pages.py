"""Server-rendered pages: the catalog and each dataset, usable with no JavaScript.

Views prepare typed contexts; templates only display them. Every read goes through
``blotter.queries.run_query`` with SoQL, exactly as the API does.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from blotter.api.serialize import format_number
from blotter.catalog import CatalogQuery, facets, search
from blotter.errors import BlotterError, InvalidRequest, SoQLError
from blotter.model import Column, ColumnType, Dataset
from blotter.portal import Portal
from blotter.queries import run_query
from blotter.web.filters import Filter, parse_filters, where_clause

router = APIRouter(include_in_schema=False)
HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
PAGE_SIZES = (10, 25, 50, 100)
MAX_CHOICES = 40  # a text column with more distinct values gets a free-text box

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def render(request: Request, template: str, context: Any, status: int = 200) -> HTMLResponse:
    portal = _portal(request)
    html = env.get_template(template).render(page=context, site=portal.settings.site_name)
    return HTMLResponse(html, status_code=status)


def display(column_type: ColumnType | None, value: Any) -> str:
    """A value as a person reads it on a page."""
    if value is None:
        return ""
    if column_type is ColumnType.POINT:
        lon, lat = value
        return f"{lat:.5f}, {lon:.5f}"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, datetime):
        return (
            value.strftime("%Y-%m-%d")
            if value.time() == datetime.min.time()
            else (value.strftime("%Y-%m-%d %H:%M"))
        )
    return str(value)


def friendly_date(value: datetime | None) -> str:
    return value.strftime("%B %-d, %Y") if value else "never"


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
    everything = _portal(request).store.list_datasets()
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


# --- dataset -------------------------------------------------------------------------


@dataclass
class Choice:
    value: str
    label: str
    selected: bool


@dataclass
class FilterControl:
    """One column's control in the filter form."""

    field: str
    name: str
    kind: str  # "select", "text", "range", "date", "yesno"
    choices: list[Choice] = dataclasses.field(default_factory=list)
    param: str = ""
    value: str = ""
    low: str = ""
    high: str = ""


@dataclass
class HeaderCell:
    field: str
    name: str
    sort_url: str
    aria_sort: str
    numeric: bool


@dataclass
class Chip:
    label: str
    remove_url: str


@dataclass
class MetaRow:
    label: str
    value: str
    url: str | None = None


@dataclass
class DatasetPage:
    title: str
    dataset: Dataset
    description: str
    sample: bool
    meta_rows: list[MetaRow]
    headers: list[HeaderCell]
    rows: list[list[str]]
    controls: list[FilterControl]
    chips: list[Chip]
    matching: int
    first: int
    last: int
    page: int
    pages: int
    prev_url: str | None
    next_url: str | None
    size: int
    sizes: tuple[int, ...]
    sort: str
    direction: str
    downloads: list[MetaRow]
    api_url: str
    columns: list[Column]
    error: str | None
    clear_url: str


def _url(dataset_id: str, params: dict[str, str]) -> str:
    clean = {k: v for k, v in params.items() if v != ""}
    return f"/datasets/{dataset_id}" + ("?" + urlencode(clean) if clean else "")


def _choices(
    portal: Portal, dataset: Dataset, column: Column, where: str | None
) -> tuple[list[tuple[str, int]], bool] | None:
    """Values of a text column with their counts under the other filters, if few, and
    whether its cells hold several values ("a; b"), which are then offered one by one."""
    params = {
        "$select": f"`{column.field_name}` AS value, count(*) AS n",
        "$group": f"`{column.field_name}`",
        "$order": "n DESC, value",
        "$limit": str(MAX_CHOICES + 1),
    }
    if where:
        params["$where"] = where
    result = run_query(portal.store, dataset.id, params, portal.settings)
    values = [(v, int(n)) for v, n in result.rows if v is not None]
    if len(values) > MAX_CHOICES:
        return None
    if not any("; " in v for v, _ in values):
        return values, False
    items: dict[str, int] = {}
    for v, n in values:
        for item in v.split("; "):
            items[item] = items.get(item, 0) + n
    return sorted(items.items(), key=lambda kv: (-kv[1], kv[0])), True


def _controls(
    portal: Portal, dataset: Dataset, params: dict[str, str], filters: list[Filter]
) -> list[FilterControl]:
    controls: list[FilterControl] = []
    for column in dataset.columns:
        name = column.field_name
        if name.endswith("_raw"):  # "(as recorded)" twins are for checking, not filtering
            continue
        if column.type is ColumnType.TEXT:
            others = where_clause([f for f in filters if f.field != name])
            found = _choices(portal, dataset, column, others)
            if found is None:
                controls.append(
                    FilterControl(
                        name,
                        column.name,
                        "text",
                        param=f"{name}__contains",
                        value=params.get(f"{name}__contains", ""),
                    )
                )
                continue
            values, multi = found
            param = f"{name}__has" if multi else name
            current = params.get(param, "")
            if current and current not in {v for v, _ in values}:
                values = [*values, (current, 0)]
            choices = [Choice("", "Any", current == "")] + [
                Choice(v, f"{v} ({n:,})", current == v) for v, n in values
            ]
            controls.append(
                FilterControl(name, column.name, "select", choices, param=param, value=current)
            )
        elif column.type in (ColumnType.NUMBER, ColumnType.FLOATING_TIMESTAMP):
            kind = "range" if column.type is ColumnType.NUMBER else "date"
            controls.append(
                FilterControl(
                    name,
                    column.name,
                    kind,
                    low=params.get(f"{name}__min", ""),
                    high=params.get(f"{name}__max", ""),
                )
            )
        elif column.type is ColumnType.CHECKBOX:
            current = params.get(name, "")
            choices = [
                Choice("", "Any", current == ""),
                Choice("true", "Yes", current == "true"),
                Choice("false", "No", current == "false"),
            ]
            controls.append(
                FilterControl(name, column.name, "yesno", choices, param=name, value=current)
            )
    return controls


def _meta_rows(dataset: Dataset) -> list[MetaRow]:
    meta = dataset.meta
    rows = [
        MetaRow("Published by", meta.agency),
        MetaRow("Category", meta.category),
        MetaRow("Tags", ", ".join(meta.tags)),
        MetaRow("Rows", f"{dataset.row_count:,}"),
        MetaRow("Data as of", friendly_date(dataset.data_as_of)),
        MetaRow("Last published", friendly_date(dataset.rows_updated_at)),
        MetaRow("Updates", str(meta.cadence)),
        MetaRow("Licence", meta.license, meta.license_url or None),
        MetaRow("Attribution", meta.attribution, meta.attribution_url or None),
        MetaRow("Source", meta.source_url, meta.source_url or None),
        MetaRow(
            "Contact",
            meta.contact_name or meta.contact_email,
            f"mailto:{meta.contact_email}" if meta.contact_email else None,
        ),
        MetaRow("Dataset id and version", f"{dataset.id}, version {dataset.version}"),
    ]
    return [r for r in rows if r.value]


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset_id: str) -> HTMLResponse:
    """A dataset: what it is, a filterable, sortable table, downloads, the dictionary."""
    portal = _portal(request)
    dataset = portal.store.get_dataset(dataset_id)
    params = dict(request.query_params)
    error: str | None = None
    try:
        filters = parse_filters(dataset, params)
    except InvalidRequest as err:
        filters, error = [], err.message
    where = where_clause(filters)

    sort = params.get("sort", "")
    direction = "desc" if params.get("dir") == "desc" else "asc"
    sortable = {c.field_name for c in dataset.columns if c.type is not ColumnType.POINT}
    if sort and sort not in sortable:
        error = error or f"'{sort}' is not a column that can be sorted."
        sort = ""
    try:
        size = int(params.get("size", "25"))
        page_number = max(1, int(params.get("page", "1")))
    except ValueError:
        size, page_number = 25, 1
        error = error or "Page and page size must be whole numbers."
    size = size if size in PAGE_SIZES else 25

    order = f"`{sort}` {direction.upper()}" if sort else None
    query: dict[str, str] = {}
    if where:
        query["$where"] = where
    try:
        count_rows = run_query(
            portal.store, dataset.id, {**query, "$select": "count(*)"}, portal.settings
        ).rows
        matching = int(next(iter(count_rows))[0])
        pages = max(1, math.ceil(matching / size))
        page_number = min(page_number, pages)
        shown = {**query, "$limit": str(size), "$offset": str((page_number - 1) * size)}
        if order:
            shown["$order"] = order
        result = run_query(portal.store, dataset.id, shown, portal.settings)
        rows = [_display_row(result.outputs, row) for row in result.rows]
    except SoQLError as err:
        error, matching, pages, rows = err.message, 0, 1, []

    base = {k: v for k, v in params.items() if k != "page"}
    headers = []
    for column in dataset.columns:
        is_sorted = sort == column.field_name
        flip = "desc" if is_sorted and direction == "asc" else "asc"
        headers.append(
            HeaderCell(
                field=column.field_name,
                name=column.name,
                sort_url=_url(dataset.id, {**base, "sort": column.field_name, "dir": flip})
                if column.field_name in sortable
                else "",
                aria_sort=("ascending" if direction == "asc" else "descending")
                if is_sorted
                else "none",
                numeric=column.type is ColumnType.NUMBER,
            )
        )
    chips = [
        Chip(f.label, _url(dataset.id, {k: v for k, v in base.items() if k != f.param}))
        for f in filters
    ]
    export = {**query, **({"$order": order} if order else {})}
    downloads = [
        MetaRow(
            "CSV",
            "",
            f"/api/views/{dataset.id}/rows.csv?" + urlencode({"accessType": "DOWNLOAD", **export}),
        ),
        MetaRow(
            "JSON",
            "",
            f"/api/views/{dataset.id}/rows.json?" + urlencode({"accessType": "DOWNLOAD", **export}),
        ),
        MetaRow(
            "GeoJSON",
            "",
            f"/api/views/{dataset.id}/rows.geojson?"
            + urlencode({"accessType": "DOWNLOAD", **export}),
        ),
    ]
    page = DatasetPage(
        title=dataset.meta.name,
        dataset=dataset,
        description=dataset.meta.description,
        sample=dataset.meta.sample,
        meta_rows=_meta_rows(dataset),
        headers=headers,
        rows=rows,
        controls=_controls(portal, dataset, params, filters),
        chips=chips,
        matching=matching,
        first=(page_number - 1) * size + 1 if matching else 0,
        last=min(page_number * size, matching),
        page=page_number,
        pages=pages,
        prev_url=_url(dataset.id, {**base, "page": str(page_number - 1)})
        if page_number > 1
        else None,
        next_url=_url(dataset.id, {**base, "page": str(page_number + 1)})
        if page_number < pages
        else None,
        size=size,
        sizes=PAGE_SIZES,
        sort=sort,
        direction=direction,
        downloads=downloads,
        api_url=f"/resource/{dataset.id}.json" + ("?" + urlencode(export) if export else ""),
        columns=dataset.columns,
        error=error,
        clear_url=f"/datasets/{dataset.id}",
    )
    return render(request, "dataset.html", page, status=400 if error else 200)


def _display_row(outputs: list[Any], row: tuple[Any, ...]) -> list[str]:
    cells: list[str] = []
    i = 0
    for out in outputs:
        value = tuple(row[i : i + out.width]) if out.width > 1 else row[i]
        if out.width > 1 and any(v is None for v in value):
            value = None
        cells.append(display(out.type, value))
        i += out.width
    return cells


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
    datasets = _portal(request).store.list_datasets()
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
