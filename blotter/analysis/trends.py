"""Counts by month, quarter or year with the change from the period before, and whether that
change is more than noise.

Two counts from periods of equal length are compared as Poisson counts: given their total,
the later one is binomial with probability ½ if nothing changed, so an exact two-sided
binomial test says whether the change could be chance (p ≥ 0.05: "within noise"). A period
only partly covered by the data is marked, since its count is not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from blotter.analysis.rates import WITHHOLD_BELOW, Interval, poisson_interval
from blotter.analysis.summary import date_column, period_covered
from blotter.errors import InvalidRequest
from blotter.model import Dataset
from blotter.queries import run_query
from blotter.settings import Settings
from blotter.store.base import Store

PERIODS = ("month", "quarter", "year")
NOISE_P = 0.05


@dataclass
class PeriodChange:
    period: str  # "2016", "2016 Q2", "2016-04"
    count: int
    change: int | None  # against the period before
    percent: float | None
    p_value: float | None
    note: str
    rate: float | None = None  # per 1,000 residents, when a population is given
    rate_interval: Interval | None = None


def period_key(value: datetime, period: str) -> str:
    if period == "year":
        return f"{value.year}"
    if period == "quarter":
        return f"{value.year} Q{(value.month - 1) // 3 + 1}"
    return f"{value.year}-{value.month:02d}"


def _all_periods(first: datetime, last: datetime, period: str) -> list[str]:
    """Every period from the first to the last, so a period with no rows counts as 0."""
    keys: list[str] = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        key = period_key(datetime(year, month, 1), period)
        if key not in keys:
            keys.append(key)
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return keys


def counts_by_period(
    store: Store, dataset: Dataset, settings: Settings, period: str, where: str | None = None
) -> tuple[dict[str, int], tuple[datetime, datetime] | tuple[()]]:
    """Rows per period of the dataset's date column under ``where``, and the first and last
    month that has any (empty when none has)."""
    when = date_column(dataset)
    if when is None:
        raise InvalidRequest(f"Dataset {dataset.id} has no date column to count over time.")
    name = f"`{when.field_name}`"
    params = {"$select": f"date_trunc_ym({name}) AS m, count(*) AS n", "$group": "m"}
    if where:
        params["$where"] = where
    counts: dict[str, int] = {}
    months: list[datetime] = []
    for month, n in run_query(store, dataset, params, settings).rows:
        if month is not None:
            months.append(month)
            key = period_key(month, period)
            counts[key] = counts.get(key, 0) + int(n)
    return counts, ((min(months), max(months)) if months else ())


def trend(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    period: str = "year",
    where: str | None = None,
    population: int | None = None,
) -> list[PeriodChange]:
    """Counts per period under ``where``, each with its change from the period before, and
    per 1,000 residents (exact Poisson interval) when ``population`` is given."""
    if period not in PERIODS:
        raise InvalidRequest(f"Choose a period of {', '.join(PERIODS)}, not '{period}'.")
    counts, months = counts_by_period(store, dataset, settings, period, where)
    if not months:
        return []
    first, last = period_covered(store, dataset, settings)
    from scipy.stats import binomtest  # SciPy loads on first use, not with every process

    edges = {period_key(d, period) for d in (first, last) if d is not None}
    rows: list[PeriodChange] = []
    previous: int | None = None
    for key in _all_periods(months[0], months[1], period):
        count = counts.get(key, 0)
        change = percent = p_value = None
        note = ""
        if previous is not None:
            change = count - previous
            percent = 100 * change / previous if previous else None
            if count + previous > 0:
                p_value = float(binomtest(count, count + previous, 0.5).pvalue)
                note = (
                    "within noise (could be chance)"
                    if p_value >= NOISE_P
                    else f"more than noise (p = {p_value:.3f})"
                )
        if key in edges and period != "month":
            note = "; ".join(filter(None, [note, "the data may cover only part of this period"]))
        rate = interval = None
        if population and count >= WITHHOLD_BELOW:
            limits = poisson_interval(count)
            rate = count / population * 1000
            interval = Interval(limits.low / population * 1000, limits.high / population * 1000)
        rows.append(PeriodChange(key, count, change, percent, p_value, note, rate, interval))
        previous = count
    return rows
