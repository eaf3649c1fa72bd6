"""When rows happen: counts by hour of day and day of week, and a recent period against the
same period a year before, with whether the change is more than noise.

The year before is the same days 52 weeks (364 days) earlier: the two periods have the same
length and the same mix of weekdays, so weekly rhythms do not pass for change. The two counts
are compared as Poisson counts with the exact binomial test the year-by-year trend uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from blotter.analysis.summary import date_column
from blotter.analysis.trends import NOISE_P
from blotter.analysis.units import Unit, unit_of
from blotter.errors import InvalidRequest
from blotter.model import Column, Dataset
from blotter.queries import all_of, run_query
from blotter.settings import Settings
from blotter.store.base import Store

WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
YEAR_BEFORE = timedelta(days=364)
MAX_DAYS = 364  # longer, and the period would overlap the one it is compared with
DEFAULT_DAYS = 90


@dataclass
class HourWeekday:
    counts: list[list[int]]  # [weekday 0 = Sunday][hour 0-23]
    total: int
    timed: bool  # False when every row is at midnight: the data record dates, not times
    column: str  # the field counted

    def busiest(self) -> tuple[str, int, int] | None:
        """The weekday, hour and count of the busiest cell."""
        if not self.total:
            return None
        n, day, hour = max(
            (n, d, h) for d, row in enumerate(self.counts) for h, n in enumerate(row)
        )
        return WEEKDAYS[day], hour, n


def _when(dataset: Dataset) -> Column:
    column = date_column(dataset)
    if column is None:
        raise InvalidRequest(f"Dataset {dataset.id} has no date column to count by time.")
    return column


def _and(*clauses: str | None) -> str:
    return all_of(*clauses) or ""


def hour_by_weekday(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    where: str | None = None,
    unit: Unit | None = None,
) -> HourWeekday:
    """Units (the dataset's default: incidents, calls) by day of week and hour of day of the
    dataset's date column under ``where``."""
    unit = unit or unit_of(dataset, None)
    column = _when(dataset)
    name = f"`{column.field_name}`"
    located = _and(where, f"{name} IS NOT NULL")
    params = {
        "$select": f"date_extract_dow({name}) AS dow, date_extract_hh({name}) AS hh, "
        f"{unit.count} AS n",
        "$where": located,
        "$group": "dow, hh",
        "$limit": str(7 * 24),
    }
    counts = [[0] * 24 for _ in WEEKDAYS]
    total = 0
    for dow, hh, n in run_query(store, dataset, params, settings).rows:
        counts[int(dow)][int(hh)] += int(n)
        total += int(n)
    # Times are recorded when any row is not at midnight (else the data hold dates only).
    timed_where = _and(located, f"date_extract_hh({name}) != 0 OR date_extract_mm({name}) != 0")
    timed_rows = run_query(store, dataset, {"$select": "count(*)", "$where": timed_where}, settings)
    timed = int(next(iter(timed_rows.rows))[0]) > 0
    return HourWeekday(counts, total, timed, column.field_name)


@dataclass
class YearOnYear:
    column: str
    start: str  # first day of the period, ISO
    end: str  # last day of the period, ISO
    days: int
    before_start: str
    before_end: str
    count: int
    before: int
    change: int
    percent: float | None
    p_value: float | None
    beyond_noise: bool
    covered: bool  # whether the data reach back to the start of the period a year before
    statement: str


def _day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise InvalidRequest(
            f"'{name}' must be a date like 2020-12-31, not '{text}'.", parameter=name
        ) from None


def _bounds(
    store: Store, dataset: Dataset, settings: Settings, column: Column, where: str | None
) -> tuple[datetime | None, datetime | None]:
    name = f"`{column.field_name}`"
    params = {"$select": f"min({name}) AS first, max({name}) AS last"}
    if where:
        params["$where"] = where
    first, last = next(iter(run_query(store, dataset, params, settings).rows))
    return first, last


def _count(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    column: Column,
    where: str | None,
    start: date,
    end: date,
    unit: Unit,
) -> int:
    name = f"`{column.field_name}`"
    # Dates we computed, never user text: safe to write into the SoQL as literals.
    period = f"{name} >= '{start.isoformat()}T00:00:00' AND {name} < '{end.isoformat()}T00:00:00'"
    params = {"$select": unit.count, "$where": _and(where, period)}
    return int(next(iter(run_query(store, dataset, params, settings).rows))[0])


def year_on_year(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    where: str | None = None,
    end: str | None = None,
    days: str | int | None = None,
    unit: Unit | None = None,
) -> YearOnYear:
    """Rows in the ``days`` days to ``end`` (default: the 90 days to the latest record) against
    the same days 52 weeks earlier."""
    unit = unit or unit_of(dataset, None)
    column = _when(dataset)
    try:
        length = int(days) if days not in (None, "") else DEFAULT_DAYS
    except ValueError:
        raise InvalidRequest(
            f"'days' must be a whole number of days, not '{days}'.", parameter="days"
        ) from None
    if not 1 <= length <= MAX_DAYS:
        raise InvalidRequest(
            f"'days' must be from 1 to {MAX_DAYS}: a longer period would overlap the same "
            "days a year before.",
            parameter="days",
        )
    first, last = _bounds(store, dataset, settings, column, None)
    last_day = _day(end, "end") or (last.date() if last else None)
    if last_day is None:
        raise InvalidRequest(f"Dataset {dataset.id} has no dated rows to compare.")
    stop = last_day + timedelta(days=1)
    start = stop - timedelta(days=length)
    before_start, before_stop = start - YEAR_BEFORE, stop - YEAR_BEFORE
    count = _count(store, dataset, settings, column, where, start, stop, unit)
    before = _count(store, dataset, settings, column, where, before_start, before_stop, unit)
    covered = first is not None and first.date() <= before_start
    change = count - before
    percent = 100 * change / before if before else None
    p_value = None
    if count + before:
        from scipy.stats import binomtest  # SciPy loads on first use

        p_value = float(binomtest(count, count + before, 0.5).pvalue)
    beyond = p_value is not None and p_value < NOISE_P and covered
    result = YearOnYear(
        column=column.field_name,
        start=start.isoformat(),
        end=last_day.isoformat(),
        days=length,
        before_start=before_start.isoformat(),
        before_end=(before_stop - timedelta(days=1)).isoformat(),
        count=count,
        before=before,
        change=change,
        percent=percent,
        p_value=p_value,
        beyond_noise=beyond,
        covered=covered,
        statement="",
    )
    result.statement = _statement(result, unit.noun, first)
    return result


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _statement(y: YearOnYear, noun: str, first: datetime | None) -> str:
    span = f"the {y.days:,} days from {y.start} to {y.end}"
    head = f"{y.count:,} {noun} in {span}, against {y.before:,} in the same days 52 weeks earlier"
    if not y.covered:
        since = f"{first:%Y-%m-%d}" if first else "later"
        return (
            f"{head}. The data begin on {since}, so they do not cover the whole period a year "
            "before: the two counts cannot be compared."
        )
    if y.count + y.before == 0:
        return f"{head}: nothing to compare."
    direction = "up" if y.change > 0 else "down" if y.change < 0 else "unchanged"
    size = f"{abs(y.change):,}" + (f" ({abs(y.percent):.0f}%)" if y.percent is not None else "")
    moved = f"{direction} {size}" if y.change else "unchanged"
    assert y.p_value is not None
    if y.beyond_noise:
        verdict = (
            f"The change is more than noise: a change this large would arise by chance "
            f"less than 1 time in 20 ({p_text(y.p_value)}, exact test of two Poisson counts)."
        )
    else:
        verdict = (
            f"The change is within noise: it could be chance ({p_text(y.p_value)}, exact test "
            "of two Poisson counts)."
        )
    return f"{head}: {moved}. {verdict}"
