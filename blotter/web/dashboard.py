"""A dataset's dashboard: its findings in plain words, the trend with changes that are more
than noise, counts by the columns the publisher chose, and rates against the population,
each with the URL of the same figure as JSON so anyone can reproduce it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from blotter.access import Viewer, visible_dataset
from blotter.analysis.activity import ActivityRate, activity_rates, scope_mismatch
from blotter.analysis.benchmarks import (
    RateTable,
    benchmark_seen,
    population_total,
    rate_table,
)
from blotter.analysis.summary import dataset_facts, freshness, summary_sentences
from blotter.analysis.trends import PeriodChange, trend
from blotter.analysis.units import Unit, unit_of, units_of
from blotter.auth import viewer_of
from blotter.errors import DatasetNotFound, NotFound
from blotter.model import Dataset
from blotter.portal import Portal
from blotter.queries import run_query
from blotter.store.common import now
from blotter.web.calendar import event_fields, local_now
from blotter.web.chart_links import add_share_links, show_lazily
from blotter.web.charts import Chart, chartable, count_by, over_time
from blotter.web.events import Total, headline_totals
from blotter.web.filters import quote
from blotter.web.kept import kept_page
from blotter.web.rendering import portal_of, render

router = APIRouter(include_in_schema=False)


@dataclass
class Figure:
    chart: Chart
    json_url: str  # the SODA query giving the same numbers


@dataclass
class EventRow:
    when: str
    title: str
    place: str


def _events(portal: Portal, dataset: Dataset, upcoming: bool, limit: int = 10) -> list[EventRow]:
    """The next (or the latest) events of a calendar dataset, from now."""
    fields = event_fields(dataset)
    start = f"`{fields['start']}`"
    title = f"`{fields['title']}`"
    place = f"`{fields['location']}`" if fields.get("location") else "null"
    moment = quote(local_now(fields).isoformat(timespec="seconds"))
    params = {
        "$select": f"{start}, {title}, {place} AS place",
        "$where": f"{start} {'>=' if upcoming else '<'} {moment}",
        "$order": f"{start} {'ASC' if upcoming else 'DESC'}",
        "$limit": str(limit),
    }
    rows = run_query(portal.store, dataset, params, portal.settings).rows
    return [EventRow(f"{w:%Y-%m-%d %H:%M}", str(t or ""), str(p or "")) for w, t, p in rows]


@dataclass
class UnitLink:
    label: str
    url: str
    current: bool


@dataclass
class DashboardPage:
    title: str
    dataset_id: str
    sample: bool
    summary: list[str]
    freshness: str
    late: str | None
    trend: list[PeriodChange]
    trend_url: str
    over_time: Chart | None
    figures: list[Figure]
    rates: RateTable | None
    rates_url: str
    calendar_url: str | None
    month_url: str | None
    timing_url: str | None
    totals: list[Total]
    upcoming: list[EventRow]
    past: list[EventRow]
    activity: list[ActivityRate]
    activity_label: str
    activity_url: str
    unit: Unit
    units: list[UnitLink]
    no_activity: str | None


@router.get("/dashboards/{dataset_id}", response_class=HTMLResponse)
def dashboard(request: Request, dataset_id: str) -> Response:
    portal = portal_of(request)
    viewer = viewer_of(request, portal.store)
    dataset = visible_dataset(portal.store, viewer, dataset_id)
    if not dataset.meta.dashboard:
        raise NotFound(f"Dataset {dataset_id} has no dashboard; its page has every tool.")
    return kept_page(
        request,
        portal,
        viewer,
        dataset,
        "dashboard",
        lambda: _drawn(request, portal, viewer, dataset),
    )


def _drawn(request: Request, portal: Portal, viewer: Viewer, dataset: Dataset) -> Response:
    unit = unit_of(dataset, request.query_params.get("unit"))
    facts = dataset_facts(portal.store, dataset, portal.settings, unit=unit)
    fresh = freshness(dataset, now(), facts.last)
    columns = {c.field_name: c for c in chartable(dataset)}
    figures = []
    for name in dataset.meta.dashboard:
        column = columns.get(name)
        if column is None:
            continue
        query = urlencode({"by": name, "unit": unit.name})
        figures.append(
            Figure(
                count_by(portal, dataset, None, column, unit=unit),
                f"/api/analysis/v1/{dataset.id}/counts.json?{query}",
            )
        )
    measure = (
        dataset.column(dataset.meta.dashboard_measure) if dataset.meta.dashboard_measure else None
    )
    if measure is not None:
        for name in dataset.meta.dashboard[:2]:
            column = columns.get(name)
            if column is None:
                continue
            query = urlencode({"by": name, "measure": measure.field_name})
            figures.append(
                Figure(
                    count_by(portal, dataset, None, column, measure),
                    f"/api/analysis/v1/{dataset.id}/counts.json?{query}",
                )
            )
    rates = None
    residents = None
    if dataset.meta.benchmark is not None:
        try:
            population = visible_dataset(
                portal.store, viewer, dataset.meta.benchmark.dataset, audit_read=False
            )
            if benchmark_seen(portal.store, dataset, portal.settings):
                rates = rate_table(portal.store, dataset, population, portal.settings, unit=unit)
            residents = population_total(portal.store, dataset, population, portal.settings)
        except DatasetNotFound:
            rates = None
    if measure is not None and facts.date_column is not None:
        query = urlencode(
            {
                "$select": f"date_trunc_ym({facts.date_column.field_name}) AS month, "
                f"sum({measure.field_name}) AS n",
                "$group": "month",
                "$order": "month",
            }
        )
        figures.insert(
            0,
            Figure(
                over_time(portal, dataset, None, facts.date_column, "month", None, measure),
                f"/resource/{dataset.id}.json?{query}",
            ),
        )
    periods = (
        trend(portal.store, dataset, portal.settings, "year", population=residents, unit=unit)
        if facts.date_column
        else []
    )
    per_activity: list[ActivityRate] = []
    label = ""
    no_activity = None
    if dataset.meta.activity is not None:
        link = dataset.meta.activity
        try:
            other = visible_dataset(portal.store, viewer, link.dataset, audit_read=False)
            no_activity = scope_mismatch(dataset, other)
            if no_activity is None:
                per_activity = activity_rates(portal.store, dataset, other, portal.settings)
                noun = dataset.meta.row_noun or "rows"
                label = f"{noun} per {link.per:,} {link.label or other.meta.name}"
        except DatasetNotFound:
            per_activity = []
    events = bool(event_fields(dataset))  # a calendar, as this reader sees its columns
    page = DashboardPage(
        title=f"Dashboard: {dataset.meta.name}",
        dataset_id=dataset.id,
        sample=dataset.meta.sample,
        summary=summary_sentences(dataset, facts, filtered=False),
        freshness=fresh.text,
        late=fresh.late,
        trend=periods,
        trend_url=f"/api/analysis/v1/{dataset.id}/trend.json?period=year&unit={unit.name}",
        over_time=over_time(portal, dataset, None, facts.date_column, "month", None, unit=unit)
        if facts.date_column
        else None,
        figures=figures,
        rates=rates,
        rates_url=f"/api/analysis/v1/{dataset.id}/rates.json?unit={unit.name}",
        unit=unit,
        units=[
            UnitLink(u.noun, f"/dashboards/{dataset.id}?unit={u.name}", u == unit)
            for u in units_of(dataset)
        ],
        no_activity=no_activity,
        activity=per_activity,
        activity_label=label,
        activity_url=f"/api/analysis/v1/{dataset.id}/activity.json",
        upcoming=_events(portal, dataset, True) if events else [],
        past=_events(portal, dataset, False) if events else [],
        calendar_url=f"/datasets/{dataset.id}/events.ics" if events else None,
        month_url=f"/datasets/{dataset.id}/calendar" if events else None,
        timing_url=f"/datasets/{dataset.id}/when" if facts.date_column else None,
        totals=headline_totals(portal, dataset, None),
    )
    for chart in [page.over_time, *(f.chart for f in figures)]:
        if chart is not None:  # the whole dataset's charts: no filter in their addresses
            add_share_links(request, dataset.id, chart, {})
    # One chart drawn into the page, the others images of their drawings loaded after it.
    show_lazily([page.over_time, *(f.chart for f in figures[1:])])
    return render(request, "dashboard.html", page)
