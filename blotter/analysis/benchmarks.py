"""A dataset's rates against the population dataset it names as its benchmark.

Both sides are SoQL queries: the events counted by group under the reader's filter, and the
population rows the benchmark's ``where`` chooses. The method card says what was divided by
what, from which source and year, and what such a rate cannot say.
"""

from __future__ import annotations

from dataclasses import dataclass

from blotter.analysis.rates import GroupRate, MethodCard, disparities
from blotter.analysis.summary import month_year, period_covered
from blotter.errors import InvalidRequest
from blotter.model import Dataset
from blotter.queries import run_query
from blotter.settings import Settings
from blotter.store.base import Store


@dataclass
class RateTable:
    column: str  # the grouping column's display name
    reference: str
    rows: list[GroupRate]
    unmatched: int  # events whose group the population does not have (or is not recorded)
    card: MethodCard


def rate_table(
    store: Store,
    dataset: Dataset,
    population: Dataset,
    settings: Settings,
    where: str | None = None,
) -> RateTable:
    """Rates per 1,000 residents by the benchmark's column, under ``where``."""
    link = dataset.meta.benchmark
    if link is None:
        raise InvalidRequest(f"Dataset {dataset.id} names no population benchmark.")
    column = dataset.column(link.column)
    if column is None:
        raise InvalidRequest(f"The benchmark's column '{link.column}' is not in {dataset.id}.")
    name = f"`{link.column}`"
    params = {"$select": f"{name} AS g, count(*) AS n", "$group": name}
    if where:
        params["$where"] = where
    counts: dict[str, int] = {}
    unmatched = 0
    for group, n in run_query(store, dataset, params, settings).rows:
        if group is None:
            unmatched += int(n)
        else:
            counts[str(group)] = counts.get(str(group), 0) + int(n)
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
    population_of.pop("total", None)
    unmatched += sum(n for g, n in counts.items() if g not in population_of)
    rows = disparities(counts, population_of, link.reference)
    first, last = period_covered(store, dataset, settings)
    period = f"{month_year(first)} to {month_year(last)}" if first and last else "its period"
    limits = [
        "Residents are not the same as the people police meet: visitors, commuters and "
        "people passing through appear among the events but not in the population.",
        f"The events cover {period}; the population is {link.label or population.meta.name}: "
        "a population that changed in between makes the rate less exact.",
    ]
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
            f"{unmatched:,} event{'s' if unmatched != 1 else ''} with no {column.name.lower()} "
            "recorded, or a group the population table does not have, are left out."
        )
    card = MethodCard(
        numerator=f"{dataset.meta.row_noun or 'rows'} in {dataset.meta.name}"
        + (" matching the filters" if where else "")
        + f", by {column.name.lower()}",
        denominator=link.label or population.meta.name,
        source=f"{population.meta.name} (dataset {population.id}, version {population.version})",
        vintage=link.where or "all rows",
        limits=limits,
    )
    return RateTable(column.name, link.reference, rows, unmatched, card)


def population_total(
    store: Store, dataset: Dataset, population: Dataset, settings: Settings
) -> int:
    """The whole population the benchmark describes: its "total" row, else the sum of the
    groups it maps (which may miss people in groups the events do not use)."""
    link = dataset.meta.benchmark
    if link is None:
        raise InvalidRequest(f"Dataset {dataset.id} names no population benchmark.")
    params = {"$select": f"`{link.group_field}`, `{link.count_field}`", "$limit": "1000"}
    if link.where:
        params["$where"] = link.where
    groups = {
        str(g): int(n)
        for g, n in run_query(store, population, params, settings).rows
        if g is not None and n is not None
    }
    return groups.get("total") or sum(groups.values())
