"""The dataset page: what a dataset is, a filterable and sortable table, downloads of
exactly what is shown, and the data dictionary. Every read is SoQL through run_query."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from urllib.parse import unquote_plus, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from blotter.access import visible_dataset
from blotter.analysis.benchmarks import RateTable, rate_table
from blotter.analysis.counts import count_values
from blotter.analysis.summary import (
    dataset_facts,
    date_column,
    freshness,
    records_span,
    summary_sentences,
)
from blotter.analysis.units import Unit, unit_of, units_of
from blotter.auth import viewer_of
from blotter.errors import DatasetNotFound, InvalidRequest, SoQLError
from blotter.model import Column, ColumnType, Dataset, safe_link, safe_mailto
from blotter.portal import Portal
from blotter.quality import QualityReport, visible
from blotter.queries import run_query
from blotter.soql.compiler import Output
from blotter.store.common import now
from blotter.web.chart_links import add_share_links
from blotter.web.events import Total, headline_totals
from blotter.web.filters import (
    IN_SEPARATOR,
    VIEW_PREFIX,
    Filter,
    Problem,
    parse_filters,
    where_clause,
)
from blotter.web.maps import MapView, boundary_areas, build_map
from blotter.web.patterns import Patterns, build_patterns
from blotter.web.rendering import (
    OpenGraph,
    absolute_url,
    display,
    friendly_date,
    portal_of,
    render,
)

router = APIRouter(include_in_schema=False)
PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_SIZE = 25
MAX_CHOICES = 40  # a text column with more distinct values gets free-text boxes


@dataclass
class Choice:
    value: str
    label: str
    selected: bool


@dataclass
class Input:
    """One form field: its id, URL parameter, label, current value and any problem."""

    id: str
    param: str
    label: str
    value: str
    kind: str = "text"  # "text", "number" (text with a decimal keypad), "date"
    error: str | None = None


@dataclass
class FilterControl:
    """One column's control in the filter form: a select, or a group of inputs."""

    field: str
    name: str
    kind: str  # "select" (one labelled select) or "group" (a fieldset of inputs)
    select: Input | None = None
    choices: list[Choice] = dataclasses.field(default_factory=list)
    inputs: list[Input] = dataclasses.field(default_factory=list)
    # Categories also offer "is not" (one value) and "is one of" (several, a multi-select).
    exclude: Input | None = None
    exclude_choices: list[Choice] = dataclasses.field(default_factory=list)
    any_of: Input | None = None
    any_of_choices: list[Choice] = dataclasses.field(default_factory=list)


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
class Link:
    label: str
    url: str | None = None


@dataclass
class MetaRow:
    label: str
    value: str
    url: str | None = None


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


def _quality(portal: Portal, dataset: Dataset) -> tuple[list[str], list[tuple[str, str]]]:
    """The latest quality report, about the columns this viewer sees: in words, and each
    column's share of rows with a value."""
    kept = portal.store.latest_quality(dataset.id)
    if kept is None:
        return [], []
    fields = {c.field_name for c in dataset.columns}
    report = QualityReport.model_validate(visible(kept, fields, dataset.meta.privacy.protected()))
    names = {c.field_name: c.name for c in dataset.columns}
    table = [(names[f], f"{share:.0%}") for f, share in report.completeness.items() if f in names]
    return report.summary(), table


def _url(dataset_id: str, params: dict[str, str]) -> str:
    clean = {k: v for k, v in params.items() if v != ""}
    return f"/datasets/{dataset_id}" + ("?" + urlencode(clean) if clean else "")


def _count(n: int) -> str:
    return f"{n:,}"


def _choices(
    portal: Portal, dataset: Dataset, column: Column, where: str | None, unit: Unit | None = None
) -> tuple[list[tuple[str, int]], bool] | None:
    """Values of a text column with their counts (of ``unit``) under the other filters, if
    few, and whether its cells hold several values ("a; b"), which are then offered one by
    one and counted as the column's chart counts them."""
    unit = unit or unit_of(dataset, None)
    params = {
        "$select": f"`{column.field_name}` AS value, {unit.count} AS n",
        "$group": f"`{column.field_name}`",
        "$order": "n DESC, value",
        "$limit": str(MAX_CHOICES + 1),
    }
    if where:
        params["$where"] = where
    result = run_query(portal.store, dataset, params, portal.settings)
    values = [(v, int(n)) for v, n in result.rows if v is not None]
    if len(values) > MAX_CHOICES:
        return None
    if column.separator is None and not any("; " in v for v, _ in values):
        return values, False
    if column.separator is not None:
        counted = count_values(portal.store, dataset, portal.settings, column, where, unit)
        return [(str(c.value), int(c.count)) for c in counted.values if c.value is not None], True
    items: dict[str, int] = {}
    for v, n in values:
        for item in v.split("; "):
            items[item] = items.get(item, 0) + n
    return sorted(items.items(), key=lambda kv: (-kv[1], kv[0])), True


def _controls(
    portal: Portal,
    dataset: Dataset,
    params: dict[str, str],
    filters: list[Filter],
    errors: dict[str, str],
    areas: list[str],
    unit: Unit | None = None,
) -> list[FilterControl]:
    """One control per filterable column, holding the values now in the URL."""

    def field_input(name: str, suffix: str, label: str, kind: str = "text") -> Input:
        param = name + suffix
        return Input(
            f"f-{name}{suffix.replace('__', '-')}",
            param,
            label,
            params.get(param, ""),
            kind,
            errors.get(param),
        )

    controls: list[FilterControl] = []
    for column in dataset.columns:
        name = column.field_name
        if name.endswith("_raw"):  # "(as recorded)" twins are for checking, not filtering
            continue
        if column.type is ColumnType.TEXT:
            # Whether a column gets a list or free-text boxes depends on the whole dataset,
            # so the form keeps its shape while filters change; the counts follow them.
            found = _choices(portal, dataset, column, None, unit)
            others = where_clause([f for f in filters if f.field != name])
            if found is not None and others:
                found = _choices(portal, dataset, column, others, unit) or found
            if found is None:
                inputs = [
                    field_input(name, "", "is exactly"),
                    field_input(name, "__contains", "contains"),
                ]
                controls.append(FilterControl(name, column.name, "group", inputs=inputs))
                continue
            values, multi = found
            select = field_input(name, "__has" if multi else "", column.name)
            if select.value and select.value not in {v for v, _ in values}:
                values = [*values, (select.value, 0)]
            choices = [Choice("", "Any", select.value == "")] + [
                Choice(v, f"{column.label(v)} ({n:,})", select.value == v) for v, n in values
            ]
            control = FilterControl(name, column.name, "select", select, choices)
            if not multi:
                control.exclude = field_input(name, "__not", f"{column.name} is not")
                control.exclude_choices = [Choice("", "Any", not control.exclude.value)] + [
                    Choice(v, f"{column.label(v)} ({n:,})", control.exclude.value == v)
                    for v, n in values
                ]
                control.any_of = field_input(name, "__in", f"{column.name} is one of")
                chosen = set(control.any_of.value.split(IN_SEPARATOR))
                control.any_of_choices = [
                    Choice(v, f"{column.label(v)} ({n:,})", v in chosen) for v, n in values
                ]
            controls.append(control)
        elif column.type in (ColumnType.NUMBER, ColumnType.FLOATING_TIMESTAMP):
            kind = "number" if column.type is ColumnType.NUMBER else "date"
            inputs = [
                field_input(name, "__min", "From", kind),
                field_input(name, "__max", "To", kind),
            ]
            controls.append(FilterControl(name, column.name, "group", inputs=inputs))
        elif column.type is ColumnType.POINT:
            near = field_input(name, "__near", "Within: latitude, longitude, metres")
            inputs = [near]
            if areas:
                area = field_input(name, "__area", "Inside")
                choices = [Choice("", "Anywhere", area.value == "")] + [
                    Choice(a, a, area.value == a) for a in areas
                ]
                controls.append(
                    FilterControl(name, f"{column.name}: inside", "select", area, choices)
                )
            controls.append(FilterControl(name, column.name, "group", inputs=inputs))
        elif column.type is ColumnType.CHECKBOX:
            select = field_input(name, "", column.name)
            choices = [
                Choice("", "Any", select.value == ""),
                Choice("true", "Yes", select.value == "true"),
                Choice("false", "No", select.value == "false"),
            ]
            controls.append(FilterControl(name, column.name, "select", select, choices))
    return controls


def _meta_rows(dataset: Dataset) -> list[MetaRow]:
    meta = dataset.meta
    rows = [
        MetaRow("Published by", meta.agency),
        MetaRow("Category", meta.category),
        MetaRow("Tags", ", ".join(meta.tags)),
        MetaRow("Rows", _count(dataset.row_count)),
        MetaRow(
            "Period covered",
            f"{meta.coverage.start:%B %-d, %Y} to {meta.coverage.end:%B %-d, %Y}"
            if meta.coverage
            else "not declared",
        ),
        MetaRow(
            "Data as of (extracted)",
            f"{meta.extracted:%B %-d, %Y}" if meta.extracted else "not stated",
        ),
        MetaRow(
            "Counted in",
            " / ".join(u.noun for u in units_of(dataset)),
        ),
        MetaRow("Rows last published", friendly_date(dataset.rows_updated_at)),
        MetaRow("Description last changed", friendly_date(dataset.updated_at)),
        MetaRow("Created", friendly_date(dataset.created_at)),
        MetaRow("Updates", str(meta.cadence)),
        # Links are checked again here: a value stored before the checks shows as text.
        MetaRow("Licence", meta.license or meta.license_url, safe_link(meta.license_url)),
        MetaRow(
            "Attribution",
            meta.attribution or meta.attribution_url,
            safe_link(meta.attribution_url),
        ),
        MetaRow("Source", meta.source_url, safe_link(meta.source_url)),
        MetaRow(
            "Contact", meta.contact_name or meta.contact_email, safe_mailto(meta.contact_email)
        ),
        MetaRow("Dataset id and version", f"{dataset.id}, version {dataset.version}"),
    ]
    return [r for r in rows if r.value]


def _filter_keep(
    params: dict[str, str], filters: list[Filter], controls: list[FilterControl]
) -> list[tuple[str, str]]:
    """Hidden fields of the filter form: the order, the page size, and any filter in the
    address that no control shows (``street__not=…``), so applying the form keeps it."""
    shown = {i.param for c in controls for i in _inputs_of(c)}
    kept = [(k, params[k]) for k in ("sort", "dir", "size") if params.get(k)]
    kept += [(k, v) for k, v in params.items() if k.startswith(VIEW_PREFIX) and v]
    return kept + [(f.param, f.value) for f in filters if f.param not in shown]


def _inputs_of(control: FilterControl) -> list[Input]:
    """Every form field of a control, so the form keeps what it does not show."""
    fields = [control.select] if control.select else list(control.inputs)
    return [f for f in [*fields, control.exclude, control.any_of] if f is not None]


def _problem_links(problems: list[Problem], controls: list[FilterControl]) -> list[Link]:
    """Each problem, linked to its input when the form has one."""
    ids = {i.param: i.id for c in controls for i in _inputs_of(c)}
    return [Link(p.message, f"#{ids[p.param]}" if p.param in ids else None) for p in problems]


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset_id: str) -> Response:
    """A dataset: what it is, a filterable, sortable table, downloads, the dictionary."""
    portal = portal_of(request)
    dataset = visible_dataset(portal.store, viewer_of(request, portal.store), dataset_id)
    params = dict(request.query_params)
    # "is one of" arrives as one parameter per chosen value; the address keeps them as one.
    several = {
        k: IN_SEPARATOR.join(request.query_params.getlist(k))
        for k in params
        if k.endswith("__in") and len(request.query_params.getlist(k)) > 1
    }
    params.update(several)
    if several or any(not v for v in params.values()):
        # The filter form sends every box, empty or not; the address to share names only
        # the filters in use.
        return RedirectResponse(_url(dataset.id, params), status_code=303)
    areas = boundary_areas(portal, dataset)
    parsed = parse_filters(dataset, params, areas)
    problems = list(parsed.problems)
    filters = parsed.filters
    where = where_clause(filters)

    sort = params.get("sort", "")
    direction = "desc" if params.get("dir") == "desc" else "asc"
    sortable = {c.field_name for c in dataset.columns if c.type is not ColumnType.POINT}
    if sort and sort not in sortable:
        problems.append(Problem("sort", None, f"'{sort}' is not a column that can be sorted."))
        sort = ""
    size_text, page_text = params.get("size", str(DEFAULT_SIZE)), params.get("page", "1")
    if not (size_text.isdigit() and int(size_text) in PAGE_SIZES):
        sizes = ", ".join(str(s) for s in PAGE_SIZES)
        problems.append(Problem("size", None, f"Rows per page can be {sizes}."))
        size_text = str(DEFAULT_SIZE)
    if not (page_text.isdigit() and int(page_text) >= 1):
        problems.append(Problem("page", None, "The page number must be a whole number from 1."))
        page_text = "1"
    size, page_number = int(size_text), int(page_text)

    unit = unit_of(dataset, None)
    try:
        unit = unit_of(dataset, params.get(VIEW_PREFIX + "unit"))
    except InvalidRequest as err:
        problems.append(Problem(VIEW_PREFIX + "unit", None, err.message))
    residents = params.get(VIEW_PREFIX + "residents") == "true"
    summary: list[str] = []
    patterns = None
    if not problems:
        try:
            facts = dataset_facts(portal.store, dataset, portal.settings, where, unit)
            summary = summary_sentences(dataset, facts, filtered=bool(filters))
            first_choice = facts.shares[0].column if facts.shares else None
            patterns, chart_problems = build_patterns(
                portal, dataset, params, where, first_choice, unit
            )
            for chart in patterns.charts:
                add_share_links(request, dataset.id, chart, params)
            problems += chart_problems
        except SoQLError as err:
            problems.append(Problem("", None, err.message))
    order = f"`{sort}` {direction.upper()}" if sort else None
    selection: dict[str, str] = {"$where": where} if where else {}
    export = {**selection, **({"$order": order} if order else {})}
    matching, pages, rows = 0, 1, []
    if not problems:
        try:
            counted = run_query(
                portal.store, dataset, {**selection, "$select": "count(*)"}, portal.settings
            )
            matching = int(next(iter(counted.rows))[0])
            pages = max(1, math.ceil(matching / size))
            page_number = min(page_number, pages)
            shown = {**export, "$limit": str(size), "$offset": str((page_number - 1) * size)}
            result = run_query(portal.store, dataset, shown, portal.settings)
            rows = [_cells(result.outputs, row, dataset) for row in result.rows]
        except SoQLError as err:
            problems.append(Problem("", None, err.message))

    base = {k: v for k, v in params.items() if k != "page"}
    errors = {p.param: p.message for p in problems}
    controls = _controls(portal, dataset, params, filters, errors, sorted(areas), unit)
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
    meta = dataset.meta
    api_url = f"/resource/{dataset.id}.json" + ("?" + urlencode(export) if export else "")
    fresh = freshness(dataset, now(), records_span(portal.store, dataset, portal.settings)[1])
    site = absolute_url(request)
    is_calendar = bool(dataset.meta.calendar.get("start") and dataset.meta.calendar.get("title"))
    filtering = {f.param for f in filters}
    quality_lines, quality_table = _quality(portal, dataset)
    page = DatasetPage(
        title=meta.name,
        dataset_id=dataset.id,
        description=meta.description,
        sample=meta.sample,
        meta_rows=_meta_rows(dataset),
        notes=meta.notes,
        citation=". ".join(
            part
            for part in (
                meta.agency,
                f"“{meta.name}”, dataset {dataset.id}, version {dataset.version}.",
            )
            if part
        ),
        form_action=f"/datasets/{dataset.id}",
        controls=controls,
        filters_open=bool(problems),
        problems=_problem_links(problems, controls),
        chips=[
            Chip(f.label, _url(dataset.id, {k: v for k, v in base.items() if k != f.param}))
            for f in filters
        ],
        clear_url=_url(dataset.id, {}) if filters or problems else None,
        status=status,
        show_table=not problems,
        caption=f"{meta.name}: rows {_count(first)} to {_count(last)} of {_count(matching)}",
        headers=[_header(dataset.id, base, c, sort, direction, sortable) for c in dataset.columns],
        rows=rows,
        pager=f"Page {_count(page_number)} of {_count(pages)}",
        prev_url=_url(dataset.id, {**base, "page": str(page_number - 1)})
        if page_number > 1
        else None,
        next_url=_url(dataset.id, {**base, "page": str(page_number + 1)})
        if page_number < pages
        else None,
        sizes=[Choice(str(s), str(s), s == size) for s in PAGE_SIZES],
        filter_keep=_filter_keep(params, filters, controls),
        size_keep=[(k, v) for k, v in params.items() if k not in ("page", "size") and v],
        downloads=[
            Link(
                fmt,
                f"/api/views/{dataset.id}/rows.{fmt.lower()}?"
                + urlencode({"accessType": "DOWNLOAD", **export}),
            )
            for fmt in formats
        ],
        download_note=f"All {_count(matching)} matching rows, with the filters and order above:",
        api_url=api_url,
        api_text=unquote_plus(api_url),
        dictionary=[
            DictionaryRow(c.name, c.field_name, str(c.type), c.description) for c in dataset.columns
        ],
        summary=summary,
        freshness=fresh.text,
        late=fresh.late,
        patterns=patterns if not problems else None,
        snippets=_snippets(site, dataset.id, export),
        map=build_map(
            portal,
            dataset,
            where,
            matching,
            _hotspot_cell(params),
            _url(dataset.id, {k: v for k, v in params.items() if k != "chart.hotspots"}),
        )
        if not problems
        else None,
        rates=_rates(portal, request, dataset, where, unit, residents) if not problems else None,
        has_dashboard=bool(dataset.meta.dashboard),
        totals=headline_totals(portal, dataset, where) if not problems else [],
        calendar_url=f"/datasets/{dataset.id}/events.ics" if is_calendar else None,
        month_url=f"/datasets/{dataset.id}/calendar" if is_calendar else None,
        timing_url=_url(f"{dataset.id}/when", {k: v for k, v in base.items() if k in filtering})
        if date_column(dataset) is not None
        else None,
        api_page_url=f"/datasets/{dataset.id}/api",
        rates_url=f"/api/analysis/v1/{dataset.id}/rates.json?"
        + urlencode(
            {
                **({"$where": where} if where else {}),
                "unit": unit.name,
                **({"residents": "true"} if residents else {}),
            }
        ),
        rates_links=_rates_links(dataset, params, residents),
        privacy_rules=meta.privacy.describe(),
        quality=quality_lines,
        quality_table=quality_table,
    )
    if not problems:
        portal.store.count_view(dataset.id)
    og = OpenGraph(
        title=meta.name,
        description=" ".join(summary) or _first_sentence(meta.description) or meta.name,
        url=absolute_url(request, _url(dataset.id, params)),
    )
    return render(request, "dataset.html", page, status=400 if problems else 200, og=og)


def _first_sentence(text: str) -> str:
    """A description's first sentence, for a shared link when there is no summary."""
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _hotspot_cell(params: dict[str, str]) -> float | None:
    """The hotspot grid's cell size in metres, when the page asks for hotspots."""
    text = params.get(VIEW_PREFIX + "hotspots", "")
    try:
        return float(text) if text else None
    except ValueError:
        return 250.0


def _rates_links(dataset: Dataset, params: dict[str, str], residents: bool) -> list[Link]:
    """Where the data record residency: the same rates for residents only, or for all."""
    link = dataset.meta.benchmark
    if link is None or not link.residents_where:
        return []
    other = {k: v for k, v in params.items() if k != VIEW_PREFIX + "residents"}
    if residents:
        return [Link("Show the rates for everyone arrested", _url(dataset.id, other))]
    return [
        Link(
            "Show the rates for residents only",
            _url(dataset.id, {**other, VIEW_PREFIX + "residents": "true"}),
        )
    ]


def _rates(
    portal: Portal,
    request: Request,
    dataset: Dataset,
    where: str | None,
    unit: Unit | None = None,
    residents: bool = False,
) -> RateTable | None:
    """Rates against the dataset's population benchmark, if it names one the reader may see."""
    link = dataset.meta.benchmark
    if link is None:
        return None
    try:
        population = visible_dataset(
            portal.store, viewer_of(request, portal.store), link.dataset, audit_read=False
        )
    except DatasetNotFound:
        return None
    return rate_table(portal.store, dataset, population, portal.settings, where, unit, residents)


def _snippets(site: str, dataset_id: str, export: dict[str, str]) -> list[Link]:
    """The rows shown, fetched by a program: sodapy and pandas, ready to paste."""
    host = site.split("://", 1)[-1]
    scheme = site.split("://", 1)[0]
    args = "".join(f", {k.lstrip('$')}={v!r}" for k, v in export.items())
    adapter = (
        ""
        if scheme == "https"
        else ',\n    session_adapter={"prefix": "http://", '
        '"adapter": requests.adapters.HTTPAdapter()}'
    )
    sodapy = (
        "import requests\nfrom sodapy import Socrata\n\n"
        f"client = Socrata(\n    {host!r},\n    None{adapter},\n)\n"
        f"rows = client.get_all({dataset_id!r}{args})"
    )
    query = urlencode({"accessType": "DOWNLOAD", **export})
    pandas = (
        "import pandas as pd\n\n"
        f'frame = pd.read_csv("{site}/api/views/{dataset_id}/rows.csv?{query}")'
    )
    return [Link("Python, sodapy", sodapy), Link("Python, pandas", pandas)]


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
        _url(dataset_id, {**base, "sort": column.field_name, "dir": flip})
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
