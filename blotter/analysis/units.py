"""What a count counts: rows, or a larger unit rows make up (incidents by case number, calls
by event number), as the dataset file declares. Counting a unit is counting the distinct
values of its key, so an incident with three officers counts once."""

from __future__ import annotations

from dataclasses import dataclass

from blotter.errors import InvalidRequest
from blotter.model import Column, Dataset

ROWS = "rows"


@dataclass(frozen=True)
class Unit:
    name: str  # the ``unit=`` slug
    noun: str  # plural words: "incidents", "officer–subject pairs"
    key: str | None  # None: every row counts

    @property
    def count(self) -> str:
        """The SoQL aggregate counting this unit."""
        return f"count(DISTINCT `{self.key}`)" if self.key else "count(*)"

    @property
    def title(self) -> str:
        return self.noun[:1].upper() + self.noun[1:]


def units_of(dataset: Dataset) -> list[Unit]:
    """The units a dataset can be counted in, the default first; rows always last."""
    declared = [
        Unit(u.name, u.noun or u.name, u.key)
        for u in dataset.meta.units
        if dataset.column(u.key) is not None  # a key the viewer cannot see is no unit
    ]
    return [*declared, Unit(ROWS, dataset.meta.row_noun or "rows", None)]


def unit_of(dataset: Dataset, name: str | None) -> Unit:
    """The unit named by ``unit=`` (the dataset's default when absent)."""
    units = units_of(dataset)
    if not name:
        return units[0]
    for unit in units:
        if unit.name == name:
            return unit
    choices = ", ".join(u.name for u in units)
    raise InvalidRequest(
        f"'unit' must be one of {choices} for dataset {dataset.id}, not '{name}'.",
        parameter="unit",
    )


def list_match(column: Column, value: str) -> str:
    """SoQL true when a list column's cell holds ``value`` as one of its values (not as
    part of another: 'cew_display' never matches 'firearm_display'). ``value`` must already
    be a quoted SoQL literal's content, without quotes."""
    sep = (column.separator or "; ").strip()
    escaped = value.replace("'", "''")
    return f"('{sep} ' || `{column.field_name}` || '{sep}') LIKE '%{sep} {escaped}{sep}%'"
