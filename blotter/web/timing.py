"""Analyst views of when rows happen, on any dataset with a date: counts by hour of day and
day of week (a heat map), and a recent period against the same days a year before. Both
follow the dataset page's filters, and each links to the JSON that reproduces it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from blotter.access import visible_dataset
from blotter.analysis.summary import date_column
from blotter.analysis.timing import WEEKDAYS, HourWeekday, YearOnYear, hour_by_weekday, year_on_year
from blotter.analysis.units import unit_of
from blotter.auth import viewer_of
from blotter.errors import BlotterError, NotFound
from blotter.model import Dataset
from blotter.web.chart_drawing import Drawing, rows_data, tooltips
from blotter.web.chart_links import add_share_links
from blotter.web.charts import Chart, spec_json
from blotter.web.filters import VIEW_PREFIX, parse_filters, where_clause
from blotter.web.maps import boundary_areas
from blotter.web.rendering import portal_of, render

router = APIRouter(include_in_schema=False)


def hour_weekday_chart(data: HourWeekday, noun: str) -> Chart:
    """A heat map of rows by weekday (rows) and hour (columns), with its table."""
    import altair as alt

    values = [
        {"day": WEEKDAYS[d], "hour": h, "n": data.counts[d][h]} for d in range(7) for h in range(24)
    ]
    title = f"{noun.capitalize()} by hour of day and day of week"
    spec = (
        alt.Chart(rows_data(), title=title, width=24 * 22, height=7 * 26)
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title="Hour of day (local time)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("day:N", title=None, sort=list(WEEKDAYS)),
            color=alt.Color("n:Q", title=noun.capitalize(), scale=alt.Scale(scheme="blues")),
            tooltip=tooltips("day:N", "hour:O", "n:Q"),
        )
    )
    busiest = data.busiest()
    if not data.total:
        words = "No dated rows match, so there is nothing to show."
    elif not data.timed:
        words = (
            f"Every one of the {data.total:,} {noun} is recorded at midnight: the data give "
            "dates, not times of day, so the hours say nothing."
        )
    else:
        assert busiest is not None
        day, hour, n = busiest
        by_day = [sum(row) for row in data.counts]
        by_hour = [sum(data.counts[d][h] for d in range(7)) for h in range(24)]
        top_hour = max(range(24), key=lambda h: by_hour[h])
        words = (
            f"{data.total:,} {noun}. The busiest hour of the week is {day} from {hour:02d}:00 "
            f"({n:,}); the busiest day is {WEEKDAYS[by_day.index(max(by_day))]} "
            f"({max(by_day):,}) and the busiest hour of the day {top_hour:02d}:00 "
            f"({by_hour[top_hour]:,} over all days)."
        )
    drawing = Drawing(spec, title, phone_width=None, rows=values)
    return Chart(
        id="hour-by-weekday",
        title=title,
        description=words,
        drawing=drawing,
        spec=spec_json(drawing),
        headers=["Day", *(f"{h:02d}" for h in range(24)), "Total"],
        rows=[
            [WEEKDAYS[d], *(f"{n:,}" for n in data.counts[d]), f"{sum(data.counts[d]):,}"]
            for d in range(7)
        ],
        numeric=[False, *([True] * 25)],
    )


def year_on_year_chart(y: YearOnYear, noun: str) -> Chart:
    """Two bars: the period and the same days a year before."""
    import altair as alt

    labels = [f"{y.before_start} to {y.before_end}", f"{y.start} to {y.end}"]
    values = [{"period": labels[0], "n": y.before}, {"period": labels[1], "n": y.count}]
    title = f"{noun.capitalize()}: the last {y.days:,} days against the same days a year before"
    spec = (
        alt.Chart(rows_data(), title=title, width=320)
        .mark_bar(color="#0b5cad")
        .encode(
            y=alt.Y("period:N", title=None, sort=labels, axis=alt.Axis(labelLimit=220)),
            x=alt.X("n:Q", title=noun.capitalize()),
            tooltip=tooltips("period:N", "n:Q"),
        )
    )
    drawing = Drawing(spec, title, phone_width=None, rows=values)
    return Chart(
        id="year-on-year",
        title=title,
        description=y.statement,
        drawing=drawing,
        spec=spec_json(drawing),
        headers=["Period", noun.capitalize()],
        rows=[[labels[0], f"{y.before:,}"], [labels[1], f"{y.count:,}"]],
        numeric=[False, True],
    )


@dataclass
class TimingPage:
    title: str
    dataset_id: str
    dataset_name: str
    sample: bool
    filters: list[str]  # the filters in force, in words
    problems: list[str]
    hours: Chart | None
    hours_url: str
    compare: Chart | None
    compare_url: str
    end: str
    days: str
    keep: list[tuple[str, str]]  # the filters, carried by the period form


def _json_url(dataset: Dataset, name: str, where: str | None, **extra: str) -> str:
    query = {**({"$where": where} if where else {}), **{k: v for k, v in extra.items() if v}}
    return f"/api/analysis/v1/{dataset.id}/{name}.json" + ("?" + urlencode(query) if query else "")


@router.get("/datasets/{dataset_id}/when", response_class=HTMLResponse)
def timing_page(request: Request, dataset_id: str) -> Response:
    """When the rows under the page's filters happen: by hour × weekday, and this period
    against the same days a year before (``chart.end``, ``chart.days``)."""
    portal = portal_of(request)
    dataset = visible_dataset(portal.store, viewer_of(request, portal.store), dataset_id)
    if date_column(dataset) is None:
        raise NotFound(f"Dataset {dataset_id} has no date column to count by time.")
    params = dict(request.query_params)
    parsed = parse_filters(dataset, params, boundary_areas(portal, dataset))
    problems = [p.message for p in parsed.problems]
    where = where_clause(parsed.filters)
    noun = unit_of(dataset, None).noun
    end, days = params.get(VIEW_PREFIX + "end", ""), params.get(VIEW_PREFIX + "days", "")
    hours = compare = None
    if not problems:
        try:
            hours = hour_weekday_chart(
                hour_by_weekday(portal.store, dataset, portal.settings, where), noun
            )
            compare = year_on_year_chart(
                year_on_year(portal.store, dataset, portal.settings, where, end, days), noun
            )
        except BlotterError as err:
            problems.append(err.message)
    page = TimingPage(
        title=f"When: {dataset.meta.name}",
        dataset_id=dataset.id,
        dataset_name=dataset.meta.name,
        sample=dataset.meta.sample,
        filters=[f.label for f in parsed.filters],
        problems=problems,
        hours=hours,
        hours_url=_json_url(dataset, "hours", where),
        compare=compare,
        compare_url=_json_url(dataset, "year-on-year", where, end=end, days=days),
        end=end,
        days=days,
        keep=[(k, v) for k, v in params.items() if not k.startswith(VIEW_PREFIX) and v],
    )
    for chart in (hours, compare):
        if chart is not None:
            add_share_links(request, dataset.id, chart, params)
    return render(request, "timing.html", page, status=400 if problems else 200)
