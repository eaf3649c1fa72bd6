"""Two small datasets cut from the real files the demo ships (``blotter/samples/data``), as
physical tables and as plain Python rows.

``force``: the first 30 rows of Rutland (VT) use of force, 2015-2017 (text, number,
floating_timestamp, checkbox, nulls). ``calls``: every 400th Takoma Park (MD) call for
service (timestamps with times, a point, a checkbox). The physical tables follow
``blotter.schema`` and are built here with sqlglot and the engine's driver, never through the
store or ingest, so these tests prove the SoQL layer alone. Expected answers are computed from
the Python rows, never by the compiler.
"""

from __future__ import annotations

import csv
from datetime import datetime
from typing import Any

from sqlglot import exp

from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.schema import CREATED_AT, ROW_ID, UPDATED_AT, point_parts
from tests.paths import SAMPLE_DATA

Row = dict[str, Any]

T, N, C, TS, P = (
    ColumnType.TEXT,
    ColumnType.NUMBER,
    ColumnType.CHECKBOX,
    ColumnType.FLOATING_TIMESTAMP,
    ColumnType.POINT,
)


def _dataset(dataset_id: str, columns: list[tuple[str, ColumnType]]) -> Dataset:
    return Dataset(
        id=dataset_id,
        meta=DatasetMeta(name=dataset_id),
        columns=[
            Column(field_name=f, name=f.replace("_", " ").title(), type=t) for f, t in columns
        ],
        created_at=datetime(2024, 1, 1),
        updated_at=datetime(2024, 1, 1),
    )


FORCE = _dataset(
    "frce-0001",
    [
        ("case_number", T),
        ("officer_rank", T),
        ("officer_age", N),
        ("occurred", TS),
        ("subject_age", N),
        ("subject_race", T),
        ("subject_sex", T),
        ("offense", T),
        ("arrested", T),
        ("mental_health", C),
        ("weapon", T),
    ],
)
CALLS = _dataset(
    "clls-0001",
    [
        ("event_number", T),
        ("call_type", T),
        ("received_at", TS),
        ("beat", T),
        ("criminal_report", C),
        ("location", P),
        ("freq", N),
    ],
)
DATASETS = {"force": FORCE, "calls": CALLS}
CREATED = datetime(2024, 2, 1, 8, 0, 0)
UPDATED = datetime(2024, 3, 1, 9, 30, 0)


def _text(value: str) -> str | None:
    return value.strip() or None


def _yes_no(value: str) -> bool | None:
    value = value.strip().lower()
    return {"yes": True, "no": False}.get(value)


def _with_system(rows: list[Row]) -> list[Row]:
    for i, row in enumerate(rows, start=1):
        row.update({":id": i, ":created_at": CREATED, ":updated_at": UPDATED})
    return rows


def force_rows() -> list[Row]:
    path = SAMPLE_DATA / "rutland_use_of_force_2015_2017.csv"
    with path.open(newline="", encoding="utf-8-sig") as f:
        raw = list(csv.DictReader(f))[:30]
    return _with_system(
        [
            {
                "case_number": _text(r["CASE #"]),
                "officer_rank": _text(r["Officer Rank"]),
                "officer_age": float(r["Officer Age"]),
                "occurred": datetime.fromisoformat(r["Date"]),
                "subject_age": float(r["Subject Age"]),
                "subject_race": _text(r["Subject Race"]),
                "subject_sex": _text(r["Subject Sex"]),
                "offense": _text(r["Offense"]),
                "arrested": _text(r["Arrested"]),
                "mental_health": _yes_no(r["Mental Health"]),
                "weapon": _text(r["Weapon"]),
            }
            for r in raw
        ]
    )


def calls_rows() -> list[Row]:
    path = SAMPLE_DATA / "tp_cad_data.csv"
    with path.open(newline="", encoding="utf-8") as f:
        raw = list(csv.DictReader(f))[::400][:30]
    return _with_system(
        [
            {
                "event_number": r["event.no."],
                "call_type": r["type"],
                "received_at": datetime.fromisoformat(r["received"]),
                "beat": r["beat"],
                "criminal_report": _yes_no(r["cr.report"]),
                "location": (float(r["longitude"]), float(r["latitude"])),
                "freq": float(r["freq"]),
            }
            for r in raw
        ]
    )


_SQL_TYPES = {T: "TEXT", N: "DOUBLE", C: "BOOLEAN", TS: "TIMESTAMP"}


def physical_columns(dataset: Dataset) -> list[tuple[str, str]]:
    """(physical name, SQL type) of every physical column, system fields first."""
    columns = [(ROW_ID, "BIGINT"), (CREATED_AT, "TIMESTAMP"), (UPDATED_AT, "TIMESTAMP")]
    for col in dataset.columns:
        if col.type is P:
            columns += [(name, "DOUBLE") for name in point_parts(col.field_name)]
        else:
            columns.append((col.field_name, _SQL_TYPES[col.type]))
    return columns


def physical_row(dataset: Dataset, row: Row) -> tuple[Any, ...]:
    values: list[Any] = [row[":id"], row[":created_at"], row[":updated_at"]]
    for col in dataset.columns:
        value = row[col.field_name]
        if col.type is P:
            values += list(value) if value is not None else [None, None]
        else:
            values.append(value)
    return tuple(values)


def create_table(dataset: Dataset, table: exp.Table, dialect: str) -> str:
    """CREATE TABLE for the physical layout; text sorts by code point on both engines."""
    defs = []
    for name, sql_type in physical_columns(dataset):
        constraints = []
        if sql_type == "TEXT" and dialect == "postgres":
            collate = exp.CollateColumnConstraint(this=exp.to_identifier("C", quoted=True))
            constraints.append(exp.ColumnConstraint(kind=collate))
        defs.append(
            exp.ColumnDef(
                this=exp.to_identifier(name, quoted=True),
                kind=exp.DataType.build(sql_type),
                constraints=constraints,
            )
        )
    return exp.Create(this=exp.Schema(this=table, expressions=defs), kind="TABLE").sql(dialect)


def insert_rows(dataset: Dataset, table: exp.Table, dialect: str) -> str:
    names = [name for name, _ in physical_columns(dataset)]
    marks = tuple(exp.Placeholder() for _ in names)
    return exp.insert(exp.values([marks]), table, columns=names).sql(dialect)
