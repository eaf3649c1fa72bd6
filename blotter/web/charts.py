"""Patterns in the current view: counts by a column (bars), counts over time (lines, split
by a second column if asked) and a cross-tab of two columns.

Each chart is a Vega-Lite spec built with Altair and rendered to SVG on the server by
vl-convert, so it shows with no JavaScript; beside it go a sentence describing it and its data
as a table, one click away. Every number comes from a SoQL query under the page's filter.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, cached_property
from typing import Any

from markupsafe import Markup

from blotter.analysis.counts import Counts, count_values
from blotter.analysis.summary import period_covered
from blotter.analysis.trends import counts_by_period
from blotter.analysis.units import Unit, list_match, unit_of
from blotter.model import Column, ColumnType, Dataset
from blotter.portal import Portal
from blotter.queries import and_where, run_query
from blotter.web.chart_drawing import Drawing, rows_data, tooltips, unchecked_altair
from blotter.web.rendering import display

# Altair and vl-convert (with pandas behind Altair) are imported where a chart is drawn, not
# here: an API-only process or the command line never pays their memory and start-up time.

TOP_VALUES = 12  # bars shown; the rest are summed as "all others"
TOP_SPLITS = 5  # lines shown when splitting
PERIODS = {"month": "Month", "quarter": "Quarter", "year": "Year"}
_EMPTY = "(not recorded)"
_OTHERS = "all others"
# Colours that keep 3:1 contrast on white for marks (WCAG 1.4.11), told apart by shape too.
_PALETTE = ["#0b5cad", "#b3261e", "#1e7b34", "#7a4fb3", "#8a5a00", "#4a5360"]


@dataclass
class Chart:
    id: str
    title: str
    description: str
    drawing: Drawing
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)  # per column: right-align
    spec: str = ""  # the Vega-Lite JSON, for the interactive version when JavaScript runs
    # Where the page shows it: the chart as files, and an <img> snippet to embed it elsewhere.
    svg_url: str = ""
    png_url: str = ""
    embed: str = ""
    # Shown as images of its drawings (``wide_url``, ``phone_url``), loaded by the browser
    # after the page, instead of drawn into it: set on every chart but a page's key one.
    lazy: bool = False
    wide_url: str = ""
    phone_url: str = ""

    @cached_property
    def svg(self) -> Markup:
        """The wide drawing, drawn when first shown (a lazy chart's page never asks)."""
        return self.drawing.wide()

    @cached_property
    def svg_narrow(self) -> Markup:
        """The same chart drawn for a phone's width (narrower plot, larger text), shown
        instead of ``svg`` on small screens, so no label is scaled below 11 px; "": the
        wide one only."""
        return self.drawing.phone()


@cache
def vega_etag() -> str:
    """The bundle's version names it, so browsers may keep it as long as vl-convert stays."""
    import vl_convert

    return f'"vega-{vl_convert.get_vega_embed_version()}-{vl_convert.get_vega_version()}"'


@cache
def vega_javascript() -> str:
    """The Vega libraries bundled by vl-convert (about 900 KB), built once per process."""
    import vl_convert

    return vl_convert.javascript_bundle(
        "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"
    )


def spec_json(drawing: Drawing) -> str:
    """The chart's spec as JSON safe inside a <script type="application/json"> element: no
    ``<`` at all, written as its JSON escape. Escaping ``</`` alone was not enough: a value
    holding ``<!--<script>`` puts the HTML parser where the element's own ``</script>`` no
    longer ends it, and the page after it (its table, its downloads) became script text."""
    text = json.dumps(drawing.data)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _values(
    portal: Portal, dataset: Dataset, where: str | None, select: str, group: str, **extra: str
) -> list[tuple[Any, ...]]:
    params = {"$select": select, "$group": group, **extra}
    if where:
        params["$where"] = where
    return list(run_query(portal.store, dataset, params, portal.settings).rows)


def _label(column: Column, value: object) -> str:
    if value is None:
        return _EMPTY
    return column.label(value) if isinstance(value, str) else display(column.type, value)


def count_by(
    portal: Portal,
    dataset: Dataset,
    where: str | None,
    column: Column,
    measure: Column | None = None,
    unit: Unit | None = None,
) -> Chart:
    """Units counted (incidents by default), or the sum of ``measure`` (e.g. officer hours),
    per value of one column, largest first (:mod:`blotter.analysis.counts`): a list column
    counts each of its values once per unit; shares leave out unrecorded and unknown values,
    shown apart."""
    import altair as alt

    counts = count_values(portal.store, dataset, portal.settings, column, where, unit, measure)
    noun = measure.name if measure else counts.unit.title
    counted = [(c.label, c.count, c.unknown) for c in counts.values]
    shown = counted[:TOP_VALUES]
    rest = sum(n for _, n, _ in counted[TOP_VALUES:])
    if rest:
        shown.append((f"{_OTHERS} ({len(counted) - TOP_VALUES})", rest, False))
    total = counts.known
    title = f"{noun} by {column.name.lower()}"
    rows = [{"value": v, "n": n} for v, n, _ in shown]
    spec = (
        alt.Chart(rows_data(), title=title, width=320)
        .mark_bar(color=_PALETTE[0])
        .encode(
            y=alt.Y("value:N", sort=None, title=column.name, axis=alt.Axis(labelLimit=180)),
            x=alt.X("n:Q", title=noun),
            tooltip=tooltips("value:N", "n:Q"),
        )
    )
    known = [(v, n) for v, n, unknown in shown if not unknown]
    if known and total:
        top, top_n = known[0]
        description = (
            f"{total:,.0f} {noun.lower()} with a known {column.name.lower()}. "
            f"The largest group is {top} with {top_n:,.0f} ({100 * top_n / total:.0f}%)."
        )
        description += _left_out(counts, noun.lower(), several=_several(counts, measure))
    else:
        description = "No rows match, so there is nothing to count."
    drawing = Drawing(spec, title, rows=rows)
    return Chart(
        id=f"by-{column.field_name}" + (f"-{measure.field_name}" if measure else ""),
        title=title,
        description=description,
        drawing=drawing,
        spec=spec_json(drawing),
        headers=[column.name, noun, "Share"],
        rows=[
            [v, f"{n:,.0f}", "left out" if unknown else _percent(n, total)]
            for v, n, unknown in shown
        ],
        numeric=[False, True, True],
    )


def _several(counts: Counts, measure: Column | None) -> bool:
    """Whether one unit can count under several values: a list column, or units counted by
    a key (an incident) whose rows (officer–subject pairs) hold different values."""
    return counts.column.separator is not None or (measure is None and counts.unit.key is not None)


def _left_out(counts: Counts, noun: str, *, several: bool) -> str:
    """The caption's words on values left out of the shares. When ``several``, one unit's
    bars overlap (a recorded value and an unrecorded one alike), so a number is only ever
    one bar's own: a sum would count a unit twice."""
    left_out = [c.count for c in counts.values if c.unknown]
    apart = "with it unknown or not recorded are shown apart and left out of the shares."
    text = ""
    if len(left_out) == 1 or (left_out and not several):
        text = f" {sum(left_out):,.0f} {noun} {apart}"
    elif left_out:
        text = f" The {noun} {apart}"
    if several:
        text += f" One of the {noun} with several values counts under each."
    return text


def _percent(n: float, total: float) -> str:
    return f"{100 * n / total:.1f}%" if total else "–"


def _period_start(value: datetime, period: str) -> datetime:
    if period == "year":
        return datetime(value.year, 1, 1)
    if period == "quarter":
        return datetime(value.year, 3 * ((value.month - 1) // 3) + 1, 1)
    return datetime(value.year, value.month, 1)


def _period_label(value: datetime, period: str) -> str:
    if period == "year":
        return f"{value.year}"
    if period == "quarter":
        return f"{value.year} Q{(value.month - 1) // 3 + 1}"
    return value.strftime("%Y-%m")


def _whole_quarters(
    portal: Portal,
    dataset: Dataset,
    where: str | None,
    when: Column,
    split: Column,
    unit: Unit,
    by_month: list[tuple[Any, str | None, int]],
) -> list[tuple[Any, str | None, int]]:
    """Each quarter's units per value of ``split`` counted whole: summed months would count
    an incident spanning two months of a quarter twice."""
    name, s = f"`{when.field_name}`", f"`{split.field_name}`"
    starts = sorted({_period_start(p, "quarter") for p, _, _ in by_month if p is not None})
    keyed: list[tuple[Any, str | None, int]] = []
    for start in starts:
        stop = datetime(start.year + (start.month == 10), (start.month + 2) % 12 + 1, 1)
        # Dates we computed, never user text: safe to write into the SoQL as literals.
        within = f"{name} >= '{start.isoformat()}' AND {name} < '{stop.isoformat()}'"
        rows = _values(
            portal, dataset, and_where(where, within), f"{s} AS split, {unit.count} AS n", s
        )
        keyed += [(start, _label(split, v), int(n or 0)) for v, n in rows]
    return keyed


def over_time(
    portal: Portal,
    dataset: Dataset,
    where: str | None,
    when: Column,
    period: str,
    split: Column | None,
    measure: Column | None = None,
    unit: Unit | None = None,
) -> Chart:
    """Units counted (or the sum of ``measure``) per month, quarter or year, every period
    of the range with zero where nothing happened; one line per value of ``split`` (the
    most common). The range is the dataset's period, or the filtered rows' span."""
    import altair as alt

    unchecked_altair()  # before the encoding's objects are built

    counted_unit = unit or unit_of(dataset, None)
    amount = f"sum(`{measure.field_name}`)" if measure else counted_unit.count
    unit_name = measure.name if measure else counted_unit.title
    trunc = (
        f"date_trunc_ym(`{when.field_name}`)"
        if period != "year"
        else (f"date_trunc_y(`{when.field_name}`)")
    )
    keyed: list[tuple[Any, str | None, int]]
    if split is None and measure is None and counted_unit.key and period == "quarter":
        # Summed months would count an incident spanning two months of a quarter twice.
        by_quarter, _ = counts_by_period(
            portal.store, dataset, portal.settings, period, where, counted_unit
        )
        keyed = [
            (datetime(int(k[:4]), 3 * int(k[-1]) - 2, 1), None, n) for k, n in by_quarter.items()
        ]
    elif split is None:
        raw = _values(portal, dataset, where, f"{trunc} AS period, {amount} AS n", trunc)
        keyed = [(p, None, round(float(n or 0))) for p, n in raw]
    else:
        s = f"`{split.field_name}`"
        raw = _values(
            portal,
            dataset,
            where,
            f"{trunc} AS period, {s} AS split, {amount} AS n",
            f"{trunc}, {s}",
        )
        keyed = [(p, _label(split, v), round(float(n or 0))) for p, v, n in raw]
        if counted_unit.key and measure is None and period == "quarter":
            keyed = _whole_quarters(portal, dataset, where, when, split, counted_unit, keyed)
    totals: dict[str, int] = defaultdict(int)
    for _, key, n in keyed:
        totals[key or ""] += n
    kept = {k for k, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:TOP_SPLITS]}
    counts: dict[tuple[datetime, str], int] = defaultdict(int)
    for start, key, n in keyed:
        if start is None:
            continue
        series = (key if key in kept else _OTHERS) if split is not None else unit_name
        counts[(_period_start(start, period), series or "")] += n
    periods = _every_period(portal, dataset, where, period, {p for p, _ in counts})
    series_names = sorted({s for _, s in counts}, key=lambda s: (s == _OTHERS, -totals.get(s, 0)))
    if not series_names and periods:
        series_names = [unit_name]
    # Every period of every series, zeros included, so lines never skip an empty month.
    points: list[dict[str, Any]] = [
        {"period": _period_label(p, period), "series": s, "n": counts.get((p, s), 0)}
        for p in periods
        for s in series_names
    ]
    title = f"{unit_name} by {PERIODS[period].lower()}" + (
        f" and {split.name.lower()}" if split else ""
    )
    encoding: dict[str, Any] = {
        "x": alt.X("period:O", title=PERIODS[period], axis=alt.Axis(labelAngle=-45)),
        "y": alt.Y("n:Q", title=unit_name),
        "tooltip": tooltips("period:O", "series:N", "n:Q"),
    }
    if split is not None:
        # One legend showing colour and shape together: same field, title and domain.
        encoding["color"] = alt.Color(
            "series:N",
            title=split.name,
            scale=alt.Scale(domain=series_names, range=_PALETTE),
        )
        encoding["shape"] = alt.Shape(
            "series:N", title=split.name, scale=alt.Scale(domain=series_names)
        )
    spec = (
        alt.Chart(rows_data(), title=title, width=min(640, 80 + 36 * len(periods)))
        .mark_line(point=True, color=_PALETTE[0])
        .encode(**encoding)
    )
    by_period: dict[str, dict[str, int]] = defaultdict(dict)
    for point in points:
        by_period[point["period"]][point["series"]] = point["n"]
    description = _trend_words(by_period, period)
    description = description.replace(" rows", f" {unit_name.lower()}")
    drawing = Drawing(spec, title, phone_width=240, rows=points)
    return Chart(
        id=f"time-{when.field_name}" + (f"-{measure.field_name}" if measure else ""),
        title=title,
        description=description,
        drawing=drawing,
        spec=spec_json(drawing),
        headers=[PERIODS[period], *series_names],
        rows=[[p, *(f"{v.get(s, 0):,}" for s in series_names)] for p, v in by_period.items()],
        numeric=[False, *([True] * len(series_names))],
    )


def _every_period(
    portal: Portal, dataset: Dataset, where: str | None, period: str, seen: set[datetime]
) -> list[datetime]:
    """Every period from the first to the last, those without rows included: the dataset's
    declared period when the view is not filtered, else the span of the periods found."""
    bounds = list(seen)
    if where is None and dataset.meta.coverage is not None:
        first, last = period_covered(portal.store, dataset, portal.settings)
        bounds += [_period_start(d, period) for d in (first, last) if d is not None]
    if not bounds:
        return []
    current, last_start = min(bounds), max(bounds)
    periods = []
    while current <= last_start:
        periods.append(current)
        step = {"year": 12, "quarter": 3}.get(period, 1)
        month = current.month - 1 + step
        current = datetime(current.year + month // 12, month % 12 + 1, 1)
    return periods


def _trend_words(by_period: dict[str, dict[str, int]], period: str) -> str:
    if not by_period:
        return "No dated rows match, so there is nothing to show over time."
    totals = {p: sum(v.values()) for p, v in by_period.items()}
    peak = max(totals, key=lambda p: totals[p])
    first, last = next(iter(totals)), list(totals)[-1]
    return (
        f"{len(totals)} {period}s from {first} to {last}. The busiest {period} was {peak} with "
        f"{totals[peak]:,} rows; the first had {totals[first]:,} and the last {totals[last]:,}."
    )


def _pair_counts(
    portal: Portal, dataset: Dataset, where: str | None, down: Column, across: Column, unit: Unit
) -> list[tuple[Any, Any, Any]]:
    """Units per pair of values. A list column's cell holds several values: each of them
    counts the unit once, as its bar chart and its "includes" filter do, never the cell's
    combination as a value of its own."""
    d, a = f"`{down.field_name}`", f"`{across.field_name}`"
    if down.separator is None and across.separator is None:
        return _values(
            portal, dataset, where, f"{d} AS d, {a} AS a, {unit.count} AS n", f"{d}, {a}"
        )
    listed, other = (down, across) if down.separator is not None else (across, down)
    values = count_values(portal.store, dataset, portal.settings, listed, where, unit).values
    o = f"`{other.field_name}`"
    out: list[tuple[Any, Any, Any]] = []
    for value in (v.value for v in values):
        within = (
            list_match(listed, str(value))
            if value is not None
            else f"`{listed.field_name}` IS NULL"
        )
        if other.separator is not None:  # both lists: each pair of values, units counted whole
            inner = count_values(
                portal.store, dataset, portal.settings, other, and_where(where, within), unit
            ).values
            pairs = [(value, v.value, v.count) for v in inner]
        else:
            rows = _values(
                portal, dataset, and_where(where, within), f"{o} AS o, {unit.count} AS n", o
            )
            pairs = [(value, ov, n) for ov, n in rows]
        out += [(lv, ov, n) if listed is down else (ov, lv, n) for lv, ov, n in pairs]
    return out


def crosstab(
    portal: Portal,
    dataset: Dataset,
    where: str | None,
    down: Column,
    across: Column,
    unit: Unit | None = None,
) -> Chart:
    """Units counted for each pair of values of two columns (the most common values)."""
    import altair as alt

    unit = unit or unit_of(dataset, None)
    raw = _pair_counts(portal, dataset, where, down, across, unit)
    cells: dict[tuple[str, str], int] = defaultdict(int)
    down_totals: dict[str, int] = defaultdict(int)
    across_totals: dict[str, int] = defaultdict(int)
    for dv, av, n in raw:
        key = (_label(down, dv), _label(across, av))
        cells[key] += int(n)
        down_totals[key[0]] += int(n)
        across_totals[key[1]] += int(n)
    downs = [k for k, _ in sorted(down_totals.items(), key=lambda kv: -kv[1])][:TOP_VALUES]
    acrosses = [k for k, _ in sorted(across_totals.items(), key=lambda kv: -kv[1])][:8]
    title = f"{down.name} by {across.name.lower()}"
    points = [{"d": x, "a": y, "n": cells.get((x, y), 0)} for x in downs for y in acrosses]
    spec = (
        alt.Chart(
            rows_data(),
            title=title,
            width=min(480, 70 * len(acrosses)),
            height=28 * len(downs),
        )
        .mark_rect()
        .encode(
            y=alt.Y("d:N", title=down.name, sort=downs),
            x=alt.X("a:N", title=across.name, sort=acrosses),
            color=alt.Color("n:Q", title=unit.title, scale=alt.Scale(scheme="blues")),
            tooltip=tooltips("d:N", "a:N", "n:Q"),
        )
    )
    total = sum(cells.values())
    biggest = max(cells, key=lambda k: cells[k]) if cells else None
    description = (
        f"{total:,} {unit.noun} across {len(down_totals)} values of {down.name.lower()} and "
        f"{len(across_totals)} of {across.name.lower()}. The largest group is "
        f"{biggest[0]} with {biggest[1]}: {cells[biggest]:,} {unit.noun}."
        if biggest
        else "No rows match, so there is nothing to cross."
    )
    drawing = Drawing(spec, title, rows=points)
    return Chart(
        id=f"cross-{down.field_name}-{across.field_name}",
        title=title,
        description=description,
        drawing=drawing,
        spec=spec_json(drawing),
        headers=[f"{down.name} \\ {across.name}", *acrosses, "Total"],
        rows=[
            [x, *(f"{cells.get((x, y), 0):,}" for y in acrosses), f"{down_totals[x]:,}"]
            for x in downs
        ],
        numeric=[False, *([True] * (len(acrosses) + 1))],
    )


def chartable(dataset: Dataset) -> list[Column]:
    """Columns worth counting by: categories (text, checkbox), not free text or raw twins."""
    return [
        c
        for c in dataset.columns
        if c.type in (ColumnType.TEXT, ColumnType.CHECKBOX) and not c.name.endswith("(as recorded)")
    ]
