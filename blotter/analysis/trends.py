"""Counts by month, quarter or year with the change from the period before, and whether that
change is more than noise.

Two counts from periods of equal length are compared as Poisson counts: given their total,
the later one is binomial with probability ½ if nothing changed, so an exact two-sided
binomial test says whether the change could be chance (p ≥ 0.05: "within noise"). A period
only partly covered by the data is marked, since its count is not comparable.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from blotter.analysis.rates import WITHHOLD_BELOW, Interval, poisson_interval
from blotter.analysis.summary import date_column, period_covered, years_between
from blotter.analysis.units import Unit, unit_of
from blotter.errors import InvalidRequest
from blotter.model import Dataset
from blotter.queries import and_where, run_query
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
    rate: float | None = None  # per 1,000 residents per year, when a population is given
    rate_interval: Interval | None = None
    partial: bool = False  # the dataset's period covers only part of this one


def p_text(p_value: float) -> str:
    """A p-value as printed: three decimals, and "p < 0.001" below that."""
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def period_key(value: datetime, period: str) -> str:
    if period == "year":
        return f"{value.year}"
    if period == "quarter":
        return f"{value.year} Q{(value.month - 1) // 3 + 1}"
    return f"{value.year}-{value.month:02d}"


def all_periods(first: datetime, last: datetime, period: str) -> list[str]:
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


def _bounds(key: str, period: str) -> tuple[date, date]:
    """The first and last day of the period named ``key``."""
    if period == "year":
        year = int(key)
        return date(year, 1, 1), date(year, 12, 31)
    if period == "quarter":
        year, q = int(key[:4]), int(key[-1])
        first_month = 3 * (q - 1) + 1
        last_month = first_month + 2
        return date(year, first_month, 1), date(year, last_month, monthrange(year, last_month)[1])
    year, month = int(key[:4]), int(key[5:7])
    return date(year, month, 1), date(year, month, monthrange(year, month)[1])


def counts_by_period(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    period: str,
    where: str | None = None,
    unit: Unit | None = None,
) -> tuple[dict[str, int], tuple[datetime, datetime] | tuple[()]]:
    """Units (incidents by default) per period of the dataset's date column under
    ``where``, and the first and last month that has any (empty when none has). A unit
    whose rows fall in two periods counts in each."""
    when = date_column(dataset)
    if when is None:
        raise InvalidRequest(f"Dataset {dataset.id} has no date column to count over time.")
    unit = unit or unit_of(dataset, None)
    name = f"`{when.field_name}`"
    trunc = {"year": "date_trunc_y", "month": "date_trunc_ym"}.get(period, "date_trunc_ym")
    params = {"$select": f"{trunc}({name}) AS m, {unit.count} AS n", "$group": "m"}
    if where:
        params["$where"] = where
    counts: dict[str, int] = {}
    months: list[datetime] = []
    for month, n in run_query(store, dataset, params, settings).rows:
        if month is not None:
            months.append(month)
            key = period_key(month, period)
            counts[key] = counts.get(key, 0) + int(n)
    if period == "quarter" and unit.key is not None:
        # Summed months would count an incident spanning two months of a quarter twice:
        # each quarter is counted whole.
        for key in list(counts):
            low, high = _bounds(key, period)
            within = (
                f"{name} >= '{low.isoformat()}T00:00:00' AND "
                f"{name} < '{(high + timedelta(days=1)).isoformat()}T00:00:00'"
            )
            query = {
                "$select": unit.count,
                "$where": and_where(where, within),
            }
            counts[key] = int(next(iter(run_query(store, dataset, query, settings).rows))[0])
    return counts, ((min(months), max(months)) if months else ())


def trend(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    period: str = "year",
    where: str | None = None,
    population: int | None = None,
    unit: Unit | None = None,
) -> list[PeriodChange]:
    """Units per period under ``where``, each with its change from the period before, and
    per 1,000 residents per year (exact Poisson interval) when ``population`` is given.
    Every period of the dataset's declared coverage is listed, zero where nothing happened;
    a period the coverage only partly spans is marked and not compared."""
    if period not in PERIODS:
        raise InvalidRequest(f"Choose a period of {', '.join(PERIODS)}, not '{period}'.")
    counts, months = counts_by_period(store, dataset, settings, period, where, unit)
    first, last = period_covered(store, dataset, settings)
    if first is None or last is None:
        if not months:
            return []
        first, last = months
    low, high = first, last
    from scipy.stats import binomtest  # SciPy loads on first use, not with every process

    rows: list[PeriodChange] = []
    previous: int | None = None
    previous_partial = False
    for key in all_periods(low, high, period):
        start, end = _bounds(key, period)
        if dataset.meta.coverage is not None:
            partial = start < low.date() or end > high.date()
        else:
            # Without a declared period the first and last record may fall mid-period.
            partial = period != "month" and key in {
                period_key(low, period),
                period_key(high, period),
            }
        count = counts.get(key, 0)
        change = percent = p_value = None
        note = ""
        if previous is not None:
            change = count - previous
            percent = 100 * change / previous if previous else None
            if count + previous > 0 and not (partial or previous_partial):
                p_value = float(binomtest(count, count + previous, 0.5).pvalue)
                note = (
                    "within noise (could be chance)"
                    if p_value >= NOISE_P
                    else f"more than noise ({p_text(p_value)})"
                )
        if partial:
            note = "; ".join(filter(None, [note, "the data cover only part of this period"]))
        rate = interval = None
        if population and count >= WITHHOLD_BELOW:
            covered_from = max(start, low.date())
            covered_to = min(end, high.date())
            years = years_between(
                datetime.combine(covered_from, time.min), datetime.combine(covered_to, time.min)
            )
            exposure = population * years
            limits = poisson_interval(count)
            rate = count / exposure * 1000
            interval = Interval(limits.low / exposure * 1000, limits.high / exposure * 1000)
        rows.append(
            PeriodChange(key, count, change, percent, p_value, note, rate, interval, partial)
        )
        previous = count
        previous_partial = partial
    return rows
