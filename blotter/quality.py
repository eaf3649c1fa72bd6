"""A dataset's data-quality checks: what makes a row wrong (an error stops the publish) or
worth a look (a warning, published and listed), declared in its dataset file.

The store runs them on every write (``store/quality.py``) and keeps each publish's report.
Defaults hold without any declaration: a row identifier repeated in one write is an error,
a date in the future a warning, an age outside 0–120 an error.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["error", "warning"]


class Coverage(BaseModel):
    """The period a dataset covers: dates outside it are warnings."""

    model_config = ConfigDict(extra="forbid")

    column: str
    start: date | None = None
    end: date | None = None


class QualityRules(BaseModel):
    """The checks of one dataset (field names), beside the defaults."""

    model_config = ConfigDict(extra="forbid")

    required: list[str] = Field(default_factory=list)  # empty is an error
    # Number ranges, [low, high] inclusive; an age column defaults to [0, 120].
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)
    # Cleaned category columns: any other value is an error, with the closest suggested.
    categories: dict[str, list[str]] = Field(default_factory=dict)
    coverage: Coverage | None = None
    future_dates: Level | None = "warning"  # None: dates after today are fine

    def fields(self) -> dict[str, str]:
        """Each field a check names, with the check naming it."""
        out = {f: "required" for f in self.required}
        out |= {f: "ranges" for f in self.ranges}
        out |= {f: "categories" for f in self.categories}
        if self.coverage:
            out[self.coverage.column] = "coverage"
        return out


class QualityProblem(BaseModel):
    """One check failed by one row: where, what, and how bad."""

    row: int
    column: str
    value: Any = None
    reason: str
    check: str  # duplicate_id, required, range, category, future_date, coverage
    level: Level

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "reason": self.reason,
            "check": self.check,
            "level": self.level,
        }


class QualityReport(BaseModel):
    """What one publish's checks found, kept with the dataset."""

    version: int = 0
    rows: int = 0
    errors: int = 0
    warnings: list[dict[str, Any]] = Field(default_factory=list)  # the first listed
    warning_total: int = 0
    rows_per_check: dict[str, int] = Field(default_factory=dict)
    completeness: dict[str, float] = Field(default_factory=dict)  # share of rows with a value
    new_categories: dict[str, list[str]] = Field(default_factory=dict)

    def summary(self) -> list[str]:
        """The report in plain words, for the dataset page."""
        out = [f"Version {self.version} ({self.rows:,} rows): its rows were checked as published."]
        if not self.warning_total:
            out.append("No warnings.")
        for check, count in sorted(self.rows_per_check.items()):
            out.append(f"{count:,} {'row' if count == 1 else 'rows'}: {_CHECK_WORDS[check]}.")
        for field, values in sorted(self.new_categories.items()):
            shown = ", ".join(f"'{v}'" for v in values[:10])
            out.append(f"New values in '{field}': {shown}.")
        return out


_CHECK_WORDS = {
    "duplicate_id": "repeated row identifier",
    "required": "a required field empty",
    "range": "a number outside its range",
    "category": "a value outside the known categories",
    "future_date": "a date in the future",
    "coverage": "a date outside the period the dataset covers",
}


def visible(report: dict[str, Any], fields: set[str], hidden: set[str]) -> dict[str, Any]:
    """A kept report about ``fields`` only (a public viewer's dataset has no internal
    columns), without warnings about fields a privacy rule protects (``hidden``)."""
    return {
        **report,
        "completeness": {f: v for f, v in report.get("completeness", {}).items() if f in fields},
        "new_categories": {
            f: v for f, v in report.get("new_categories", {}).items() if f in fields
        },
        "warnings": [
            w
            for w in report.get("warnings", [])
            if w.get("column") in fields and w.get("column") not in hidden
        ],
    }


def check_problems(rules: QualityRules, types: dict[str, str]) -> list[str]:
    """What is wrong with ``rules`` for columns of these types (field → type name)."""
    problems = [
        f"quality check '{where}' names '{field}', which is not a column"
        for field, where in rules.fields().items()
        if field not in types
    ]
    for field in rules.ranges:
        if field in types and types[field] != "number":
            problems.append(f"quality range on '{field}' needs a number column")
    if rules.coverage and types.get(rules.coverage.column, "floating_timestamp") != (
        "floating_timestamp"
    ):
        problems.append(f"coverage column '{rules.coverage.column}' must be a timestamp column")
    return problems


__all__ = [
    "Coverage",
    "QualityProblem",
    "QualityReport",
    "QualityRules",
    "check_problems",
    "visible",
]
