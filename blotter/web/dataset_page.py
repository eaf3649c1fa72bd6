"""The dataset page: what a dataset is, a filterable and sortable table, downloads of
exactly what is shown, and the data dictionary. Every read is SoQL through run_query."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import unquote_plus, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from blotter.access import sees_internal, visible_version
from blotter.analysis.benchmarks import RateTable
from blotter.analysis.summary import (
    dataset_facts,
    date_column,
    freshness,
    records_span,
    summary_sentences,
)
from blotter.auth import viewer_of
from blotter.errors import SoQLError
from blotter.history import checksum
from blotter.model import Column, ColumnType, Dataset, check_version_number
from blotter.portal import Portal
from blotter.queries import answers, run_query
from blotter.soql.compiler import Output
from blotter.store.common import now
from blotter.web.asked_ahead import ask_page_ahead
from blotter.web.calendar import event_fields
from blotter.web.chart_links import add_share_links, show_lazily
from blotter.web.dataset_sections import (
    MetaRow,
    first_sentence,
    hotspot_cell,
    meta_rows,
    quality_report,
    rates,
    rates_links,
    snippets,
)
from blotter.web.dataset_view import PAGE_SIZES, DatasetView, page_url, read_view, redirect_for
from blotter.web.events import Total, headline_totals
from blotter.web.filter_form import (
    Choice,
    FilterControl,
    Link,
    filter_controls,
    filter_keep,
    problem_links,
)
from blotter.web.filters import Problem
from blotter.web.history_pages import RECENT, VersionLine, citation, version_lines
from blotter.web.kept import kept_page
from blotter.web.kept_drawings import keep_version_drawings
from blotter.web.maps import MapView, boundary_areas, build_map
from blotter.web.patterns import Patterns, build_patterns
from blotter.web.places import place_redirect
from blotter.web.rendering import OpenGraph, absolute_url, display, portal_of, render

router = APIRouter(include_in_schema=False)


@dataclass
class HeaderCell:
    name: str
    sort_url: str | None
    aria_sort: str | None  # "ascending"/"descending" on the sorted column only
    arrow: str
    css: str


@dataclass
class Cell:
    text: str
    css: str


@dataclass
class Chip:
    label: str
    remove_url: str


@dataclass
class ColumnChoice:
    field_name: str
    name: str
    shown: bool


@dataclass
class DictionaryRow:
    name: str
    field_name: str
    type: str
    description: str


@dataclass
class DatasetPage:
    title: str
    dataset_id: str
    description: str
    sample: bool
    meta_rows: list[MetaRow]
    notes: str
    citation: str
    form_action: str
    controls: list[FilterControl]
    filters_open: bool
    problems: list[Link]  # each links to the control it is about
    chips: list[Chip]
    clear_url: str | None
    status: str
    show_table: bool
    caption: str
    headers: list[HeaderCell]
    rows: list[list[Cell]]
    column_choices: list[ColumnChoice]  # the "choose columns" form's boxes
    columns_keep: list[tuple[str, str]]  # what the column form carries besides the columns
    columns_reset_url: str | None  # back to the dataset's own choice of columns
    pager: str
    prev_url: str | None
    next_url: str | None
    sizes: list[Choice]
    # Hidden fields that carry the rest of the view through a form: the filter form keeps
    # the order and page size, the page-size form keeps the filters and the order.
    filter_keep: list[tuple[str, str]]
    size_keep: list[tuple[str, str]]
    downloads: list[Link]
    download_note: str
    api_url: str
    api_text: str  # the same address with its SoQL readable
    dictionary: list[DictionaryRow]
    summary: list[str]
    freshness: str
    late: str | None
    patterns: Patterns | None
    snippets: list[Link]  # (language, code) for the same rows in sodapy and pandas
    map: MapView | None
    rates: RateTable | None
    rates_url: str
    has_dashboard: bool
    totals: list[Total]  # events, staff hours, attendees… of the filtered rows
    calendar_url: str | None  # the iCalendar feed of an event dataset
    month_url: str | None  # its month calendar
    timing_url: str | None  # hour × weekday and year-on-year, under the same filters
    rates_links: list[Link]
    api_page_url: str  # the dataset's API page: fields, endpoints, runnable examples
    privacy_rules: list[str]  # the dataset's privacy rules in plain words
    quality: list[str]  # the latest quality report in plain words
    quality_table: list[tuple[str, str]]  # (column name, share with a value)
    dataset_name: str
    newest: int  # the newest version; ``version`` below is the one read
    version: int
    newest_url: str | None  # the same view of the newest version, when reading an older one
    history: list[VersionLine]  # the last few versions, in words
    history_url: str
    feed_url: str


def _count(n: int) -> str:
    return f"{n:,}"


@dataclass
class _Results:
    """What the page's queries found for one view."""

    summary: list[str]
    patterns: Patterns | None
    matching: int  # rows under the filters
    pages: int
    page_number: int  # the page asked for, at most the last
    rows: list[list[Cell]]
    controls: list[FilterControl]
    map: MapView | None
    rates: RateTable | None
    totals: list[Total]


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset_id: str) -> Response:
    """A dataset: what it is, a filterable, sortable table, downloads, the dictionary."""
    portal = portal_of(request)
    asked = request.query_params.get("version")
    number = check_version_number(asked, "version") if asked else None
    viewer = viewer_of(request, portal.store)
    dataset, newest = visible_version(portal.store, viewer, dataset_id, number)
    shared = redirect_for(dataset.id, request.query_params)
    if shared is not None:
        return RedirectResponse(shared, status_code=303)
    placed, unplaced = place_redirect(portal, dataset, dict(request.query_params))
    if placed is not None:
        return RedirectResponse(placed, status_code=303)

    def draw() -> Response:
        view = read_view(dataset, dict(request.query_params), boundary_areas(portal, dataset))
        view.problems += [unplaced] if unplaced else []
        results = _run(portal, request, dataset, view)
        page = _page(portal, request, dataset, view, results, newest)
        if not view.problems:
            portal.store.count_view(dataset.id)
        og = OpenGraph(
            title=dataset.meta.name,
            description=" ".join(results.summary)
            or first_sentence(dataset.meta.description)
            or dataset.meta.name,
            url=absolute_url(request, page_url(dataset.id, view.params)),
        )
        status = 400 if view.problems else 200
        return render(request, "dataset.html", page, status=status, og=og)

    # A view drawn before is sent again as it was; it is still a view of the dataset.
    def counted() -> None:
        portal.store.count_view(dataset.id)

    # The newest version's number is part of what is kept: an older version's page then
    # gains its banner (and the history its new line) when a version is published.
    form = f"dataset page, newest version {newest}"
    return kept_page(request, portal, viewer, dataset, form, draw, counted)


def _run(portal: Portal, request: Request, dataset: Dataset, view: DatasetView) -> _Results:
    """Every query the view needs: the summary and charts, the count and the page of rows,
    the filter form's counts, the map, rates and totals. A query the view makes impossible
    becomes one more of its problems, and nothing under the problems is queried."""
    problems, where, params = view.problems, view.where, view.params
    summary: list[str] = []
    patterns = None
    if not problems:
        ask_page_ahead(portal, dataset, view)
        # The version's drawings stored with its answers, for the drawings begun below.
        keep_version_drawings(answers(portal.store, portal.settings, dataset), dataset)
        try:
            facts = dataset_facts(portal.store, dataset, portal.settings, where, view.unit)
            summary = summary_sentences(dataset, facts, filtered=bool(view.filters))
            first_choice = facts.shares[0].column if facts.shares else None
            patterns, chart_problems = build_patterns(
                portal, dataset, params, where, first_choice, view.unit
            )
            for chart in patterns.charts:
                add_share_links(request, dataset.id, chart, params)
            # The key chart is drawn into the page (begun by build_patterns, beside the
            # queries below); the others load as images after it.
            show_lazily(patterns.charts[1:])
            problems += chart_problems
        except SoQLError as err:
            problems.append(Problem("", None, err.message))
    size, page_number = view.size, view.page_number
    matching, pages, rows = 0, 1, []
    if not problems:
        try:
            counted = run_query(
                portal.store,
                dataset,
                {**view.selection, "$select": "count(*)"},
                portal.settings,
            )
            matching = int(next(iter(counted.rows))[0])
            pages = max(1, math.ceil(matching / size))
            page_number = min(page_number, pages)
            shown = {
                **view.export,
                **view.select,
                "$limit": str(size),
                "$offset": str((page_number - 1) * size),
            }
            result = run_query(portal.store, dataset, shown, portal.settings)
            rows = [_cells(result.outputs, row, dataset) for row in result.rows]
        except SoQLError as err:
            problems.append(Problem("", None, err.message))
    errors = {p.param: p.message for p in problems}
    areas = sorted(view.areas)
    controls = filter_controls(portal, dataset, params, view.filters, errors, areas, view.unit)
    ok = not problems
    return _Results(
        summary=summary,
        patterns=patterns if ok else None,
        matching=matching,
        pages=pages,
        page_number=page_number,
        rows=rows,
        controls=controls,
        map=build_map(
            portal,
            dataset,
            where,
            matching,
            hotspot_cell(params),
            page_url(dataset.id, {k: v for k, v in params.items() if k != "chart.hotspots"}),
            view.unit,
        )
        if ok
        else None,
        rates=rates(portal, request, dataset, where, view.unit, view.residents) if ok else None,
        totals=headline_totals(portal, dataset, where) if ok else [],
    )


def _page(
    portal: Portal,
    request: Request,
    dataset: Dataset,
    view: DatasetView,
    found: _Results,
    newest: int,
) -> DatasetPage:
    """The page's typed context: the view and what its queries found, in words and links."""
    meta, problems, base, export = dataset.meta, view.problems, view.base, view.export
    older = dataset.version != newest
    # An older version's downloads and API address read that version too.
    export = {**export, "$$version": str(dataset.version)} if older else export
    size, page_number, matching = view.size, found.page_number, found.matching
    first = (page_number - 1) * size + 1 if matching else 0
    last = min(page_number * size, matching)
    if problems:
        status = "No rows are shown until the filters above are corrected."
    elif matching:
        status = f"Showing rows {_count(first)}–{_count(last)} of {_count(matching)} matching."
    else:
        status = "No rows match."
    has_point = any(c.type is ColumnType.POINT for c in dataset.columns)
    formats = ["CSV", "JSON"] + (["GeoJSON"] if has_point else [])
    api_url = f"/resource/{dataset.id}.json" + ("?" + urlencode(export) if export else "")
    fresh = freshness(dataset, now(), records_span(portal.store, dataset, portal.settings)[1])
    is_calendar = bool(event_fields(dataset))
    filtering = {f.param for f in view.filters}
    quality_lines, quality_table = quality_report(portal, dataset)
    return DatasetPage(
        title=meta.name,
        dataset_id=dataset.id,
        description=meta.description,
        sample=meta.sample,
        meta_rows=meta_rows(dataset),
        notes=meta.notes,
        citation=citation(dataset, request, checksum(portal, dataset), now())
        if dataset.version
        else "Nothing has been published in this dataset yet.",
        form_action=f"/datasets/{dataset.id}",
        controls=found.controls,
        filters_open=bool(problems),
        problems=problem_links(problems, found.controls),
        chips=[
            Chip(f.label, page_url(dataset.id, {k: v for k, v in base.items() if k != f.param}))
            for f in view.filters
        ],
        clear_url=page_url(dataset.id, {}) if view.filters or problems else None,
        status=status,
        show_table=not problems,
        caption=f"{meta.name}: rows {_count(first)} to {_count(last)} of {_count(matching)}",
        headers=[
            _header(dataset.id, base, c, view.sort, view.direction, view.sortable)
            for c in _shown_columns(dataset, view.columns)
        ],
        rows=found.rows,
        column_choices=[
            ColumnChoice(c.field_name, c.name, c in _shown_columns(dataset, view.columns))
            for c in dataset.columns
        ],
        columns_keep=[(k, v) for k, v in base.items() if k != "columns" and v],
        columns_reset_url=page_url(dataset.id, {k: v for k, v in base.items() if k != "columns"})
        if view.chosen_columns
        else None,
        pager=f"Page {_count(page_number)} of {_count(found.pages)}",
        prev_url=page_url(dataset.id, {**base, "page": str(page_number - 1)})
        if page_number > 1
        else None,
        next_url=page_url(dataset.id, {**base, "page": str(page_number + 1)})
        if page_number < found.pages
        else None,
        sizes=[Choice(str(s), str(s), s == size) for s in PAGE_SIZES],
        filter_keep=filter_keep(view.params, view.filters, found.controls),
        size_keep=[(k, v) for k, v in view.params.items() if k not in ("page", "size") and v],
        downloads=[
            Link(
                fmt,
                f"/api/views/{dataset.id}/rows.{fmt.lower()}?"
                + urlencode({"accessType": "DOWNLOAD", **export}),
            )
            for fmt in formats
        ],
        download_note=f"All {_count(matching)} matching rows, with the filters and order above"
        + (", in the columns chosen:" if view.chosen_columns else ", every column:"),
        api_url=api_url,
        api_text=unquote_plus(api_url),
        dictionary=[
            DictionaryRow(c.name, c.field_name, str(c.type), c.description) for c in dataset.columns
        ],
        summary=found.summary,
        freshness=fresh.text,
        late=fresh.late,
        patterns=found.patterns,
        snippets=snippets(absolute_url(request), dataset.id, export),
        map=found.map,
        rates=found.rates,
        has_dashboard=bool(meta.dashboard),
        totals=found.totals,
        calendar_url=f"/datasets/{dataset.id}/events.ics" if is_calendar else None,
        month_url=f"/datasets/{dataset.id}/calendar" if is_calendar else None,
        timing_url=page_url(f"{dataset.id}/when", {k: v for k, v in base.items() if k in filtering})
        if date_column(dataset) is not None
        else None,
        api_page_url=f"/datasets/{dataset.id}/api",
        rates_url=f"/api/analysis/v1/{dataset.id}/rates.json?"
        + urlencode(
            {
                **view.selection,
                "unit": view.unit.name,
                **({"residents": "true"} if view.residents else {}),
            }
        ),
        rates_links=rates_links(dataset, view.params, view.residents),
        # Named as the reader's columns are: an internal one is "an unpublished column".
        privacy_rules=meta.privacy.for_reader({c.field_name for c in dataset.columns}).describe(),
        quality=quality_lines,
        quality_table=quality_table,
        dataset_name=meta.name,
        newest=newest,
        version=dataset.version,
        newest_url=page_url(dataset.id, {k: v for k, v in view.params.items() if k != "version"})
        if older
        else None,
        history=version_lines(
            portal,
            dataset,
            portal.store.versions(dataset.id)[:RECENT],
            reads_internal=sees_internal(viewer_of(request, portal.store), dataset),
        ),
        history_url=f"/datasets/{dataset.id}/versions",
        feed_url=f"/datasets/{dataset.id}/history.atom",
    )


def _shown_columns(dataset: Dataset, names: list[str]) -> list[Column]:
    """The table's columns in the order asked (every column when none are named)."""
    if not names:
        return list(dataset.columns)
    by_name = {c.field_name: c for c in dataset.columns}
    return [by_name[n] for n in names if n in by_name]


def _header(
    dataset_id: str,
    base: dict[str, str],
    column: Column,
    sort: str,
    direction: str,
    sortable: set[str],
) -> HeaderCell:
    """A column heading that links to the table sorted by it (reversed when it already is)."""
    is_sorted = sort == column.field_name
    flip = "desc" if is_sorted and direction == "asc" else "asc"
    url = (
        page_url(dataset_id, {**base, "sort": column.field_name, "dir": flip})
        if column.field_name in sortable
        else None
    )
    aria = ("ascending" if direction == "asc" else "descending") if is_sorted else None
    arrow = {"ascending": " ▲", "descending": " ▼"}.get(aria or "", "")
    return HeaderCell(column.name, url, aria, arrow, _css(column.type))


def _css(column_type: ColumnType | None) -> str:
    if column_type is ColumnType.NUMBER:
        return "num"
    if column_type in (ColumnType.FLOATING_TIMESTAMP, ColumnType.POINT, ColumnType.CHECKBOX):
        return "nowrap"
    return ""


def _cells(
    outputs: list[Output], row: tuple[object, ...], dataset: Dataset | None = None
) -> list[Cell]:
    """A result row as display cells, category codes shown by their labels; a point's two
    physical values make one cell."""
    labelled = {c.field_name: c for c in dataset.columns if c.labels} if dataset else {}
    cells: list[Cell] = []
    i = 0
    for out in outputs:
        value: object = tuple(row[i : i + out.width]) if out.width > 1 else row[i]
        if isinstance(value, tuple) and any(v is None for v in value):
            value = None
        text = display(out.type, value)
        column = labelled.get(out.name)
        if column is not None and isinstance(value, str):
            sep = column.separator
            text = (sep or "").join(column.label(v) for v in column.values_of(value))
        cells.append(Cell(text, _css(out.type)))
        i += out.width
    return cells
