"""A dataset's rates against the population dataset it names as its benchmark.

Both sides are SoQL queries: the events counted by group under the reader's filter, and the
population rows the benchmark's ``where`` chooses. The method card says what was divided by
what, from which source and year, and what such a rate cannot say.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass, field
from datetime import datetime

from blotter.analysis.rates import GroupRate, MethodCard, disparities
from blotter.analysis.summary import period_covered, records_span, years_between
from blotter.analysis.units import Unit, unit_of
from blotter.errors import InvalidRequest, NoSuchColumn
from blotter.model import Benchmark, Dataset
from blotter.queries import all_of, prepare_query, run_query
from blotter.settings import Settings
from blotter.store.base import Store


def benchmark_seen(store: Store, dataset: Dataset, settings: Settings) -> bool:
    """Whether ``dataset`` (its columns as its reader sees them) holds every column its
    benchmark reads: the groups' column and those of its residence clauses. Staff may hide
    one (a race or a home town in a small place); the public then gets no rates, rather
    than a page refused with an error naming the hidden column."""
    link = dataset.meta.benchmark
    if link is None or dataset.column(link.column) is None:
        return False
    for clause in (link.residents_where, link.residence_unknown_where):
        if not clause:
            continue
        try:
            prepare_query(store, dataset, {"$where": clause}, settings)
        except NoSuchColumn:
            return False
    return True


@dataclass
class RateTable:
    column: str  # the grouping column's display name
    reference: str
    rows: list[GroupRate]
    unmatched: int  # events whose group the population does not have (or is not recorded)
    card: MethodCard
    unit: Unit
    first: datetime | None = None  # the period the events cover
    last: datetime | None = None
    years: float = 1.0
    residents_only: bool = False
    total: int = 0  # units counted under the filter (residents or not)
    non_residents: int | None = None  # of ``total``, by people who live elsewhere
    residence_unknown: int = 0  # of ``total``, by people whose residence is not recorded
    labels: dict[str, str] = field(default_factory=dict)  # group code → label

    @property
    def residence_text(self) -> str:
        if self.non_residents is None or not self.total:
            return ""
        return residence_words(
            self.non_residents, self.residence_unknown, self.total, self.unit.noun
        )

    @property
    def period(self) -> str:
        if self.first is None or self.last is None:
            return "its period"
        return f"{self.first:%B %-d, %Y} to {self.last:%B %-d, %Y}"


def events_period(
    store: Store, dataset: Dataset, settings: Settings, where: str | None
) -> tuple[datetime | None, datetime | None]:
    """The period a view's events cover: the dataset's declared period, or, under a filter,
    the whole months from its first to its last record, within that period."""
    first, last = period_covered(store, dataset, settings)
    if not where:
        return first, last
    low, high = records_span(store, dataset, settings, where)
    if low is None or high is None:
        return first, last
    low = datetime(low.year, low.month, 1)
    high = datetime(high.year, high.month, monthrange(high.year, high.month)[1])
    return (max(low, first) if first else low), (min(high, last) if last else high)


def rate_table(
    store: Store,
    dataset: Dataset,
    population: Dataset,
    settings: Settings,
    where: str | None = None,
    unit: Unit | None = None,
    residents_only: bool = False,
) -> RateTable:
    """Rates per 1,000 residents per year by the benchmark's column, under ``where``,
    counting ``unit`` (incidents by default), over the years the events cover."""
    link = dataset.meta.benchmark
    if link is None:
        raise InvalidRequest(f"Dataset {dataset.id} names no population benchmark.")
    column = dataset.column(link.column)
    if column is None or not benchmark_seen(store, dataset, settings):
        # Never named: the column may be one staff hid from this reader.
        raise InvalidRequest(
            f"Dataset {dataset.id} has no rates against its population for you to read: "
            "a column they are counted by is not among its published columns."
        )
    if residents_only and not link.residents_where:
        raise InvalidRequest(
            f"Dataset {dataset.id} does not record where people live, so its rates cannot "
            "be restricted to residents.",
            parameter="residents",
        )
    unit = unit or unit_of(dataset, None)
    events_where = all_of(where, link.residents_where if residents_only else None) or ""
    total = _count(store, dataset, settings, unit, where)
    non_residents = None
    residence_unknown = 0
    if link.residents_where:
        # Counted as such: with a unit of several rows (an incident, a report), the units
        # involving someone from elsewhere are not those left once the units involving a
        # resident and those involving an unknown are taken away (one unit can be all three).
        # A row whose residence says nothing (NULL) counts as elsewhere, as it always has.
        outside = f"NOT coalesce(({link.residents_where}), false)"
        if link.residence_unknown_where:
            outside += f" AND NOT coalesce(({link.residence_unknown_where}), false)"
            residence_unknown = _count(
                store,
                dataset,
                settings,
                unit,
                f"({where}) AND ({link.residence_unknown_where})"
                if where
                else link.residence_unknown_where,
            )
        non_residents = _count(
            store, dataset, settings, unit, f"({where}) AND ({outside})" if where else outside
        )
    name = f"`{link.column}`"
    params = {"$select": f"{name} AS g, {unit.count} AS n", "$group": name}
    if events_where:
        params["$where"] = events_where
    counts: dict[str, int] = {}
    unmatched = 0
    for group, n in run_query(store, dataset, params, settings).rows:
        if group is None:
            unmatched += int(n)
        else:
            counts[str(group)] = counts.get(str(group), 0) + int(n)
    population_of, approximate = _population_groups(store, population, link, settings)
    unmatched += sum(n for g, n in counts.items() if g not in population_of)
    first, last = events_period(store, dataset, settings, where)
    years = years_between(first, last) if first and last else 1.0
    rows = disparities(counts, population_of, link.reference, years=years)
    period = f"{first:%B %-d, %Y} to {last:%B %-d, %Y}" if first and last else "its period"
    limits = [
        "Residents are not the same as the people police meet: visitors, commuters and "
        "people passing through appear among the events but not in the population."
        + (" Only events by residents are counted here." if residents_only else ""),
        f"The events cover {period} ({years:.2f} years); the population is "
        f"{link.label or population.meta.name}: a population that changed in between makes "
        "the rate less exact.",
    ]
    if non_residents is not None and total:
        limits.append(residence_words(non_residents, residence_unknown, total, unit.noun))
        limits[-1] += " They are left out here." if residents_only else " They are counted here."
    if population.meta.notes:
        limits.append(f"About the population figures: {population.meta.notes}")
    if dataset.meta.notes:
        limits.append(f"How rows are counted (from the dataset's notes): {dataset.meta.notes}")
    if approximate:
        limits.append(
            "The population counts of "
            + ", ".join(sorted(approximate))
            + " are approximate (a rounded percent times the total), as the source says."
        )
    if unmatched:
        limits.append(
            f"{unmatched:,} {unit.noun} with no {column.name.lower()} "
            "recorded, or a group the population table does not have, are left out."
        )
    if unit.key is not None:
        limits.append(
            f"Each of the {unit.noun} is counted once in every group it involves: one with "
            "people of two groups counts in both."
        )
    view = f"Counting {unit.noun}" + (f", where {where}" if where else ", all rows")
    card = MethodCard(
        numerator=f"{unit.noun} in {dataset.meta.name}"
        + (" matching the filters" if where else "")
        + (" involving residents" if residents_only else "")
        + f", by {column.name.lower()}",
        denominator=(link.label or population.meta.name) + f", times {years:.2f} years",
        source=f"{population.meta.name} (dataset {population.id}, version {population.version})",
        vintage=link.where or "all rows",
        period=f"{period}: {years:.2f} years of events, each resident counted once per year",
        view=view,
        limits=limits,
    )
    return RateTable(
        column.name,
        link.reference,
        rows,
        unmatched,
        card,
        unit,
        first,
        last,
        years,
        residents_only,
        total,
        non_residents,
        residence_unknown,
        column.labels,
    )


def residence_words(non_residents: int, unknown: int, total: int, noun: str) -> str:
    """ "1,464 of the 1,911 arrests (77%) involve people who live outside the city; 131 (7%)
    do not record where." """
    words = (
        f"{non_residents:,} of the {total:,} {noun} ({100 * non_residents / total:.0f}%) involve "
        "people who live outside the city"
    )
    if unknown:
        words += f"; {unknown:,} ({100 * unknown / total:.0f}%) do not record where they live"
    return words + "."


def _count(
    store: Store, dataset: Dataset, settings: Settings, unit: Unit, where: str | None
) -> int:
    params = {"$select": unit.count}
    if where:
        params["$where"] = where
    return int(next(iter(run_query(store, dataset, params, settings).rows))[0])


def _population_groups(
    store: Store, population: Dataset, link: Benchmark, settings: Settings
) -> tuple[dict[str, int], list[str]]:
    """The population of each group the benchmark maps, and the groups whose figure is
    approximate. The total is not a group."""
    fields = [link.group_field, link.count_field] + (
        [link.quality_field] if link.quality_field else []
    )
    pop_params = {"$select": ", ".join(f"`{f}`" for f in fields), "$limit": "1000"}
    if link.where:
        pop_params["$where"] = link.where
    population_of: dict[str, int] = {}
    approximate = []
    for row in run_query(store, population, pop_params, settings).rows:
        if row[0] is None or row[1] is None:
            continue  # a population group the events do not use, or no figure
        group, count = str(row[0]), row[1]
        population_of[group] = int(count)
        if link.quality_field and str(row[2] or "").lower().startswith("approx"):
            approximate.append(group)
    population_of.pop(link.total_group or "total", None)
    return population_of, approximate


def population_total(
    store: Store, dataset: Dataset, population: Dataset, settings: Settings
) -> int:
    """The whole population the benchmark describes, where the benchmark says it is: a
    field of its rows (``total_field``) or the row of its total group (``total_group``).
    Never a sum of groups: they may overlap or leave people out."""
    link = dataset.meta.benchmark
    if link is None:
        raise InvalidRequest(f"Dataset {dataset.id} names no population benchmark.")
    if link.total_field:
        params = {"$select": f"max(`{link.total_field}`)"}
        if link.where:
            params["$where"] = link.where
        value = next(iter(run_query(store, population, params, settings).rows))[0]
        if value is None:
            raise InvalidRequest(
                f"The population dataset {population.id} has no figure in its total field "
                f"'{link.total_field}'."
            )
        return int(value)
    group = link.total_group or "total"
    literal = "'" + group.replace("'", "''") + "'"
    where = f"`{link.group_field}` = {literal}"
    params = {
        "$select": f"`{link.count_field}`",
        "$where": f"({link.where}) AND {where}" if link.where else where,
        "$limit": "1",
    }
    found = [row[0] for row in run_query(store, population, params, settings).rows]
    if not found or found[0] is None:
        raise InvalidRequest(
            f"The population dataset {population.id} has no row whose {link.group_field} is "
            f"'{group}', and its benchmark names no total field: say where the total is "
            "(total_field or total_group)."
        )
    return int(found[0])
