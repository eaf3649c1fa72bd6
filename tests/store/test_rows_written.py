"""Awkward values reach a version table exactly, on both engines: PostgreSQL through COPY
text made by Arrow (``store/pgcopy.py``), DuckDB from the Arrow batches themselves; and a
file's values no engine may hold (NUL, NaN, infinity) are refused before either."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlglot import exp

from blotter.errors import ValidationFailed
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.schema import DATASET_TABLE, physical_names
from blotter.store import Store, pgcopy

COLUMNS = [
    Column(field_name="note", name="Note", type=ColumnType.TEXT),
    Column(field_name="amount", name="Amount", type=ColumnType.NUMBER),
    Column(field_name="armed", name="Armed", type=ColumnType.CHECKBOX),
    Column(field_name="at", name="At", type=ColumnType.FLOATING_TIMESTAMP),
    Column(field_name="place", name="Place", type=ColumnType.POINT),
]
TEXTS = [
    "",
    None,
    'say "hi", ok',
    "a\nb\r\nc\rd",
    "tab\there",
    "back\\slash \\N \\t",
    "\\.",
    "x\n\\.\ny",
    "\\N",
    "ünïcödé 🚓 日本 \u2028 \u00a0",
    "  spaces  ",
    "'single'; DROP TABLE x; --",
]
NUMBERS = [
    0.1,
    -0.0,
    5e-324,
    1.7976931348623157e308,
    0.1 + 0.2,
    123456789012345.67,
    None,
    1e-7,
    -42.0,
    float("nan"),
    float("inf"),
    float("-inf"),
]
FLAGS = [True, False, None] * 4
STAMPS = [
    datetime(2020, 1, 2, 3, 4, 5, 6),
    datetime(1, 1, 1),
    datetime(9999, 12, 31, 23, 59, 59, 999999),
    None,
] * 3
LONS = [-180.0, 179.999999, None, -72.9712345678901] * 3
LATS = [-90.0, 89.5, None, 43.6106] * 3


def stored(store: Store, dataset_id: str) -> list[tuple[Any, ...]]:
    """Every stored row, floats as repr (so -0.0 and nan compare as themselves)."""
    dataset = store.get_dataset(dataset_id)
    names = ["_id", *(n for c in dataset.columns for n in physical_names(c))]
    select = exp.select(*(exp.column(n, quoted=True) for n in names)).from_(DATASET_TABLE)
    rows = store.execute(dataset, select.order_by("_id"))
    return [tuple(repr(v) if isinstance(v, float) else v for v in row) for row in rows]


def test_awkward_values_are_stored_exactly(
    engine_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgcopy, "SLICE_ROWS", 5)  # several COPY pieces per batch
    values = [TEXTS, NUMBERS, FLAGS, STAMPS, LONS, LATS]
    names = [n for c in COLUMNS for n in physical_names(c)]
    types = [pa.string(), pa.float64(), pa.bool_(), pa.timestamp("us"), pa.float64(), pa.float64()]
    table = pa.table([pa.array(v, t) for v, t in zip(values, types, strict=True)], names=names)
    ds = engine_store.create_dataset(DatasetMeta(name="Awkward"), COLUMNS)
    batches = [table.slice(0, 7).to_batches()[0], table.slice(7).to_batches()[0]]
    version = engine_store.publish(ds.id, COLUMNS, batches)
    assert version.row_count == 12
    # Ids follow the timestamp column (nulls last, ties in file order): store/ordering.py.
    rows = list(zip(*values, strict=True))
    expected = [
        (k + 1, *(repr(v) if isinstance(v, float) else v for v in rows[i]))
        for k, i in enumerate(in_time_order(STAMPS))
    ]
    assert stored(engine_store, ds.id) == expected
    # Row ids go on from the last version's, across batches and COPY pieces (every text
    # changed, so no row keeps the identity of a served one).
    changed = table.set_column(0, names[0], pa.array([f"{t or ''}!" for t in TEXTS]))
    batches = [changed.slice(0, 7).to_batches()[0], changed.slice(7).to_batches()[0]]
    engine_store.publish(ds.id, COLUMNS, batches[::-1])
    assert [row[0] for row in stored(engine_store, ds.id)] == list(range(13, 25))
    texts = [f"{t or ''}!" for t in TEXTS[7:] + TEXTS[:7]]
    stamps = STAMPS[7:] + STAMPS[:7]
    assert [row[1] for row in stored(engine_store, ds.id)] == [
        texts[i] for i in in_time_order(stamps)
    ]


def in_time_order(stamps: list[datetime | None]) -> list[int]:
    """Positions in (time, position) order, nulls last."""
    return sorted(
        range(len(stamps)), key=lambda i: (stamps[i] is None, stamps[i] or datetime.min, i)
    )


SPEC = """\
id: awkw-ward
name: Awkward
source: awkward.csv
columns:
  - {field: note, source: Note, trim: false, collapse_spaces: false}
  - {field: amount, source: Amount, type: number}
  - {field: armed, source: Armed, type: checkbox}
  - {field: at, source: At, type: floating_timestamp, date_format: ["%Y-%m-%d %H:%M:%S"]}
  - {field: place, type: point, latitude: Lat, longitude: Lon}
"""
GOOD = (
    "Note,Amount,Armed,At,Lat,Lon\n"
    '"say ""hi"", ok",1.5,yes,2020-01-02 03:04:05,43.6106,-72.97\n'
    '"two\nlines\\.",,no,,,\n'
    "ünïcödé 🚓,-0,,1999-12-31 23:59:59,-90,180\n"
    '"\\.\n\\N",1e-7,true,2000-02-29 00:00:00,0,0\n'
)


def test_a_file_of_awkward_values_loads_the_same_on_both_engines(
    engine_store: Store, tmp_path: Path
) -> None:
    (tmp_path / "awkward.csv").write_text(GOOD, encoding="utf-8")
    (tmp_path / "awkward.yaml").write_text(SPEC, encoding="utf-8")
    spec = load_spec_file(tmp_path / "awkward.yaml")
    result = load_file(engine_store, tmp_path / "awkward.csv", spec=spec)
    assert result.row_count == 4
    # Ids follow the timestamp, nulls last.
    assert stored(engine_store, result.dataset_id) == [
        (1, "ünïcödé 🚓", "-0.0", None, datetime(1999, 12, 31, 23, 59, 59), "180.0", "-90.0"),
        (2, "\\.\n\\N", "1e-07", True, datetime(2000, 2, 29), "0.0", "0.0"),
        (3, 'say "hi", ok', "1.5", True, datetime(2020, 1, 2, 3, 4, 5), "-72.97", "43.6106"),
        (4, "two\nlines\\.", None, False, None, None, None),
    ]


def test_nul_nan_and_infinity_in_a_file_are_refused_on_both_engines(
    engine_store: Store, tmp_path: Path
) -> None:
    bad = GOOD + "nul\x00here,NaN,yes,,,\nok,inf,no,,,\nok,-Infinity,no,,,\n"
    (tmp_path / "awkward.csv").write_text(bad, encoding="utf-8")
    (tmp_path / "awkward.yaml").write_text(SPEC, encoding="utf-8")
    spec = load_spec_file(tmp_path / "awkward.yaml")
    with pytest.raises(ValidationFailed) as caught:
        load_file(engine_store, tmp_path / "awkward.csv", spec=spec)
    assert [(p["row"], p["column"], p["value"]) for p in caught.value.problems] == [
        (6, "Note", "nul\x00here"),  # records are numbered as a spreadsheet does
        (6, "Amount", "NaN"),
        (7, "Amount", "inf"),
        (8, "Amount", "-Infinity"),
    ]
    reasons = [p["reason"] for p in caught.value.problems]
    assert "NUL character" in reasons[0] and all("not a finite" in r for r in reasons[1:])
    assert engine_store.list_datasets() == []


def test_postgres_writes_a_version_frozen(tmp_path: Path) -> None:
    """PostgreSQL's alone: the version table is made in the publish's transaction, so COPY
    FREEZE writes its rows already visible to all (no later rewrite to set hint bits, and
    index-only scans from the start)."""
    import psycopg

    from blotter.schema import version_table
    from blotter.store import open_store
    from tests.engines import engine_settings

    for config in engine_settings("postgres", tmp_path):
        store = open_store(config)
        ds = store.create_dataset(DatasetMeta(name="Frozen"), COLUMNS[:1])
        notes = pa.array([f"note {i}" for i in range(5000)], pa.string())
        store.publish(ds.id, COLUMNS[:1], [pa.record_batch([notes], names=["note"])])
        store.close()
        with psycopg.connect(str(config.database_url)) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_visibility")
            table = f'"{config.database_schema}"."{version_table(ds.id, 1)}"'
            frozen = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE all_visible AND all_frozen) "
                "FROM pg_visibility_map(%s::regclass)",
                [table],
            ).fetchone()
        assert frozen is not None and frozen[0] > 1 and frozen[0] == frozen[1]
