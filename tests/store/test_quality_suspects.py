"""The quality checks judge only the rows Arrow picks out (``Checker._suspects``), yet name
exactly the problems, in the order and with the counts, that judging every row gives."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from blotter.model import Column, ColumnType, DatasetMeta
from blotter.quality import Coverage, QualityRules
from blotter.store import quality
from blotter.store.quality import Checker

COLUMNS = [
    Column(field_name="case_id", name="Case", type=ColumnType.TEXT),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
    Column(field_name="count", name="Count", type=ColumnType.NUMBER),
    Column(field_name="race", name="Race", type=ColumnType.TEXT),
    Column(field_name="at", name="At", type=ColumnType.FLOATING_TIMESTAMP),
    Column(field_name="note", name="Note", type=ColumnType.TEXT),
]
RULES = QualityRules(
    required=["note"],
    ranges={"count": (1, 10)},
    categories={"race": ["white", "black"]},
    coverage=Coverage(column="at", start=date(2015, 1, 1), end=date(2020, 12, 31)),
)
LATER = datetime.now() + timedelta(days=40)


def batches(ids: list[str | None]) -> list[pa.RecordBatch]:
    n = len(ids)
    columns: dict[str, pa.Array] = {
        "case_id": pa.array(ids, pa.string()),
        "age": pa.array([[30.0, -4.0, None, 121.0, 120.0, 1e9][i % 6] for i in range(n)]),
        "count": pa.array([[1.0, 10.0, 0.5, None, 11.0][i % 5] for i in range(n)]),
        "race": pa.array([["white", "Blck", None, "black"][i % 4] for i in range(n)]),
        "at": pa.array(
            [
                [
                    datetime(2015, 1, 1),
                    datetime(2014, 12, 31, 23, 59),
                    datetime(2020, 12, 31, 23, 59),
                    datetime(2021, 1, 1),
                    LATER,
                    None,
                ][i % 6]
                for i in range(n)
            ],
            pa.timestamp("us"),
        ),
        "note": pa.array([None if i % 7 == 3 else "x" for i in range(n)], pa.string()),
    }
    table = pa.table(columns)
    return table.to_batches(max_chunksize=5)


def outcome(
    ids: list[str | None], every_row: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, ...]:
    if every_row:
        monkeypatch.setattr(Checker, "_suspects", lambda self, column, array: None)
    meta = DatasetMeta(name="Stops", row_identifier="case_id", quality=RULES)
    checker = Checker(meta, COLUMNS, 2, full_rows=True)
    for batch in batches(ids):
        checker.check(batch)
    monkeypatch.undo()
    return (checker.listed(), checker.errors, checker.warnings, dict(checker.per_check))


@pytest.mark.parametrize(
    "ids",
    [
        [f"c{i}" for i in range(23)],  # unique: the key never goes row by row
        [f"c{i % 9}" for i in range(23)],  # repeats within and across batches
        [None if i % 4 == 0 else f"c{i}" for i in range(23)],  # missing identifiers
    ],
)
def test_the_suspects_give_what_every_row_gives(
    ids: list[str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = outcome(ids, every_row=False, monkeypatch=monkeypatch)
    slow = outcome(ids, every_row=True, monkeypatch=monkeypatch)
    assert fast == slow
    listed, errors, warnings, per_check = fast
    assert set(per_check) >= {"range", "category", "coverage", "future_date", "required"}
    assert errors and warnings and len(listed) == errors + warnings


def test_only_suspect_rows_are_judged_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[int] = []
    real = Checker._column

    def counting(self: Checker, column: Column, values: list[Any], numbers: list[int]) -> None:
        judged.extend(numbers)
        real(self, column, values, numbers)

    monkeypatch.setattr(Checker, "_column", counting)
    meta = DatasetMeta(name="Stops", row_identifier="case_id")
    checker = Checker(meta, COLUMNS[:2], 2, full_rows=True)
    ages = pa.array([30.0] * 9 + [-4.0])
    checker.check(pa.record_batch({"case_id": pa.array([f"c{i}" for i in range(10)]), "age": ages}))
    assert judged == [11]  # the age of -4 only (file row 11)
    assert [p["row"] for p in checker.listed()] == [11]
    assert quality.AGE_RANGE == (0.0, 120.0)
