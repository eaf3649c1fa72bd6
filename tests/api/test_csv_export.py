"""CSV written by the engine (``Store.execute_csv``) is byte for byte the Python serializer's.

Every case runs the same compiled query both ways on each engine: the sample datasets, and a
dataset of awkward values (quotes, separators, line breaks, unicode, nulls, numbers at the
edges of their text forms, timestamps with microseconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from blotter.api.serialize import csv_cells, stream_csv, stream_csv_lines
from blotter.app import create_app
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.queries import QueryResult, run_query
from blotter.samples import load_samples
from blotter.settings import Settings
from blotter.store import open_store
from blotter.store.base import Store
from tests.engines import ENGINES, engine_settings

ODD = "odd0-0001"
# The same values without doubles of 1e16 and more: PostgreSQL writes these with COPY.
FINE = "odd0-0002"
ODD_COLUMNS = [
    Column(field_name="label", name="Label", type=ColumnType.TEXT),
    Column(field_name="amount", name="Amount", type=ColumnType.NUMBER),
    Column(field_name="seen", name="Seen", type=ColumnType.FLOATING_TIMESTAMP),
    Column(field_name="flag", name="Flag", type=ColumnType.CHECKBOX),
    Column(field_name="spot", name="Spot", type=ColumnType.POINT),
]
LABELS = [
    "plain",
    "comma, inside",
    'a "quoted" word',
    '"',
    "line\nbreak",
    "carriage\rreturn",
    "both\r\nends",
    "",
    None,
    "ünïcödé ✓ 漢字 🚓",
    " leading and trailing ",
    "tab\there",
    "\\.",
    "back\\slash",
    "semi;colon",
    "'single'",
]
AMOUNTS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -2.25,
    0.1,
    1 / 3,
    1e-5,
    1.234e-7,
    0.0001,
    123456789012345.6,
    999999999999999.0,
    1e15 + 0.5,
    3569554276079630.5,
    9999999999999998.0,
    1e16,
    1.5e16,
    6.741530142468642e16,
    1e21,
    1e300,
    -1e300,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    math.inf,
    -math.inf,
    math.nan,
    None,
    12345.0,
    -98765.0,
    37.813066,
    -122.297301,
]
TIMES = [
    datetime(2024, 2, 29, 23, 59, 59, 999999),
    datetime(2020, 1, 1),
    datetime(1999, 12, 31, 12, 0, 0, 1000),
    datetime(999, 5, 6, 7, 8, 9, 123456),
    None,
]


def _below_1e16(value: float | None) -> bool:
    return value is None or not math.isfinite(value) or abs(value) < 1e16


def _odd_rows(amounts: list[float | None] = AMOUNTS) -> pa.RecordBatch:
    n = max(len(LABELS), len(amounts))
    lons = [amounts[(i + 3) % len(amounts)] for i in range(n)]
    lats = [amounts[(i + 7) % len(amounts)] for i in range(n)]
    for i in (0, 5):  # a point with only one coordinate is no point
        lats[i] = None
    return pa.record_batch(
        {
            "label": pa.array([LABELS[i % len(LABELS)] for i in range(n)], pa.string()),
            "amount": pa.array([amounts[i % len(amounts)] for i in range(n)], pa.float64()),
            "seen": pa.array([TIMES[i % len(TIMES)] for i in range(n)], pa.timestamp("us")),
            "flag": pa.array([[True, False, None][i % 3] for i in range(n)], pa.bool_()),
            "_spot_lon": pa.array(lons, pa.float64()),
            "_spot_lat": pa.array(lats, pa.float64()),
        }
    )


@pytest.fixture(scope="module", params=ENGINES)
def settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    for settings in engine_settings(request.param, tmp_path_factory.mktemp("csv")):
        store = open_store(settings)
        try:
            load_samples(store)
            store.create_dataset(DatasetMeta(name="Odd values"), ODD_COLUMNS, dataset_id=ODD)
            store.publish(ODD, ODD_COLUMNS, [_odd_rows()])
            store.create_dataset(DatasetMeta(name="Fine values"), ODD_COLUMNS, dataset_id=FINE)
            fine = [a for a in AMOUNTS if _below_1e16(a)]
            store.publish(FINE, ODD_COLUMNS, [_odd_rows(fine)])
        finally:
            store.close()
        yield settings


@pytest.fixture(scope="module")
def store(settings: Settings) -> Iterator[Store]:
    store = open_store(settings)
    yield store
    store.close()


def _both_ways(
    store: Store, dataset_id: str, params: dict[str, str], *, raw_rows: int = 0
) -> tuple[bytes, bytes]:
    """(the engine's CSV, the Python serializer's CSV) of one request; at most ``raw_rows``
    rows may come back raw for Python to write (PostgreSQL's numbers beyond 1e15)."""
    recorded: list[Any] = []

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def execute(self, dataset: Any, select: Any, **kwargs: Any) -> Any:
            recorded.append((dataset, select))
            return store.execute(dataset, select, **kwargs)

    result: QueryResult = run_query(
        Recording(),  # type: ignore[arg-type]
        store.get_dataset(dataset_id),
        params,
        Settings(),
        unlimited=True,
    )
    python = b"".join(stream_csv(result.outputs, result.rows))
    cells = csv_cells(result.outputs)
    assert cells is not None
    dataset, select = recorded[0]
    pieces = store.execute_csv(dataset, select, cells)
    assert pieces is not None, "the engine should write this query"
    pieces = list(pieces)
    assert sum(isinstance(p, tuple) for p in pieces) <= raw_rows
    return b"".join(stream_csv_lines(result.outputs, pieces)), python


def _sample_ids(store: Store) -> list[str]:
    return [d.id for d in store.list_datasets() if d.id not in (ODD, FINE)]


def test_every_sample_dataset_is_written_byte_for_byte_as_python_writes_it(store: Store) -> None:
    ids = _sample_ids(store)
    assert len(ids) >= 4
    for dataset_id in ids:
        engine, python = _both_ways(store, dataset_id, {})
        assert engine == python, dataset_id
        system, python = _both_ways(store, dataset_id, {"$select": ":*, *"})
        assert system == python, dataset_id


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"$select": ":id, :created_at, :updated_at, label"},
        {"$select": "label"},
        {"$select": "amount"},
        {"$select": "spot"},
        {"$select": "label, count(*) AS n", "$group": "label", "$order": "label"},
        {
            "$select": "flag, sum(amount), avg(amount), min(seen), max(seen)",
            "$group": "flag",
            "$where": "amount BETWEEN -1e6 AND 1e6",  # PostgreSQL's sum overflows at 1e300
        },
        {"$select": "count(*)"},
        {"$select": "-amount AS minus"},
        {
            "$select": "amount * 2 AS doubled, amount / 3 AS third",
            # PostgreSQL refuses to overflow or underflow a double
            "$where": "amount BETWEEN -1e300 AND 1e300 AND NOT amount BETWEEN -1e-300 AND 1e-300",
        },
        {"$select": "upper(label) AS shout, label || '!' AS bang", "$where": "label IS NOT NULL"},
        {"$select": "date_trunc_ym(seen) AS month, count(*)", "$group": "month"},
        {"$where": "label = 'comma, inside'"},
        {"$order": "amount DESC", "$limit": "7", "$offset": "2"},
        {"$q": "quoted"},
    ],
)
def test_awkward_values_are_written_byte_for_byte_as_python_writes_them(
    store: Store, params: dict[str, str]
) -> None:
    engine, python = _both_ways(store, ODD, params, raw_rows=len(AMOUNTS))
    assert engine == python


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"$select": ":id, :created_at, label, amount"},
        {"$select": "label, spot"},
        {"$where": "label IS NOT NULL", "$order": "amount DESC"},
        {"$where": "amount > 0.2"},
        {"$select": "amount * 2 AS doubled, seen", "$where": "amount BETWEEN -1e6 AND 1e6"},
        {"$q": "quoted"},
    ],
)
def test_values_postgresql_copies_are_written_byte_for_byte_as_python_writes_them(
    store: Store, params: dict[str, str]
) -> None:
    """Infinities, NaN, fractions between 1e15 and 1e16, carriage returns, empty texts: on
    PostgreSQL, none of these rows comes back raw (the line query leaves the numbers raw),
    so the COPY wrote them all."""
    assert not all(_below_1e16(a) for a in AMOUNTS)
    engine, python = _both_ways(store, FINE, params, raw_rows=0)
    assert engine == python


def test_the_python_serializer_still_writes_what_the_engine_cannot(store: Store) -> None:
    """A computed shape has no SQL form: the export takes the Python path, same bytes."""
    ds = store.get_dataset(ODD)
    assert csv_cells(run_query(store, ds, {"$select": "extent(spot)"}, Settings()).outputs) is None


def test_exports_over_http_are_the_python_serializer_s_bytes(
    settings: Settings, store: Store
) -> None:
    with TestClient(create_app(settings)) as client:
        for url, params, bom in [
            (f"/api/views/{ODD}/rows.csv", {}, False),
            (f"/resource/{ODD}.csv", {"$$bom": "true", "$order": "label"}, True),
            (f"/resource/{ODD}.csv", {"$select": "extent(spot), count(*)"}, False),
            (
                f"/resource/{ODD}.csv",
                {"$select": "convex_hull(spot)", "$where": "flag = false"},
                False,
            ),
        ]:
            response = client.get(url, params=params)
            assert response.status_code == 200, response.text
            query = {k: v for k, v in params.items() if k != "$$bom"}
            result = run_query(store, ODD, query, Settings(), unlimited="views" in url)
            expected = b"".join(stream_csv(result.outputs, result.rows))
            assert response.content == ("\ufeff".encode() if bom else b"") + expected


def test_an_empty_result_is_the_header_alone(store: Store) -> None:
    engine, python = _both_ways(store, ODD, {"$where": "amount > 1e308 AND amount < 0"})
    assert engine == python == b"label,amount,seen,flag,spot\n"
