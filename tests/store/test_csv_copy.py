"""PostgreSQL's CSV written by COPY (``Store.execute_csv``): cut short, a COPY gives its
connection back; its errors come before any line; each query takes the way that writes it
exactly (the byte-for-byte comparisons are in tests/api/test_csv_export.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from sqlglot import exp

from blotter.exports.csvtext import csv_cells
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.queries import prepare_query
from blotter.settings import Settings
from blotter.store import open_store
from blotter.store.base import Store
from blotter.store.postgres_reads import copy_checkable
from tests.engines import engine_settings

ROWS = 30_000  # about 4 MB of lines: several pieces of a megabyte
POOL = 2
COLUMNS = [
    Column(field_name="label", name="Label", type=ColumnType.TEXT),
    Column(field_name="amount", name="Amount", type=ColumnType.NUMBER),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str]]:
    folder: Path = tmp_path_factory.mktemp("copy")
    for settings in engine_settings("postgres", folder, database_pool_max=POOL):
        store = open_store(settings)
        ds = store.create_dataset(DatasetMeta(name="Many lines"), COLUMNS)
        labels = [f"row {n}, " + "words " * 20 for n in range(ROWS)]
        amounts = [n + 0.5 for n in range(ROWS)]
        store.publish(ds.id, COLUMNS, [pa.record_batch({"label": labels, "amount": amounts})])
        yield store, ds.id
        store.close()


def _pieces(store: Store, dataset_id: str, params: dict[str, str]) -> Iterator[object]:
    prepared = prepare_query(store, dataset_id, params, Settings(), unlimited=True)
    cells = csv_cells(prepared.outputs)
    assert cells is not None
    pieces = store.execute_csv(prepared.dataset, prepared.compiled.select, cells)
    assert pieces is not None
    return pieces


def test_a_copy_cut_short_gives_its_connection_back(store: tuple[Store, str]) -> None:
    """More exports left after their first megabyte than the pool has connections: each
    gives its connection back (its COPY cancelled), and the store still answers."""
    db, dataset_id = store
    for _ in range(POOL * 3):
        pieces = _pieces(db, dataset_id, {})
        first = next(pieces)  # type: ignore[call-overload]
        assert isinstance(first, bytes) and len(first) >= 1 << 20
        pieces.close()  # type: ignore[attr-defined]
    whole = b"".join(_pieces(db, dataset_id, {}))  # type: ignore[arg-type]
    assert whole.count(b"\n") == ROWS
    assert whole.startswith(b'"row 0, words') and whole.endswith(b' ",29999.5\n')


@pytest.mark.parametrize("failing", [10.0, 5000.0])
def test_a_copy_s_errors_come_before_its_lines(store: tuple[Store, str], failing: float) -> None:
    """A value the engine cannot compute in the first rows (the first megabyte) fails the
    call itself, not the body after it; the connection is given back either way."""
    db, dataset_id = store
    for _ in range(POOL + 1):
        with pytest.raises(Exception, match="could not be run"):
            _pieces(db, dataset_id, {"$select": f"label, ln({failing} - amount) AS x"})


@pytest.mark.parametrize(
    ("params", "checkable"),
    [
        ({}, True),
        ({"$where": "amount > 3", "$order": "amount DESC"}, True),
        ({"$limit": "10"}, False),
        ({"$select": "label, count(*)", "$group": "label"}, False),
        ({"$select": "max(amount) AS top, min(amount) AS bottom"}, False),
    ],
)
def test_only_plain_queries_get_a_first_look_before_a_copy(
    store: tuple[Store, str], params: dict[str, str], checkable: bool
) -> None:
    """The look for doubles PostgreSQL writes unlike Python runs a query a second time:
    only rows read as they are, in any order; the rest take the line query."""
    db, dataset_id = store
    prepared = prepare_query(db, dataset_id, params, Settings(), unlimited=True)
    unordered = copy_checkable(prepared.compiled.select)
    assert (unordered is not None) is checkable
    if unordered is not None:
        assert unordered.args.get("order") is None
        assert isinstance(unordered, exp.Select)
