"""A dataset in plain words: how many rows, the period they cover, a few shares worth
knowing, and whether the data is as fresh as promised. Every figure is a SoQL query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from blotter.analysis.units import Unit, unit_of
from blotter.model import Cadence, Column, ColumnType, Dataset, main_date_column
from blotter.queries import (
    all_of,
    and_where,
    ask_beside_values_at_least,
    keep_answer,
    run_query,
    run_together,
    values_at_least,
)
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
    """The figures behind the summary, under the page's filter, counted in ``unit``.

    Few queries, whatever the columns: one for the counts, the period, the units with a
    location (the map's count) and (for a unit larger than a row) how many units record
    each candidate column; one ``UNION ALL`` of the grouped counts of the candidates that
    may make a share."""
    unit = unit or unit_of(dataset, None)
    base = {"$where": where} if where else {}
    when = date_column(dataset)
    candidates = _candidates(dataset, unit)
    point = next((c for c in dataset.columns if c.type is ColumnType.POINT), None)
    params = _facts_question(dataset, unit, where)
    row = next(iter(run_query(store, dataset, params, settings).rows))
    units, rows = int(row[0]), int(row[1])
    first, last = (row[2], row[3]) if when else (None, None)
    recording = row[4 if when else 2 : len(row) - (point is not None)]
    if point is not None:
        located_where = and_where(where, f"`{point.field_name}` IS NOT NULL")
        asked_located = {"$select": unit.count, "$where": located_where}
        keep_answer(store, dataset, asked_located, [(row[-1],)], settings)
    # The same figures, asked alone by the page (its row count), the rates (units, the
    # period) and the charts (units recording a column), are answered by this query.
    keep_answer(store, dataset, {**base, "$select": "count(*)"}, [(row[1],)], settings)
    keep_answer(store, dataset, {**base, "$select": unit.count}, [(row[0],)], settings)
    if when:
        span = f"min(`{when.field_name}`), max(`{when.field_name}`)"
        keep_answer(store, dataset, {**base, "$select": span}, [(first, last)], settings)
    if unit.key is not None:
        for i, column in enumerate(candidates):
            name = f"`{column.field_name}`"
            # Written as analysis.counts writes it, so it compiles to the same query.
            unknowns = (f"{name} != {_quote(v)}" for v in column.unknown_values)
            known = all_of(where, f"{name} IS NOT NULL", *unknowns)
            asked = {"$select": unit.count, **({"$where": known} if known else {})}
            keep_answer(store, dataset, asked, [(recording[2 * i + 1],)], settings)
    shares: list[Share] = []
    if units:
        sharing = _may_share(store, dataset, settings, where, candidates)
        questions = [_share_question(c, unit, where) for c in sharing]
        answered = run_together(store, dataset, questions, settings)
        whole = dict(zip((c.field_name for c in sharing), answered, strict=True))
        grouped = {
            column.field_name: [(v, int(n)) for v, n in found]
            for column, found in zip(sharing, answered, strict=True)
        }
        for i, column in enumerate(candidates):
            if len(shares) >= MAX_SHARES:
                break
            if column not in sharing:
                continue
            units_of_column = (
                (int(recording[2 * i]), int(recording[2 * i + 1])) if unit.key else None
            )
            share = _top_share(column, grouped[column.field_name], units, units_of_column)
            if share is not None:
                shares.append(share)
                if where:
                    # A share's rows are the whole answer: kept for the column's chart (the
                    # page's key chart is the first share's), which asks it unlimited.
                    unlimited = _share_question(column, unit, where, limited=False)
                    keep_answer(store, dataset, unlimited, whole[column.field_name], settings)
    return Facts(units, when, first, last, shares, unit, rows)


def _facts_question(dataset: Dataset, unit: Unit, where: str | None) -> dict[str, str]:
    """The summary's one query: units, rows, the period, the units recording each candidate
    (for a unit larger than a row), the located units."""
    when = date_column(dataset)
    select = [unit.count, "count(*)"]
    if when:
        select += [f"min(`{when.field_name}`)", f"max(`{when.field_name}`)"]
    if unit.key is not None:
        # An incident's rows may differ (one records it, one does not): count units whole.
        for column in _candidates(dataset, unit):
            select.append(f"count(DISTINCT case({_recorded(column, False)}, `{unit.key}`))")
            select.append(f"count(DISTINCT case({_recorded(column, True)}, `{unit.key}`))")
    point = next((c for c in dataset.columns if c.type is ColumnType.POINT), None)
    if point is not None:
        # The units with a location, which the map asks alone: counted in the same pass.
        located = f"`{point.field_name}` IS NOT NULL"
        select.append(
            f"count(DISTINCT case({located}, `{unit.key}`))"
            if unit.key is not None
            else f"count(case({located}, 1))"
        )
    return {**({"$where": where} if where else {}), "$select": ", ".join(select)}


def ask_facts_ahead(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    where: str | None = None,
    unit: Unit | None = None,
) -> None:
    """The summary's one query asked ahead, with what the version's first few thousand rows
    (and under a filter, those it keeps) say of its columns (``values_at_least``) in the same
    engine query, each kept: the shares and the filter form need them before they ask
    anything."""
    question = _facts_question(dataset, unit or unit_of(dataset, None), where)
    ask_beside_values_at_least(store, dataset, question, settings, where)


def _candidates(dataset: Dataset, unit: Unit) -> list[Column]:
    """The columns looked at for shares."""
    return [
        c
        for c in _highlighted(dataset)[:_CANDIDATES]
        # a list's shares do not add up to one; a key is no category
        if c.separator is None and c.field_name != unit.key
    ]


def share_questions(
    store: Store,
    dataset: Dataset,
    settings: Settings,
    where: str | None = None,
    unit: Unit | None = None,
) -> list[dict[str, str]]:
    """The grouped counts :func:`dataset_facts` asks for its shares, so a page can ask them
    ahead together with its other questions of that shape (``queries.ask_ahead``)."""
    unit = unit or unit_of(dataset, None)
    sharing = _may_share(store, dataset, settings, where, _candidates(dataset, unit))
    return [_share_question(c, unit, where) for c in sharing]


def _may_share(
    store: Store, dataset: Dataset, settings: Settings, where: str | None, columns: list[Column]
) -> list[Column]:
    """The columns whose top value may make a share: those not seen with more known values
    than a share allows in a few thousand of the rows the filter keeps (``values_at_least``,
    kept per version and filter), which could only be left out (:func:`_top_share`) after
    grouping every row by them (under a filter too: a column of case numbers grouped over a
    third of a million rows cost the area page most of its time)."""
    least = values_at_least(store, dataset, settings, where)
    return [c for c in columns if least[c.field_name] - len(c.unknown_values) <= MAX_CATEGORIES]


def _recorded(column: Column, known: bool) -> str:
    """SoQL true where a row records the column (``known``: and not as unknown, UNK)."""
    name = f"`{column.field_name}`"
    tests = [f"{name} IS NOT NULL"]
    if known:
        tests += [f"{name} != {_quote(v)}" for v in column.unknown_values]
    return " AND ".join(tests)


def _share_rows(column: Column) -> int:
    """The rows a share needs of a column's grouped counts: every known value a share
    allows, the unknown values, the empty one, and one more: an answer that fills them
    holds too many known values for a share (:func:`_top_share`), and one that does not is
    the whole answer. So under a filter (which asks every candidate column) a column of
    many values is not sorted and sent in full."""
    return MAX_CATEGORIES + len(column.unknown_values) + 2


def _share_question(
    column: Column, unit: Unit, where: str | None, *, limited: bool = True
) -> dict[str, str]:
    """A column's grouped counts, as its chart asks them (``analysis.counts``) when not
    under a filter or not ``limited``: a whole answer is then kept for the chart.
    Unfiltered, the columns asked were seen with few values (:func:`_may_share`)."""
    name = f"`{column.field_name}`"
    params = {
        "$select": f"{name} AS value, {unit.count} AS n",
        "$group": name,
        "$order": "n DESC, value",
    }
    if limited and where:
        params["$limit"] = str(_share_rows(column))
    if where:
        params["$where"] = where
    return params


def _top_share(
    column: Column,
    rows: list[tuple[Any, int]],
    total: int,
    recording: tuple[int, int] | None,
) -> Share | None:
    """The most common value of a category column, if it has few values and some vary.
    ``recording``: for a unit larger than a row, the units recording the column, and those
    recording a known value."""
    empty = sum(n for value, n in rows if value is None)
    unknown = sum(n for value, n in rows if str(value) in column.unknown_values)
    counts = [(v, n) for v, n in rows if v is not None and str(v) not in column.unknown_values]
    if not 2 <= len(counts) <= MAX_CATEGORIES:
        return None
    if recording is None:  # rows: each is in one group, so the groups add up
        recorded, missing = sum(n for _, n in counts), empty
    else:
        missing = max(total - recording[0], 0)
        recorded = recording[1] if column.unknown_values else recording[0]
    if column.type is ColumnType.CHECKBOX:
        yes = next((n for value, n in counts if value is True), 0)
        return Share(column, "yes", yes, recorded, missing, unknown)
    value, top = counts[0]
    return Share(column, column.label(str(value)), top, recorded, missing, unknown)


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
            text = f"{lead} {_agree(share.count, 'says', 'say')} yes"
        else:
            text = f"{lead} {_agree(share.count, 'records', 'record')} {share.value}"
        apart = []
        if share.unknown:
            verb = _agree(share.unknown, "records", "record")
            apart.append(f"{share.unknown:,} {verb} it as unknown")
        if share.missing:
            apart.append(f"{share.missing:,} {_agree(share.missing, 'does', 'do')} not record it")
        sentences.append(text + ("; " + " and ".join(apart) if apart else "") + ".")
    return sentences


def _agree(count: int, one: str, several: str) -> str:
    """The verb agreeing with a count ("1 does not", "2 do not")."""
    return one if count == 1 else several


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
