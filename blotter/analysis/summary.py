"""A dataset in plain words: how many rows, the period they cover, a few shares worth
knowing, and whether the data is as fresh as promised. Every figure is a SoQL query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from blotter.analysis.units import Unit, unit_of
from blotter.model import Cadence, Column, ColumnType, Dataset, main_date_column
from blotter.queries import and_where, run_query
from blotter.settings import Settings
from blotter.store.base import Store

# How long after its last data a dataset with this cadence counts as late: the period plus
# a margin for the publisher's working days.
LATE_AFTER = {
    Cadence.DAILY: timedelta(days=2),
    Cadence.WEEKLY: timedelta(days=10),
    Cadence.MONTHLY: timedelta(days=45),
    Cadence.QUARTERLY: timedelta(days=120),
    Cadence.ANNUALLY: timedelta(days=400),
}
_ADJECTIVE = {Cadence.ANNUALLY: "annual"}  # "annual updates", not "annually updates"
MAX_SHARES = 3
MAX_CATEGORIES = 8  # a text column with more values is not summarized as shares
_CANDIDATES = 8  # columns looked at for shares, so a wide dataset costs few queries


@dataclass
class Share:
    """``count`` of the ``recorded`` units have ``value`` in ``column``; ``missing`` units
    do not record it and ``unknown`` record it as unknown (UNK), both left out of the share."""

    column: Column
    value: str
    count: int
    recorded: int
    missing: int = 0
    unknown: int = 0

    @property
    def percent(self) -> str:
        share = 100 * self.count / self.recorded
        return f"{share:.0f}%" if share >= 1 else "under 1%"


@dataclass
class Facts:
    rows: int  # units counted (incidents, calls; rows when no larger unit is declared)
    date_column: Column | None
    first: datetime | None
    last: datetime | None
    shares: list[Share]
    unit: Unit
    all_rows: int = 0  # rows, when the unit is larger than a row


def date_column(dataset: Dataset) -> Column | None:
    """The column that says when each row happened: the dataset's ``main_date``, else its
    first timestamp column."""
    return main_date_column(dataset.columns, dataset.meta.main_date)


def category_columns(dataset: Dataset) -> list[Column]:
    """Columns whose values are categories: checkboxes and text, without raw twins."""
    return [
        c
        for c in dataset.columns
        if c.type in (ColumnType.CHECKBOX, ColumnType.TEXT) and not c.name.endswith("(as recorded)")
    ]


def _highlighted(dataset: Dataset) -> list[Column]:
    """The columns the publisher named as highlights first, then the other categories."""
    categories = category_columns(dataset)
    chosen = [c for name in dataset.meta.highlights for c in categories if c.field_name == name]
    return chosen + [c for c in categories if c not in chosen]


def dataset_facts(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    where: str | None = None,
    unit: Unit | None = None,
) -> Facts:
    """The figures behind the summary, under the page's filter, counted in ``unit``."""
    unit = unit or unit_of(dataset, None)
    base = {"$where": where} if where else {}
    when = date_column(dataset)
    select = f"{unit.count}, count(*)" + (
        f", min(`{when.field_name}`), max(`{when.field_name}`)" if when else ""
    )
    row = next(iter(run_query(store, dataset, {**base, "$select": select}, settings).rows))
    units, rows = int(row[0]), int(row[1])
    first, last = (row[2], row[3]) if when else (None, None)
    shares: list[Share] = []
    for column in _highlighted(dataset)[:_CANDIDATES]:
        if len(shares) >= MAX_SHARES or units == 0:
            break
        if column.separator is not None or column.field_name == unit.key:
            continue  # a list's shares do not add up to one; a key is no category
        share = _top_share(store, dataset, settings, base, column, unit, units)
        if share is not None:
            shares.append(share)
    return Facts(units, when, first, last, shares, unit, rows)


def _top_share(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    base: dict[str, str],
    column: Column,
    unit: Unit,
    total: int,
) -> Share | None:
    """The most common value of a category column, if it has few values and some vary."""
    name = f"`{column.field_name}`"
    params = {
        "$select": f"{name} AS value, {unit.count} AS n",
        "$group": name,
        "$order": "n DESC, value",
        "$limit": str(MAX_CATEGORIES + 2 + len(column.unknown_values)),
    }
    if base.get("$where"):
        params["$where"] = base["$where"]
    rows = [(value, int(n)) for value, n in run_query(store, dataset, params, settings).rows]
    empty = sum(n for value, n in rows if value is None)
    unknown = sum(n for value, n in rows if str(value) in column.unknown_values)
    counts = [(v, n) for v, n in rows if v is not None and str(v) not in column.unknown_values]
    if not 2 <= len(counts) <= MAX_CATEGORIES:
        return None
    if unit.key is None:  # rows: each is in one group, so the groups add up
        recorded, missing = sum(n for _, n in counts), empty
    else:
        # An incident's rows may differ (one records it, one does not): count units whole.
        any_where = and_where(base.get("$where"), f"{name} IS NOT NULL")
        recording = _units(store, dataset, settings, unit, any_where)
        missing = max(total - recording, 0)
        recorded = recording
        if column.unknown_values:
            known = " AND ".join(
                [any_where, *(f"{name} != {_quote(v)}" for v in column.unknown_values)]
            )
            recorded = _units(store, dataset, settings, unit, known)
    if column.type is ColumnType.CHECKBOX:
        yes = next((n for value, n in counts if value is True), 0)
        return Share(column, "yes", yes, recorded, missing, unknown)
    value, top = counts[0]
    return Share(column, column.label(str(value)), top, recorded, missing, unknown)


def _units(store: Store, dataset: Dataset, settings: Settings, unit: Unit, where: str) -> int:
    rows = run_query(store, dataset, {"$select": unit.count, "$where": where}, settings).rows
    return int(next(iter(rows))[0])


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def period_covered(
    store: Store, dataset: Dataset, settings: Settings
) -> tuple[datetime | None, datetime | None]:
    """The period the data cover: as the dataset declares it, else its first and last date
    (None without a date column)."""
    coverage = dataset.meta.coverage
    if coverage is not None:
        return (
            datetime.combine(coverage.start, time.min),
            datetime.combine(coverage.end, time.min),
        )
    return records_span(store, dataset, settings)


def records_span(
    store: Store, dataset: Dataset, settings: Settings, where: str | None = None
) -> tuple[datetime | None, datetime | None]:
    """The first and last date of the dataset's date column under ``where``."""
    when = date_column(dataset)
    if when is None or dataset.row_count == 0:
        return None, None
    name = f"`{when.field_name}`"
    params = {"$select": f"min({name}), max({name})"}
    if where:
        params["$where"] = where
    first, last = next(iter(run_query(store, dataset, params, settings).rows))
    return first, last


def years_between(first: datetime, last: datetime) -> float:
    """The length of a period from the day ``first`` to the day ``last``, inclusive, in years:
    whole months count as twelfths (2015-01-01 to 2017-12-31 is 3 years exactly), other
    spans as days over 365.25."""
    end = last.date()
    if first.day == 1 and (end + timedelta(days=1)).day == 1:
        months = (end.year - first.year) * 12 + end.month - first.month + 1
        return months / 12
    return ((end - first.date()).days + 1) / 365.25


def month_year(value: datetime) -> str:
    return value.strftime("%B %Y")


def span_words(first: datetime, last: datetime) -> str:
    """ "in March 2016" or "between January 2015 and December 2017"."""
    if month_year(first) == month_year(last):
        return f"in {month_year(first)}"
    return f"between {month_year(first)} and {month_year(last)}"


def summary_sentences(dataset: Dataset, facts: Facts, *, filtered: bool) -> list[str]:
    """The summary people read first: what, how many (in the unit counted), when; then the
    shares, each saying what it measures and how many do not record it."""
    unit = facts.unit
    noun = unit.noun if facts.rows != 1 or unit.key else (dataset.meta.row_noun or "row")
    if unit.key is None and not dataset.meta.row_noun:
        noun = "rows" if facts.rows != 1 else "row"
    who = f" by {dataset.meta.agency}" if dataset.meta.agency and dataset.meta.row_noun else ""
    scope = " matching the filters" if filtered else ""
    first = f"{facts.rows:,} {noun}{who}{scope}"
    if facts.first and facts.last:
        first += f" {span_words(facts.first, facts.last)}"
    if unit.key is not None and facts.all_rows != facts.rows:
        rows_noun = dataset.meta.row_noun or "rows"
        first += f" ({facts.all_rows:,} {rows_noun}: {noun} are counted once each)"
    sentences = [first + "."]
    for share in facts.shares:
        what = share.column.name.lower()
        lead = (
            f"Of the {share.recorded:,} {noun} that record {what}, "
            f"{share.count:,} ({share.percent})"
        )
        if share.column.type is ColumnType.CHECKBOX:
            text = f"{lead} say yes"
        else:
            text = f"{lead} record {share.value}"
        apart = []
        if share.unknown:
            apart.append(f"{share.unknown:,} record it as unknown")
        if share.missing:
            apart.append(f"{share.missing:,} do not record it")
        sentences.append(text + ("; " + " and ".join(apart) if apart else "") + ".")
    return sentences


@dataclass
class Freshness:
    text: str
    late: str | None  # a sentence for the banner when a refresh is overdue


def freshness(dataset: Dataset, now: datetime, newest: datetime | None = None) -> Freshness:
    """Three dates kept apart: the period covered, when the data were extracted ("data as
    of"), when they were published; and a warning when the newest record is older than the
    cadence promises (``newest``: the last record's date, when known)."""
    parts = []
    coverage = dataset.meta.coverage
    if coverage is not None:
        parts.append(f"Covers {coverage.start:%B %-d, %Y} to {coverage.end:%B %-d, %Y}")
    as_of = dataset.meta.extracted
    loaded = dataset.rows_updated_at.date() if dataset.rows_updated_at else None
    if as_of is None and dataset.data_as_of and dataset.data_as_of.date() != loaded:
        as_of = dataset.data_as_of.date()  # a date the publisher gave, not the load's
    if as_of is not None:
        parts.append(f"data as of {as_of:%B %-d, %Y}")
    if dataset.rows_updated_at:
        parts.append(f"published {dataset.rows_updated_at:%B %-d, %Y}")
    cadence = dataset.meta.cadence
    parts.append(
        f"updates {cadence}" if cadence not in (Cadence.NONE, Cadence.AS_NEEDED) else str(cadence)
    )
    text = ", ".join(parts) + "."
    allowed = LATE_AFTER.get(cadence)
    # What is late is the data, not the upload: the newest record (or the declared end).
    latest = newest
    if coverage is not None:
        end = datetime.combine(coverage.end, time.min)
        latest = max(latest, end) if latest else end
    if latest is None:
        latest = dataset.data_as_of or dataset.rows_updated_at
    late = None
    if allowed and latest and now - latest > allowed:
        days = (now - latest).days
        late = (
            f"This dataset is out of date: it promises {_ADJECTIVE.get(cadence, cadence)} "
            "updates, but its newest "
            f"record is {days:,} days old ({latest:%B %-d, %Y})."
        )
    return Freshness(text[0].upper() + text[1:], late)
