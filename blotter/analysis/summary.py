"""A dataset in plain words: how many rows, the period they cover, a few shares worth
knowing, and whether the data is as fresh as promised. Every figure is a SoQL query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from blotter.model import Cadence, Column, ColumnType, Dataset
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
MAX_SHARES = 3
MAX_CATEGORIES = 8  # a text column with more values is not summarized as shares
_CANDIDATES = 8  # columns looked at for shares, so a wide dataset costs few queries


@dataclass
class Share:
    """``count`` of the ``recorded`` rows have ``value`` in ``column``."""

    column: Column
    value: str
    count: int
    recorded: int

    @property
    def percent(self) -> str:
        share = 100 * self.count / self.recorded
        return f"{share:.0f}%" if share >= 1 else "under 1%"


@dataclass
class Facts:
    rows: int
    date_column: Column | None
    first: datetime | None
    last: datetime | None
    shares: list[Share]


def date_column(dataset: Dataset) -> Column | None:
    """The column that says when each row happened: the first timestamp column."""
    return next((c for c in dataset.columns if c.type is ColumnType.FLOATING_TIMESTAMP), None)


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
    store: Store, dataset: Dataset, settings: Settings, where: str | None = None
) -> Facts:
    """The figures behind the summary, under the page's filter."""
    base = {"$where": where} if where else {}
    when = date_column(dataset)
    select = "count(*)" + (f", min(`{when.field_name}`), max(`{when.field_name}`)" if when else "")
    row = next(iter(run_query(store, dataset, {**base, "$select": select}, settings).rows))
    rows = int(row[0])
    first, last = (row[1], row[2]) if when else (None, None)
    shares: list[Share] = []
    for column in _highlighted(dataset)[:_CANDIDATES]:
        if len(shares) >= MAX_SHARES or rows == 0:
            break
        share = _top_share(store, dataset, settings, base, column)
        if share is not None:
            shares.append(share)
    return Facts(rows, when, first, last, shares)


def _top_share(
    store: Store, dataset: Dataset, settings: Settings, base: dict[str, str], column: Column
) -> Share | None:
    """The most common value of a category column, if it has few values and some vary."""
    name = f"`{column.field_name}`"
    result = run_query(
        store,
        dataset,
        {
            **base,
            "$select": f"{name} AS value, count(*) AS n",
            "$where": and_where(base.get("$where"), f"{name} IS NOT NULL"),
            "$group": name,
            "$order": "n DESC, value",
            "$limit": str(MAX_CATEGORIES + 1),
        },
        settings,
    )
    counts = [(value, int(n)) for value, n in result.rows]
    if not 2 <= len(counts) <= MAX_CATEGORIES:
        return None
    if column.type is ColumnType.CHECKBOX:
        yes = next((n for value, n in counts if value is True), 0)
        return Share(column, "yes", yes, sum(n for _, n in counts))
    value, top = counts[0]
    return Share(column, str(value), top, sum(n for _, n in counts))


def period_covered(
    store: Store, dataset: Dataset, settings: Settings
) -> tuple[datetime | None, datetime | None]:
    """The first and last date of the dataset's date column (None without one)."""
    when = date_column(dataset)
    if when is None or dataset.row_count == 0:
        return None, None
    name = f"`{when.field_name}`"
    result = run_query(store, dataset, {"$select": f"min({name}), max({name})"}, settings)
    first, last = next(iter(result.rows))
    return first, last


def month_year(value: datetime) -> str:
    return value.strftime("%B %Y")


def summary_sentences(dataset: Dataset, facts: Facts, *, filtered: bool) -> list[str]:
    """The summary people read first: what, how many, when; then the shares."""
    noun = dataset.meta.row_noun or ("rows" if facts.rows != 1 else "row")
    who = f" by {dataset.meta.agency}" if dataset.meta.agency and dataset.meta.row_noun else ""
    scope = " matching the filters" if filtered else ""
    first = f"{facts.rows:,} {noun}{who}{scope}"
    if facts.first and facts.last:
        span = (
            f"in {month_year(facts.first)}"
            if month_year(facts.first) == month_year(facts.last)
            else f"between {month_year(facts.first)} and {month_year(facts.last)}"
        )
        first += f" {span}"
    sentences = [first + "."]
    for share in facts.shares:
        if share.column.type is ColumnType.CHECKBOX:
            sentences.append(
                f"{share.column.name}: yes in {share.percent} of the rows that record it "
                f"({share.count:,} of {share.recorded:,})."
            )
        else:
            sentences.append(
                f"Most common {share.column.name.lower()}: {share.value}, {share.percent} of "
                f"the rows that record it ({share.count:,} of {share.recorded:,})."
            )
    return sentences


@dataclass
class Freshness:
    text: str
    late: str | None  # a sentence for the banner when a refresh is overdue


def freshness(dataset: Dataset, now: datetime) -> Freshness:
    """ "Data as of …, published …, updates monthly", and a warning when that is overdue."""
    as_of = dataset.data_as_of or dataset.rows_updated_at
    parts = []
    if as_of:
        parts.append(f"Data as of {as_of:%B %-d, %Y}")
    if dataset.rows_updated_at:
        parts.append(f"published {dataset.rows_updated_at:%B %-d, %Y}")
    cadence = dataset.meta.cadence
    parts.append(
        f"updates {cadence}" if cadence not in (Cadence.NONE, Cadence.AS_NEEDED) else str(cadence)
    )
    text = ", ".join(parts) + "."
    allowed = LATE_AFTER.get(cadence)
    late = None
    if allowed and as_of and now - as_of > allowed:
        days = (now - as_of).days
        late = (
            f"This dataset is overdue: it promises {cadence} updates, but its data is "
            f"{days:,} days old (as of {as_of:%B %-d, %Y})."
        )
    return Freshness(text[0].upper() + text[1:], late)
