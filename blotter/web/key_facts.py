"""The home page's key facts: for each dataset the publisher marked (``key_fact:`` in its
dataset file, the words for what is counted), its count over the period it covers and in
its last year, in the dataset's declared unit ("103 uses of force 2015–2017; 24 in 2017",
incidents counted once however many officers). Every figure is a SoQL query, kept per
version: versions never change, so neither can the figures."""

from __future__ import annotations

from dataclasses import dataclass

from blotter.analysis.summary import date_column, period_covered
from blotter.analysis.units import unit_of
from blotter.model import Dataset
from blotter.portal import Portal
from blotter.queries import answer_key, answers, run_query

MOST_FACTS = 4  # without marked datasets: the first few with dates, by name
FACT_BYTES = 512  # what a kept fact is counted as: a few short texts and numbers, rounded up


@dataclass(frozen=True)
class KeyFact:
    dataset_id: str
    url: str
    words: str  # what is counted: "uses of force"
    total: int
    period: str  # "2015–2017", or "2019"
    last_year: int | None  # the period's last year, when it spans more than one
    in_last_year: int
    agency: str

    @property
    def text(self) -> str:
        """ "103 uses of force 2015–2017; 24 in 2017"."""
        head = f"{self.total:,} {self.words} {self.period}".rstrip()
        if self.last_year is None:
            return head
        return f"{head}; {self.in_last_year:,} in {self.last_year}"


def fact_datasets(datasets: list[Dataset]) -> list[Dataset]:
    """The datasets the home page states a fact of: those whose file marks one, else the
    first few real (not generated) ones with a date column."""
    marked = [d for d in datasets if d.meta.key_fact]
    if marked:
        return sorted(marked, key=lambda d: d.meta.name.casefold())
    dated = [d for d in datasets if not d.meta.sample and date_column(d) is not None]
    return sorted(dated, key=lambda d: d.meta.name.casefold())[:MOST_FACTS]


def key_facts(portal: Portal, datasets: list[Dataset]) -> list[KeyFact]:
    facts = []
    # Kept with the store's answers, by the dataset, its creation and version, and the
    # columns the reader sees: a staff reader's dataset holds internal columns (a unit's
    # key, a date), and a fact counted from them must never be handed to the public, nor
    # kept once a column is hidden.
    cache = answers(portal.store, portal.settings)
    for dataset in fact_datasets(datasets):
        key = answer_key(dataset, "key fact", "fact")
        kept = cache.get(key)
        if kept is None:
            kept = (_fact(portal, dataset),)  # (None,) when the dataset has no fact
            cache.put(key, kept, FACT_BYTES)
        fact = kept[0]
        if fact is not None:
            facts.append(fact)
    return facts


def _fact(portal: Portal, dataset: Dataset) -> KeyFact | None:
    unit = unit_of(dataset, None)
    when = date_column(dataset)
    first, last = period_covered(portal.store, dataset, portal.settings)
    if when is None or first is None or last is None:
        return None
    total = _count(portal, dataset, {"$select": unit.count})
    from_last = f"'{last.year}-01-01T00:00:00'"
    to_end = f"'{last.year + 1}-01-01T00:00:00'"
    in_last = _count(
        portal,
        dataset,
        {
            "$select": unit.count,
            "$where": f"`{when.field_name}` >= {from_last} AND `{when.field_name}` < {to_end}",
        },
    )
    several = first.year != last.year
    return KeyFact(
        dataset_id=dataset.id,
        url=f"/datasets/{dataset.id}",
        words=dataset.meta.key_fact or unit.noun,
        total=total,
        period=f"{first.year}–{last.year}" if several else str(first.year),
        last_year=last.year if several else None,
        in_last_year=in_last,
        agency=dataset.meta.agency,
    )


def _count(portal: Portal, dataset: Dataset, params: dict[str, str]) -> int:
    row = next(iter(run_query(portal.store, dataset, params, portal.settings).rows))
    return int(row[0] or 0)
