"""A dataset's quality checks run on the rows of a write, before its privacy rules change
them (an age of -4 is an error even where ages under 18 are withheld). A row a rule leaves
out (a juvenile's, by a drop rule) is checked for errors but gets no warning: the kept
report is public, and would name a row, and its values, that is never published.

Errors stop the write (``ValidationFailed``, every problem named by row, column and value);
warnings are counted and listed in the report the store keeps for the version.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from blotter.errors import ValidationFailed
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.quality import QualityProblem, QualityReport, QualityRules
from blotter.schema import DATASET_TABLE
from blotter.store.protect import left_out

MAX_LISTED = 1000
MAX_CATEGORY_VALUES = 200  # a column with more distinct values is not a category
AGE_RANGE = (0.0, 120.0)


def _is_age(field: str) -> bool:
    return field == "age" or field.endswith("_age")


class Checker:
    """Runs one dataset's checks over the rows of one write, batch by batch."""

    def __init__(
        self, meta: DatasetMeta, columns: list[Column], first_row: int, *, full_rows: bool
    ) -> None:
        self.rules: QualityRules = meta.quality
        self.privacy = meta.privacy
        self.all_columns = columns
        self.unpublished: set[int] = set()  # rows a privacy rule leaves out: no warnings
        self.key = meta.row_identifier
        self.columns = [c for c in columns if c.type is not ColumnType.POINT]
        self.first_row = first_row
        self.full_rows = full_rows  # False for upserts: a field not sent is not missing
        self.seen: set[Any] = set()
        self.rows = 0
        self.problems: list[QualityProblem] = []
        self.errors = 0
        self.warnings = 0
        self.per_check: Counter[str] = Counter()
        self.report: QualityReport | None = None  # set when every row passed
        self.today = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)

    def _note(self, problem: QualityProblem) -> None:
        if problem.level == "warning" and problem.row in self.unpublished:
            return  # the kept report is public: a row never published is never named
        self.per_check[problem.check] += 1
        if problem.level == "error":
            self.errors += 1
        else:
            self.warnings += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(problem)

    def check(self, batch: pa.RecordBatch, rows: list[int] | None = None) -> None:
        """Check one batch; ``rows`` are its rows' numbers (else counted from the first)."""
        numbers = rows or list(
            range(self.rows + self.first_row, self.rows + self.first_row + batch.num_rows)
        )
        self.rows += batch.num_rows
        self.unpublished = {numbers[p] for p in left_out(self.privacy, self.all_columns, batch)}
        names = set(batch.schema.names)
        for column in self.columns:
            if column.field_name not in names:
                continue
            array = batch.column(column.field_name)
            suspects = self._suspects(column, array)
            if suspects is None:
                self._column(column, array.to_pylist(), numbers)
            elif suspects:
                values = array.take(pa.array(suspects, pa.int64())).to_pylist()
                self._column(column, values, [numbers[p] for p in suspects])

    def _suspects(self, column: Column, array: pa.Array) -> list[int] | None:
        """The positions of the rows a check could fail on, found by Arrow (a superset, in
        order: ``_column`` then judges each exactly as for every row); None when every row
        must go through it (a repeated row identifier, a check on an unexpected type)."""
        field = column.field_name
        rules = self.rules
        kind = column.type
        low_high = rules.ranges.get(field)
        if low_high is None and kind is ColumnType.NUMBER and _is_age(field):
            low_high = AGE_RANGE
        categories = rules.categories.get(field)
        if (low_high is not None and kind is not ColumnType.NUMBER) or (
            categories is not None and kind is not ColumnType.TEXT
        ):
            return None
        present = pc.is_valid(array)
        maybe = pa.array([False] * len(array))
        if field == self.key:
            if low_high or categories or kind is ColumnType.FLOATING_TIMESTAMP:
                return None
            values = [v for v in array.to_pylist() if v is not None]
            fresh = set(values)
            if len(fresh) < len(values) or not self.seen.isdisjoint(fresh):
                return None  # a repeat: judged row by row, in order
            self.seen.update(fresh)
        if self.full_rows and (field in rules.required or field == self.key):
            maybe = pc.or_(maybe, pc.invert(present))
        if low_high is not None:
            inside = pc.and_(
                pc.greater_equal(array, low_high[0]), pc.less_equal(array, low_high[1])
            )
            maybe = pc.or_(maybe, pc.and_(present, pc.invert(pc.fill_null(inside, False))))
        if categories is not None:
            known = pc.is_in(array, pa.array(categories, pa.string()))
            maybe = pc.or_(maybe, pc.and_(present, pc.invert(known)))
        if kind is ColumnType.FLOATING_TIMESTAMP:
            maybe = pc.or_(maybe, self._odd_dates(field, array))
        positions: list[int] = pc.indices_nonzero(pc.fill_null(maybe, False)).to_pylist()
        return positions

    def _odd_dates(self, field: str, array: pa.Array) -> pa.Array:
        """Dates ``_date`` could note: from tomorrow on, or outside the covered period."""
        stamp = pa.timestamp("us")
        odd = pa.array([False] * len(array))
        if self.rules.future_dates:
            tomorrow = pa.scalar(self.today + timedelta(days=1), stamp)
            odd = pc.or_(odd, pc.greater_equal(array, tomorrow))
        coverage = self.rules.coverage
        if coverage is not None and coverage.column == field:
            if coverage.start:
                start = datetime.combine(coverage.start, datetime.min.time())
                odd = pc.or_(odd, pc.less(array, pa.scalar(start, stamp)))
            if coverage.end:
                after = datetime.combine(coverage.end, datetime.min.time()) + timedelta(days=1)
                odd = pc.or_(odd, pc.greater_equal(array, pa.scalar(after, stamp)))
        return pc.fill_null(odd, False)

    def _column(self, column: Column, values: list[Any], numbers: list[int]) -> None:
        field = column.field_name
        rules = self.rules
        low_high = rules.ranges.get(field)
        if low_high is None and column.type is ColumnType.NUMBER and _is_age(field):
            low_high = AGE_RANGE
        categories = rules.categories.get(field)
        coverage = rules.coverage if rules.coverage and rules.coverage.column == field else None
        for value, row in zip(values, numbers, strict=True):
            if value is None:
                if self.full_rows and (field in rules.required or field == self.key):
                    self._note(_problem(row, field, None, "is required but empty", "required"))
                continue
            if field == self.key:
                if value in self.seen:
                    reason = f"repeats the row identifier '{value}' of an earlier row"
                    self._note(_problem(row, field, value, reason, "duplicate_id"))
                self.seen.add(value)
            if low_high is not None and not low_high[0] <= value <= low_high[1]:
                reason = f"{value:g} is outside {low_high[0]:g}–{low_high[1]:g}"
                self._note(_problem(row, field, value, reason, "range"))
            if categories is not None and value not in categories:
                close = difflib.get_close_matches(str(value).lower(), categories, n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else f" ({', '.join(categories)})"
                reason = f"'{value}' is not one of the known values{hint}"
                self._note(_problem(row, field, value, reason, "category"))
            if isinstance(value, datetime):
                self._date(row, field, value, coverage)

    def _date(self, row: int, field: str, value: datetime, coverage: Any) -> None:
        if self.rules.future_dates and value >= self.today + timedelta(days=1):
            reason = f"{value:%Y-%m-%d} is in the future"
            self._note(_problem(row, field, value, reason, "future_date", self.rules.future_dates))
        if coverage is not None:
            day = value.date()
            if (coverage.start and day < coverage.start) or (coverage.end and day > coverage.end):
                span = f"{coverage.start or '…'} to {coverage.end or '…'}"
                reason = f"{day} is outside the period the dataset covers ({span})"
                self._note(_problem(row, field, value, reason, "coverage", "warning"))

    def listed(self) -> list[dict[str, Any]]:
        """The problems noted, in row order (each check runs a column at a time)."""
        out = [p.as_dict() for p in sorted(self.problems, key=lambda p: p.row)]
        for entry in out:
            entry["value"] = _shown(entry["value"])
        return out

    def merged(self, err: ValidationFailed, source: str) -> ValidationFailed:
        """The cleaning's problems and this write's checks as one refusal."""
        listed = sorted([*err.problems, *self.listed()], key=lambda p: p["row"])[:MAX_LISTED]
        total = err.total + self.errors
        return ValidationFailed(
            f"{total} problem{'s' if total != 1 else ''} in {source or 'the rows'}"
            f"{'' if total + self.warnings <= len(listed) else ' (the first are listed)'}; "
            "nothing was published.",
            listed,
            total=total,
        )

    def finish(self, source: str) -> QualityReport:
        """Raise ValidationFailed if any check failed as an error (its warnings listed too,
        so every problem of the file is named at once); else the report so far."""
        if self.errors:
            listed = self.listed()
            more = "" if len(listed) >= self.errors + self.warnings else " (the first are listed)"
            raise ValidationFailed(
                f"{self.errors} problem{'s' if self.errors != 1 else ''} in "
                f"{source or 'the rows'}{more}; nothing was published.",
                listed,
                total=self.errors,
            )
        warnings = [p for p in self.listed() if p["level"] == "warning"][:100]
        self.report = QualityReport(
            rows=self.rows,
            warnings=warnings,
            warning_total=self.warnings,
            rows_per_check=dict(self.per_check),
        )
        return self.report


def checked(
    checker: Checker, batches: Iterable[pa.RecordBatch], source: str
) -> Iterator[pa.RecordBatch]:
    """The batches, each checked as it passes; errors raise after the last one, so the
    store's write is abandoned and nothing changes."""
    try:
        for batch in batches:
            checker.check(batch)
            yield batch
    except ValidationFailed as err:
        # The file's own problems (cells that would not clean) and the checks', in row order.
        raise checker.merged(err, source) from None
    checker.finish(source)


def check_staged(checker: Checker, staged: pa.Table, first_row: int) -> None:
    """Check the rows of an upsert (not those it deletes); raises on errors."""
    keep = pc.invert(staged.column("__delete"))
    rows = staged.filter(keep)
    numbers = [s + first_row - 1 for s in rows.column("__seq").to_pylist()]
    for batch in rows.to_batches() or []:
        checker.check(batch, numbers[: batch.num_rows])
        numbers = numbers[batch.num_rows :]


def category_fields(meta: DatasetMeta, columns: list[Column]) -> list[str]:
    """Text columns whose new values a report lists: declared categories and dashboard ones."""
    text = {c.field_name for c in columns if c.type is ColumnType.TEXT}
    wanted = [*meta.quality.categories, *meta.dashboard, *meta.highlights]
    return [f for f in dict.fromkeys(wanted) if f in text]


def distinct_values(execute: Any, dataset: Dataset, fields: list[str]) -> dict[str, set[str]]:
    """Each field's distinct values in the served version (None past MAX_CATEGORY_VALUES)."""
    out: dict[str, set[str]] = {}
    if not dataset.version:
        return {f: set() for f in fields}
    for field in fields:
        column = exp.column(field, quoted=True)
        select = (
            exp.select(column)
            .distinct()
            .from_(DATASET_TABLE)
            .where(exp.Not(this=exp.Is(this=column, expression=exp.Null())))
            .limit(MAX_CATEGORY_VALUES + 1)
        )
        values = {str(r[0]) for r in execute(dataset, select)}
        if len(values) <= MAX_CATEGORY_VALUES:
            out[field] = values
    return out


def completeness(execute: Any, dataset: Dataset) -> tuple[int, dict[str, float]]:
    """The served version's row count and each column's share of rows with a value."""
    counted = [
        exp.Count(
            this=exp.column(
                c.field_name if c.type is not ColumnType.POINT else f"_{c.field_name}_lat",
                quoted=True,
            )
        )
        for c in dataset.columns
    ]
    select = exp.select(exp.Count(this=exp.Star()), *counted).from_(DATASET_TABLE)
    total, *present = next(iter(execute(dataset, select)))
    shares = {
        c.field_name: round(n / total, 4) if total else 0.0
        for c, n in zip(dataset.columns, present, strict=True)
    }
    return int(total), shares


def _problem(
    row: int, field: str, value: Any, reason: str, check: str, level: str = "error"
) -> QualityProblem:
    return QualityProblem(
        row=row,
        column=field,
        value=value,
        reason=reason,
        check=check,
        level=level,
    )


def _shown(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep="T")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


__all__ = [
    "Checker",
    "category_fields",
    "check_staged",
    "checked",
    "completeness",
    "distinct_values",
]
