"""The dataset page's filter form: one control per filterable column, holding the values
now in the address, with each category's values counted under the other filters."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from blotter.analysis.counts import count_values
from blotter.analysis.units import Unit, unit_of
from blotter.model import Column, ColumnType, Dataset
from blotter.portal import Portal
from blotter.queries import run_query
from blotter.web.filters import IN_SEPARATOR, VIEW_PREFIX, Filter, Problem, where_clause

MAX_CHOICES = 40  # a text column with more distinct values gets free-text boxes


@dataclass
class Choice:
    value: str
    label: str
    selected: bool


@dataclass
class Input:
    """One form field: its id, URL parameter, label, current value and any problem."""

    id: str
    param: str
    label: str
    value: str
    kind: str = "text"  # "text", "number" (text with a decimal keypad), "date"
    error: str | None = None


@dataclass
class FilterControl:
    """One column's control in the filter form: a select, or a group of inputs."""

    field: str
    name: str
    kind: str  # "select" (one labelled select) or "group" (a fieldset of inputs)
    select: Input | None = None
    choices: list[Choice] = dataclasses.field(default_factory=list)
    inputs: list[Input] = dataclasses.field(default_factory=list)
    # Categories also offer "is not" (one value) and "is one of" (several, a multi-select).
    exclude: Input | None = None
    exclude_choices: list[Choice] = dataclasses.field(default_factory=list)
    any_of: Input | None = None
    any_of_choices: list[Choice] = dataclasses.field(default_factory=list)


@dataclass
class Link:
    label: str
    url: str | None = None


def _choices(
    portal: Portal, dataset: Dataset, column: Column, where: str | None, unit: Unit | None = None
) -> tuple[list[tuple[str, int]], bool] | None:
    """Values of a text column with their counts (of ``unit``) under the other filters, if
    few, and whether its cells hold several values ("a; b"), which are then offered one by
    one and counted as the column's chart counts them."""
    unit = unit or unit_of(dataset, None)
    params = {
        "$select": f"`{column.field_name}` AS value, {unit.count} AS n",
        "$group": f"`{column.field_name}`",
        "$order": "n DESC, value",
        "$limit": str(MAX_CHOICES + 1),
    }
    if where:
        params["$where"] = where
    result = run_query(portal.store, dataset, params, portal.settings)
    values = [(v, int(n)) for v, n in result.rows if v is not None]
    if len(values) > MAX_CHOICES:
        return None
    if column.separator is None and not any("; " in v for v, _ in values):
        return values, False
    if column.separator is not None:
        counted = count_values(portal.store, dataset, portal.settings, column, where, unit)
        return [(str(c.value), int(c.count)) for c in counted.values if c.value is not None], True
    items: dict[str, int] = {}
    for v, n in values:
        for item in v.split("; "):
            items[item] = items.get(item, 0) + n
    return sorted(items.items(), key=lambda kv: (-kv[1], kv[0])), True


def filter_controls(
    portal: Portal,
    dataset: Dataset,
    params: dict[str, str],
    filters: list[Filter],
    errors: dict[str, str],
    areas: list[str],
    unit: Unit | None = None,
) -> list[FilterControl]:
    """One control per filterable column, holding the values now in the URL."""

    def field_input(name: str, suffix: str, label: str, kind: str = "text") -> Input:
        param = name + suffix
        return Input(
            f"f-{name}{suffix.replace('__', '-')}",
            param,
            label,
            params.get(param, ""),
            kind,
            errors.get(param),
        )

    controls: list[FilterControl] = []
    for column in dataset.columns:
        name = column.field_name
        if name.endswith("_raw"):  # "(as recorded)" twins are for checking, not filtering
            continue
        if column.type is ColumnType.TEXT:
            # Whether a column gets a list or free-text boxes depends on the whole dataset,
            # so the form keeps its shape while filters change; the counts follow them.
            found = _choices(portal, dataset, column, None, unit)
            others = where_clause([f for f in filters if f.field != name])
            if found is not None and others:
                found = _choices(portal, dataset, column, others, unit) or found
            if found is None:
                inputs = [
                    field_input(name, "", "is exactly"),
                    field_input(name, "__contains", "contains"),
                ]
                controls.append(FilterControl(name, column.name, "group", inputs=inputs))
                continue
            values, multi = found
            select = field_input(name, "__has" if multi else "", column.name)
            if select.value and select.value not in {v for v, _ in values}:
                values = [*values, (select.value, 0)]
            choices = [Choice("", "Any", select.value == "")] + [
                Choice(v, f"{column.label(v)} ({n:,})", select.value == v) for v, n in values
            ]
            control = FilterControl(name, column.name, "select", select, choices)
            if not multi:
                control.exclude = field_input(name, "__not", f"{column.name} is not")
                control.exclude_choices = [Choice("", "Any", not control.exclude.value)] + [
                    Choice(v, f"{column.label(v)} ({n:,})", control.exclude.value == v)
                    for v, n in values
                ]
                control.any_of = field_input(name, "__in", f"{column.name} is one of")
                chosen = set(control.any_of.value.split(IN_SEPARATOR))
                control.any_of_choices = [
                    Choice(v, f"{column.label(v)} ({n:,})", v in chosen) for v, n in values
                ]
            controls.append(control)
        elif column.type in (ColumnType.NUMBER, ColumnType.FLOATING_TIMESTAMP):
            kind = "number" if column.type is ColumnType.NUMBER else "date"
            inputs = [
                field_input(name, "__min", "From", kind),
                field_input(name, "__max", "To", kind),
            ]
            controls.append(FilterControl(name, column.name, "group", inputs=inputs))
        elif column.type is ColumnType.POINT:
            near = field_input(name, "__near", "Within: latitude, longitude, metres")
            inputs = [near]
            if dataset.meta.address_field and dataset.column(dataset.meta.address_field):
                inputs.append(field_input(name, "__place", "Or near an address or intersection"))
            if areas:
                area = field_input(name, "__area", "Inside")
                choices = [Choice("", "Anywhere", area.value == "")] + [
                    Choice(a, a, area.value == a) for a in areas
                ]
                controls.append(
                    FilterControl(name, f"{column.name}: inside", "select", area, choices)
                )
            controls.append(FilterControl(name, column.name, "group", inputs=inputs))
        elif column.type is ColumnType.CHECKBOX:
            select = field_input(name, "", column.name)
            choices = [
                Choice("", "Any", select.value == ""),
                Choice("true", "Yes", select.value == "true"),
                Choice("false", "No", select.value == "false"),
            ]
            controls.append(FilterControl(name, column.name, "select", select, choices))
    return controls


def filter_keep(
    params: dict[str, str], filters: list[Filter], controls: list[FilterControl]
) -> list[tuple[str, str]]:
    """Hidden fields of the filter form: the version read, the order, the page size, the
    columns, and any filter in the address that no control shows (``street__not=…``), so
    applying the form keeps it."""
    shown = {i.param for c in controls for i in _inputs_of(c)}
    kept = [(k, params[k]) for k in ("version", "sort", "dir", "size", "columns") if params.get(k)]
    kept += [(k, v) for k, v in params.items() if k.startswith(VIEW_PREFIX) and v]
    return kept + [(f.param, f.value) for f in filters if f.param not in shown]


def _inputs_of(control: FilterControl) -> list[Input]:
    """Every form field of a control, so the form keeps what it does not show."""
    fields = [control.select] if control.select else list(control.inputs)
    return [f for f in [*fields, control.exclude, control.any_of] if f is not None]


def problem_links(problems: list[Problem], controls: list[FilterControl]) -> list[Link]:
    """Each problem, linked to its input when the form has one."""
    ids = {i.param: i.id for c in controls for i in _inputs_of(c)}
    return [Link(p.message, f"#{ids[p.param]}" if p.param in ids else None) for p in problems]
