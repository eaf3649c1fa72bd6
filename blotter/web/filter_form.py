"""The dataset page's filter form: one control per filterable column, holding the values
now in the address, with each category's values counted under the other filters."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from blotter.analysis.units import Unit, list_match, unit_of
from blotter.model import Column, ColumnType, Dataset
from blotter.portal import Portal
from blotter.queries import all_of, kept_together, run_together, values_at_least
from blotter.web.filters import IN_SEPARATOR, VIEW_PREFIX, Filter, Problem, where_clause
from blotter.web.places import place_param

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


Counted = tuple[list[tuple[str, int]], bool] | None


def _grouped(column: Column, unit: Unit, where: str | None) -> dict[str, str]:
    params = {
        "$select": f"`{column.field_name}` AS value, {unit.count} AS n",
        "$group": f"`{column.field_name}`",
        "$order": "n DESC, value",
        "$limit": str(MAX_CHOICES + 2),  # one more than shown, and the empty value
    }
    if where:
        params["$where"] = where
    return params


def _item(column: Column, unit: Unit, item: str, where: str | None) -> dict[str, str]:
    """The units whose cells of a list column include ``item`` (as its chart counts them)."""
    quoted = "'" + item.replace("'", "''") + "'"
    return {
        "$select": f"{quoted} AS value, {unit.count} AS n",
        "$where": all_of(where, list_match(column, item)) or "",
    }


def _values(rows: Sequence[tuple[Any, ...]]) -> list[tuple[str, int]]:
    return [(str(v), int(n or 0)) for v, n in rows if v is not None]


def _columns(portal: Portal, dataset: Dataset) -> tuple[list[Column], list[Column]]:
    """The form's text columns, and those of them that may get a list: a column seen with
    more values than a list shows, in a few thousand rows (:func:`values_at_least`), is not
    grouped in full to learn it (exactly as the grouped count would: None)."""
    texts = [
        c
        for c in dataset.columns
        if c.type is ColumnType.TEXT and not c.field_name.endswith("_raw")
    ]
    least = values_at_least(portal.store, dataset, portal.settings)
    return texts, [c for c in texts if least[c.field_name] <= MAX_CHOICES]


Plan = list[tuple[Column, int, int, bool]]  # column, first branch, branches, multi


def _counting(
    listed: list[Column],
    shapes: Sequence[Sequence[tuple[Any, ...]]],
    filters: list[Filter],
    unit: Unit,
) -> tuple[dict[str, Counted], list[dict[str, str]], Plan]:
    """From each listed column's values in the version (``shapes``): its choices as far
    as known, and the questions that count them under the filters on the other columns."""
    found: dict[str, Counted] = {}
    questions: list[dict[str, str]] = []
    plan: Plan = []
    for column, rows in zip(listed, shapes, strict=True):
        values = _values(rows)
        if len(values) > MAX_CHOICES:
            found[column.field_name] = None
            continue
        multi = column.separator is not None or any("; " in v for v, _ in values)
        others = where_clause([f for f in filters if f.field != column.field_name])
        found[column.field_name] = values, multi
        if column.separator is not None:
            frequency: dict[str, int] = {}
            for cell, n in values:
                for item in column.values_of(cell):
                    frequency[item] = frequency.get(item, 0) + n
            items = sorted(frequency, key=lambda v: (-frequency[v], v))[:MAX_CHOICES]
            plan.append((column, len(questions), len(items), True))
            questions += [_item(column, unit, item, others) for item in items]
        elif others:
            plan.append((column, len(questions), 1, multi))
            questions.append(_grouped(column, unit, others))
    return found, questions, plan


def choice_questions(
    portal: Portal, dataset: Dataset, filters: list[Filter], unit: Unit | None = None
) -> list[dict[str, str]]:
    """The questions :func:`counted_choices` asks next, as far as known without a query:
    each listed column's values in the version (its shape) until they are kept with it,
    then the counts under the filters; so a page can ask them ahead together with its
    other questions of that shape (``queries.ask_ahead``)."""
    unit = unit or unit_of(dataset, None)
    _, listed = _columns(portal, dataset)
    shaping = [_grouped(c, unit, None) for c in listed]
    shapes = kept_together(portal.store, dataset, shaping, portal.settings)
    if shapes is None:
        return shaping
    return _counting(listed, shapes, filters, unit)[1]


def counted_choices(
    portal: Portal, dataset: Dataset, filters: list[Filter], unit: Unit | None = None
) -> dict[str, Counted]:
    """Each text column's values with their counts (of ``unit``) under the filters on the
    other columns, if few (None if more than ``MAX_CHOICES``), and whether its cells hold
    several values ("a; b"), which are then offered and counted one by one, as the column's
    chart counts them.

    Three engine queries whatever the columns: which columns hold more values than a list
    shows, seen in a few thousand rows (:func:`values_at_least`), then the version's values
    of every other column, unfiltered (which decides each control's shape, so the form keeps
    it while filters change; both kept with the version's answers), then every count under
    the filters, one branch per column (and per value of a list column) of one ``UNION ALL``
    (:func:`run_together`); none of those a page asked ahead (:func:`choice_questions`)."""
    unit = unit or unit_of(dataset, None)
    store, settings = portal.store, portal.settings
    texts, listed = _columns(portal, dataset)
    shapes = run_together(store, dataset, [_grouped(c, unit, None) for c in listed], settings)
    counts, questions, plan = _counting(listed, shapes, filters, unit)
    found: dict[str, Counted] = {c.field_name: counts.get(c.field_name) for c in texts}
    answered = run_together(store, dataset, questions, settings)
    for column, first, count, multi in plan:
        counted = _values([row for rows in answered[first : first + count] for row in rows])
        if column.separator is not None:
            counted = [(v, n) for v, n in counted if n]
            counted.sort(key=lambda vn: -vn[1])  # stable: ties keep the values' order
        found[column.field_name] = (counted, multi)
    for column in texts:
        choice = found[column.field_name]
        if choice is not None and choice[1] and column.separator is None:
            # "a; b" cells without a declared separator: each value's rows summed.
            split: dict[str, int] = {}
            for v, n in choice[0]:
                for item in v.split("; "):
                    split[item] = split.get(item, 0) + n
            found[column.field_name] = sorted(split.items(), key=lambda kv: (-kv[1], kv[0])), True
    return found


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

    counted = counted_choices(portal, dataset, filters, unit)
    controls: list[FilterControl] = []
    for column in dataset.columns:
        name = column.field_name
        if name.endswith("_raw"):  # "(as recorded)" twins are for checking, not filtering
            continue
        if column.type is ColumnType.TEXT:
            # Whether a column gets a list or free-text boxes depends on the whole dataset,
            # so the form keeps its shape while filters change; the counts follow them.
            found = counted[name]
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
            if place_param(dataset, portal.settings):
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
