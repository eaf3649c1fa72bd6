"""Event datasets (community engagement): the totals heading the filtered view (events,
staff hours, attendees) and a month calendar drawn on the server, so it works without
JavaScript; the iCalendar feed beside it is ``calendar.py``."""

from __future__ import annotations

import calendar as months
from dataclasses import dataclass, field
from datetime import date, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from blotter.access import visible_dataset
from blotter.auth import viewer_of
from blotter.errors import InvalidRequest, NotFound
from blotter.model import ColumnType, Dataset
from blotter.portal import Portal
from blotter.queries import run_query
from blotter.web.calendar import event_fields, local_now
from blotter.web.rendering import portal_of, render

router = APIRouter(include_in_schema=False)
MAX_EVENTS = 500  # in one month; more are counted, not listed


@dataclass
class Total:
    label: str  # "staff hours"
    value: str  # "1,234"


def headline_totals(portal: Portal, dataset: Dataset, where: str | None) -> list[Total]:
    """Rows and the sums of the dataset's declared ``totals`` fields under ``where``."""
    fields = [
        c
        for name in dataset.meta.totals
        if (c := dataset.column(name)) is not None and c.type is ColumnType.NUMBER
    ]
    if not fields:
        return []
    sums = ", ".join(f"sum(`{c.field_name}`)" for c in fields)
    params = {"$select": f"count(*), {sums}"}
    if where:
        params["$where"] = where
    count, *values = next(iter(run_query(portal.store, dataset, params, portal.settings).rows))
    noun = dataset.meta.row_noun or "rows"
    totals = [Total(noun, f"{int(count):,}")]
    for column, value in zip(fields, values, strict=True):
        totals.append(Total(column.name.lower(), f"{float(value or 0):,.0f}"))
    return totals


@dataclass
class Event:
    time: str
    title: str
    place: str


@dataclass
class Day:
    number: int  # 0: a day of the next or previous month, left blank
    iso: str
    events: list[Event] = field(default_factory=list)
    today: bool = False


@dataclass
class MonthPage:
    title: str
    dataset_id: str
    dataset_name: str
    sample: bool
    month: str  # "November 2026"
    weekdays: list[str]
    weeks: list[list[Day]]
    count: int
    listed: int
    totals: list[Total]
    previous_url: str
    next_url: str
    feed_url: str


def _month(text: str, fallback: date) -> date:
    if not text:
        return fallback.replace(day=1)
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise InvalidRequest(
            f"'month' must be a month like 2026-11, not '{text}'.", parameter="month"
        ) from None


def _shift(first: date, months_ahead: int) -> date:
    index = first.year * 12 + first.month - 1 + months_ahead
    return date(index // 12, index % 12 + 1, 1)


@router.get("/datasets/{dataset_id}/calendar", response_class=HTMLResponse)
def month_view(request: Request, dataset_id: str) -> Response:
    """The events of one month (``month=2026-11``; default: this month) as a calendar."""
    portal = portal_of(request)
    dataset = visible_dataset(portal.store, viewer_of(request, portal.store), dataset_id)
    fields = event_fields(dataset)
    if not fields:
        raise NotFound(f"Dataset {dataset_id} is not a calendar of events.")
    today = local_now(fields).date()
    first = _month(request.query_params.get("month", ""), today)
    if not 1900 <= first.year <= 2200:
        raise InvalidRequest("'month' must be between 1900 and 2200.", parameter="month")
    after = _shift(first, 1)
    start = f"`{fields['start']}`"
    # Dates we computed, never user text: safe to write into the SoQL as literals.
    where = (
        f"{start} >= '{first.isoformat()}T00:00:00' AND {start} < '{after.isoformat()}T00:00:00'"
    )
    place = f"`{fields['location']}`" if fields.get("location") else "null"
    params = {
        "$select": f"{start}, `{fields['title']}`, {place} AS place",
        "$where": where,
        "$order": f"{start}, :id",
        "$limit": str(MAX_EVENTS),
    }
    by_day: dict[date, list[Event]] = {}
    listed = 0
    for when, title, where_at in run_query(portal.store, dataset, params, portal.settings).rows:
        by_day.setdefault(when.date(), []).append(
            Event(f"{when:%H:%M}", str(title or ""), str(where_at or ""))
        )
        listed += 1
    totals = headline_totals(portal, dataset, where)
    counted = run_query(
        portal.store, dataset, {"$select": "count(*)", "$where": where}, portal.settings
    )
    count = int(next(iter(counted.rows))[0])
    grid = months.Calendar(firstweekday=6)  # Sunday first, as US calendars are
    weeks = [
        [
            Day(d.day, d.isoformat(), by_day.get(d, []), d == today)
            if d.month == first.month
            else Day(0, d.isoformat())
            for d in week
        ]
        for week in grid.monthdatescalendar(first.year, first.month)
    ]
    base = f"/datasets/{dataset.id}/calendar?month="
    page = MonthPage(
        title=f"Events of {first:%B %Y}: {dataset.meta.name}",
        dataset_id=dataset.id,
        dataset_name=dataset.meta.name,
        sample=dataset.meta.sample,
        month=f"{first:%B %Y}",
        weekdays=[months.day_name[(6 + i) % 7] for i in range(7)],
        weeks=weeks,
        count=count,
        listed=listed,
        totals=totals,
        previous_url=f"{base}{_shift(first, -1):%Y-%m}",
        next_url=f"{base}{after:%Y-%m}",
        feed_url=f"/datasets/{dataset.id}/events.ics",
    )
    return render(request, "calendar.html", page)
