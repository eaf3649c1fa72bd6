"""The dataset page: what a dataset is, a filterable and sortable table, downloads of
exactly what is shown, and the data dictionary. Every read is SoQL through run_query."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from blotter.errors import InvalidRequest, SoQLError
from blotter.model import Column, ColumnType, Dataset
from blotter.portal import Portal
from blotter.queries import run_query
from blotter.web.filters import Filter, parse_filters, where_clause
from blotter.web.rendering import display, friendly_date, portal_of, render

router = APIRouter(include_in_schema=False)
PAGE_SIZES = (10, 25, 50, 100)
MAX_CHOICES = 40  # a text column with more distinct values gets a free-text box


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
    portal = portal_of(request)
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
