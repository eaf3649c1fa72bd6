"""The dataset page's "Patterns" section: which charts the URL asks for, the form to choose
them, and the charts themselves for the current filter.

URL parameters (all optional, all starting ``chart.`` so they never clash with a column):
``chart.by`` (count by a column), ``chart.period`` (month, quarter, year), ``chart.split``
(one line per value of a column), ``chart.down`` and ``chart.across`` (a cross-tab).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from blotter.analysis.summary import date_column
from blotter.analysis.units import Unit, unit_of, units_of
from blotter.model import Column, Dataset
from blotter.portal import Portal
from blotter.web.charts import PERIODS, Chart, chartable, count_by, crosstab, over_time
from blotter.web.filters import VIEW_PREFIX, Problem


@dataclass
class Option:
    value: str
    label: str
    selected: bool


@dataclass
class Patterns:
    charts: list[Chart]
    by: list[Option]
    period: list[Option]
    split: list[Option]
    down: list[Option]
    across: list[Option]
    has_time: bool
    units: list[Option] = field(default_factory=list)
    keep: list[tuple[str, str]] = field(default_factory=list)


def _options(columns: list[Column], chosen: str, none: str | None = None) -> list[Option]:
    first = [Option("", none, not chosen)] if none is not None else []
    return first + [Option(c.field_name, c.name, c.field_name == chosen) for c in columns]


def _column(
    dataset: Dataset,
    params: dict[str, str],
    key: str,
    allowed: list[Column],
    problems: list[Problem],
) -> Column | None:
    name = params.get(VIEW_PREFIX + key, "")
    if not name:
        return None
    column = next((c for c in allowed if c.field_name == name), None)
    if column is None:
        problems.append(
            Problem(
                VIEW_PREFIX + key,
                None,
                f"Charts cannot count by '{name}': choose a column from the list.",
            )
        )
    return column


def build_patterns(
    portal: Portal,
    dataset: Dataset,
    params: dict[str, str],
    where: str | None,
    default_by: Column | None,
    unit: Unit | None = None,
) -> tuple[Patterns, list[Problem]]:
    """The charts the URL asks for (or sensible first ones) under the current filter,
    counting ``unit`` (the dataset's default unit when None)."""
    problems: list[Problem] = []
    unit = unit or unit_of(dataset, None)
    columns = chartable(dataset)
    by = _column(dataset, params, "by", columns, problems) or default_by
    split = _column(dataset, params, "split", columns, problems)
    down = _column(dataset, params, "down", columns, problems)
    across = _column(dataset, params, "across", columns, problems)
    period = params.get(VIEW_PREFIX + "period", "month")
    if period not in PERIODS:
        problems.append(Problem(VIEW_PREFIX + "period", None, "Choose month, quarter or year."))
        period = "month"
    when = date_column(dataset)
    charts: list[Chart] = []
    if not problems:
        # The first chart is the key one, drawn into the page: its drawings begin as soon
        # as it is built, beside the other charts' building and the page's queries.
        if by is not None:
            charts.append(count_by(portal, dataset, where, by, unit=unit))
            charts[0].drawing.start()
        if when is not None:
            charts.append(over_time(portal, dataset, where, when, period, split, unit=unit))
            charts[0].drawing.start()
        if down is not None and across is not None and down != across:
            charts.append(crosstab(portal, dataset, where, down, across, unit))
    keep = [(k, v) for k, v in params.items() if not k.startswith(VIEW_PREFIX) and k != "page"]
    patterns = Patterns(
        charts=charts,
        by=_options(columns, by.field_name if by else ""),
        period=[Option(k, v, k == period) for k, v in PERIODS.items()],
        split=_options(columns, split.field_name if split else "", none="no split"),
        down=_options(columns, down.field_name if down else "", none="none"),
        across=_options(columns, across.field_name if across else "", none="none"),
        has_time=when is not None,
        units=[Option(u.name, u.noun, u == unit) for u in units_of(dataset)],
        keep=keep,
    )
    return patterns, problems
