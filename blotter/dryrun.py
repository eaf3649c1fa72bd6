"""What a file would change in a dataset, worked out before anything is published.

The rows a file would publish (cleaned, typed, privacy rules applied) are compared with the
rows served now: by the row identifier when the dataset has one, else row for row by every
value. A replace removes the served rows the file no longer has; adding rows removes none.
The report feeds the upload page's preview, ``dryRun=true`` on the upload API, and the
confirmation a replace needs when it would remove more than a fifth of the published rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from sqlglot import exp

from blotter.model import Column, ColumnType, Dataset
from blotter.schema import DATASET_TABLE, physical_names
from blotter.store.base import Store

SAMPLE_ROWS = 5
# A replace that would remove more than this share of the published rows must be confirmed.
CONFIRM_SHARE = 0.2

Row = dict[str, Any]


@dataclass
class ChangeReport:
    """Counts of what a publish would do, with a few rows of each kind."""

    mode: str
    rows: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    published: int = 0  # rows served now
    problems: list[dict[str, Any]] = field(default_factory=list)
    problem_total: int = 0
    privacy: dict[str, int] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)  # published, but worth a look
    samples: dict[str, list[Row]] = field(
        default_factory=lambda: {"added": [], "changed": [], "removed": []}
    )

    def needs_confirmation(self) -> bool:
        """A replace removing more than a fifth of the published rows."""
        return self.mode == "replace" and self.removed > self.published * CONFIRM_SHARE

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "rows": self.rows,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "published": self.published,
            "confirmationNeeded": self.needs_confirmation(),
            "problems": self.problems,
            "problemTotal": self.problem_total,
            "privacy": self.privacy,
            "warnings": self.warnings,
            "samples": self.samples,
        }

    def words(self) -> str:
        """The counts as the upload page says them."""
        parts = [
            f"{self.added:,} {_rows(self.added)} added",
            f"{self.changed:,} changed",
            f"{self.removed:,} removed",
            f"{self.unchanged:,} unchanged",
        ]
        return f"Publishing would leave {', '.join(parts)}."


def _rows(n: int) -> str:
    return "row" if n == 1 else "rows"


def records(columns: list[Column], batch: pa.RecordBatch) -> list[Row]:
    """A batch's rows as field → plain value (a point is its ``(lon, lat)``)."""
    out: list[Row] = [{} for _ in range(batch.num_rows)]
    for column in columns:
        names = physical_names(column)
        if not all(n in batch.schema.names for n in names):
            continue
        parts = [batch.column(n).to_pylist() for n in names]
        for i, row in enumerate(out):
            row[column.field_name] = _value(column, [p[i] for p in parts])
    return out


def _value(column: Column, parts: list[Any]) -> Any:
    if column.type is ColumnType.POINT:
        return None if parts[0] is None or parts[1] is None else (parts[0], parts[1])
    value = parts[0]
    return float(value) if isinstance(value, Decimal) else value


def served_rows(store: Store, dataset: Dataset) -> list[Row]:
    """Every row served now, as :func:`records` gives a file's."""
    if not dataset.version:
        return []
    names = [n for c in dataset.columns for n in physical_names(c)]
    select = exp.select(*(exp.column(n, quoted=True) for n in names)).from_(DATASET_TABLE)
    out: list[Row] = []
    for values in store.execute(dataset, select.order_by("_id")):
        row: Row = {}
        i = 0
        for column in dataset.columns:
            width = len(physical_names(column))
            row[column.field_name] = _value(column, list(values[i : i + width]))
            i += width
        out.append(row)
    return out


def compare(
    served: list[Row], incoming: list[Row], key: str | None, mode: str, report: ChangeReport
) -> ChangeReport:
    """Fill ``report``'s counts and samples from the served rows and the file's."""
    report.rows, report.published = len(incoming), len(served)
    if key is not None and all(key in r for r in incoming):
        _by_key(served, incoming, key, mode, report)
    else:
        _by_value(served, incoming, mode, report)
    return report


def _by_key(
    served: list[Row], incoming: list[Row], key: str, mode: str, report: ChangeReport
) -> None:
    old = {_same(r.get(key)): r for r in served}
    seen: set[Any] = set()
    for row in incoming:
        name = _same(row.get(key))
        seen.add(name)
        before = old.get(name)
        if before is None:
            report.added += 1
            _sample(report, "added", _shown(row))
            continue
        fields = {
            f: {"before": _shown_value(before.get(f)), "after": _shown_value(row.get(f))}
            for f in row
            if _same(before.get(f)) != _same(row.get(f))
        }
        if fields:
            report.changed += 1
            _sample(report, "changed", {"key": _shown_value(row.get(key)), "fields": fields})
        else:
            report.unchanged += 1
    if mode == "replace":
        gone = [r for n, r in old.items() if n not in seen]
        report.removed = len(gone)
        for row in gone[:SAMPLE_ROWS]:
            _sample(report, "removed", _shown(row))


def _by_value(served: list[Row], incoming: list[Row], mode: str, report: ChangeReport) -> None:
    """Without a row identifier: a row unchanged is one whose every value a served row has."""
    if mode != "replace":
        report.added = len(incoming)
        for row in incoming[:SAMPLE_ROWS]:
            _sample(report, "added", _shown(row))
        return
    fields = sorted({f for r in incoming for f in r})
    left = Counter(tuple(_same(r.get(f)) for f in fields) for r in served)
    for row in incoming:
        values = tuple(_same(row.get(f)) for f in fields)
        if left[values] > 0:
            left[values] -= 1
            report.unchanged += 1
        else:
            report.added += 1
            _sample(report, "added", _shown(row))
    for row in served:
        values = tuple(_same(row.get(f)) for f in fields)
        if left[values] > 0:
            left[values] -= 1
            report.removed += 1
            _sample(report, "removed", _shown(row))


def _sample(report: ChangeReport, kind: str, item: Row) -> None:
    if len(report.samples[kind]) < SAMPLE_ROWS:
        report.samples[kind].append(item)


def _same(value: object) -> object:
    """The form values are compared in: numbers to 9 places, times without a zone."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, tuple):
        return tuple(_same(v) for v in value)
    return value


def _shown(row: Row) -> Row:
    return {f: _shown_value(v) for f, v in row.items() if v is not None}


def _shown_value(value: object) -> object:
    """A value as JSON can carry it (times as ISO text, points as ``POINT (lon lat)``)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="milliseconds")
    if isinstance(value, tuple):
        return f"POINT ({value[0]} {value[1]})"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


__all__ = ["CONFIRM_SHARE", "ChangeReport", "compare", "records", "served_rows"]
