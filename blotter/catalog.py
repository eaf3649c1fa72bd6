"""Finding datasets: word search and facets over the catalog, shared by pages and the API."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from blotter.model import Dataset

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def _haystack(dataset: Dataset) -> set[str]:
    meta = dataset.meta
    parts = [meta.name, meta.description, meta.agency, meta.category, " ".join(meta.tags)]
    for column in dataset.columns:
        parts += [column.field_name, column.field_name.replace("_", " "), column.name]
        parts.append(column.description)
    found: set[str] = set()
    for part in parts:
        found.update(words(part))
    return found


@dataclass
class CatalogQuery:
    """What a reader asks of the catalog; every field narrows the result."""

    q: str = ""
    categories: Sequence[str] = ()
    tags: Sequence[str] = ()
    agencies: Sequence[str] = ()
    cadences: Sequence[str] = ()
    ids: Sequence[str] = ()


@dataclass
class Facets:
    categories: Counter[str] = field(default_factory=Counter)
    agencies: Counter[str] = field(default_factory=Counter)
    tags: Counter[str] = field(default_factory=Counter)
    cadences: Counter[str] = field(default_factory=Counter)


def matches(dataset: Dataset, query: CatalogQuery) -> bool:
    """True when the dataset has every word of ``q`` (prefixes count) and every filter."""
    meta = dataset.meta
    if query.ids and dataset.id not in query.ids:
        return False
    if query.categories and meta.category.casefold() not in {
        c.casefold() for c in query.categories
    }:
        return False
    if query.agencies and meta.agency.casefold() not in {a.casefold() for a in query.agencies}:
        return False
    if query.tags and not {t.casefold() for t in query.tags} <= {t.casefold() for t in meta.tags}:
        return False
    if query.cadences and str(meta.cadence) not in query.cadences:
        return False
    wanted = words(query.q)
    if wanted:
        haystack = _haystack(dataset)
        return all(any(h.startswith(w) for h in haystack) for w in wanted)
    return True


def search(datasets: Iterable[Dataset], query: CatalogQuery) -> list[Dataset]:
    return [d for d in datasets if matches(d, query)]


def facets(datasets: Iterable[Dataset]) -> Facets:
    """Counts per category, agency and tag over ``datasets``."""
    result = Facets()
    for d in datasets:
        if d.meta.category:
            result.categories[d.meta.category] += 1
        if d.meta.agency:
            result.agencies[d.meta.agency] += 1
        result.tags.update(set(d.meta.tags))
        result.cadences[str(d.meta.cadence)] += 1
    return result
