"""DuckDB reads keep their cursors for the next read only once every row was read: a read
left unfinished, failed or stopped at its time limit closes its cursor, and reads on kept
cursors give the rows fresh cursors give."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from sqlglot import exp

from blotter.errors import QueryTimeout, SoQLError
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.schema import DATASET_TABLE
from blotter.store.duckdb import DuckDBStore
from blotter.store.duckdb_reads import ReadCursors

ROWS = 5000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "blotter.duckdb")
    columns = [
        Column(field_name="n", name="N", type=ColumnType.NUMBER),
        Column(field_name="word", name="Word", type=ColumnType.TEXT),
    ]
    dataset = store.create_dataset(DatasetMeta(name="Numbers"), columns, "nums-0001")
    batch = pa.record_batch(
        {
            "n": pa.array([float(i) for i in range(ROWS)], pa.float64()),
            "word": pa.array([None if i % 7 == 0 else f"w{i % 13}" for i in range(ROWS)]),
        }
    )
    store.publish(dataset.id, columns, [batch])
    yield store
    store.close()


def _select(where: str = "n >= 0") -> exp.Select:
    return exp.select("n", "word").from_(DATASET_TABLE).where(where).order_by("n")


def _expected(where: str = "n >= 0") -> list[tuple[float, str | None]]:
    keep = {"n >= 0": lambda i: True, "n % 2 = 1": lambda i: i % 2 == 1}[where]
    return [(float(i), None if i % 7 == 0 else f"w{i % 13}") for i in range(ROWS) if keep(i)]


def _idle(store: DuckDBStore) -> list[object]:
    reads: ReadCursors = store._reads
    return list(reads._idle)


def _dataset(store: DuckDBStore) -> Dataset:
    return store.get_dataset("nums-0001")


def test_a_read_to_its_end_gives_its_cursor_to_the_next_read(store: DuckDBStore) -> None:
    first = list(store.execute(_dataset(store), _select()))
    assert first == _expected()
    kept = _idle(store)
    assert len(kept) == 1
    # The next read runs on that cursor and gets its own rows, the same as a fresh one's.
    rows = store.execute(_dataset(store), _select("n % 2 = 1"))
    assert _idle(store) == []
    assert list(rows) == _expected("n % 2 = 1")
    assert _idle(store) == kept
    assert list(store.execute(_dataset(store), _select())) == first


def test_a_read_left_unfinished_closes_its_cursor(store: DuckDBStore) -> None:
    rows = iter(store.execute(_dataset(store), _select()))
    assert [next(rows) for _ in range(3)] == _expected()[:3]
    rows.close()  # type: ignore[attr-defined]  # a client gone mid-answer
    assert _idle(store) == []
    assert list(store.execute(_dataset(store), _select())) == _expected()


def test_reads_at_once_each_read_their_own_rows(store: DuckDBStore) -> None:
    list(store.execute(_dataset(store), _select()))  # one kept cursor
    every = iter(store.execute(_dataset(store), _select()))
    odd = iter(store.execute(_dataset(store), _select("n % 2 = 1")))
    mixed = [(next(every), next(odd)) for _ in range(100)]
    assert mixed == list(zip(_expected(), _expected("n % 2 = 1"), strict=False))[:100]
    assert list(every) == _expected()[100:]
    assert list(odd) == _expected("n % 2 = 1")[100:]
    assert len(_idle(store)) == 2


# Seconds of work on two cores: far past the limit these reads are given.
SLOW = exp.select(exp.func("sum", exp.func("hash", exp.column("i")))).from_(
    "range(20000000000) AS r(i)"
)


def test_a_read_stopped_at_its_limit_or_refused_is_never_kept(store: DuckDBStore) -> None:
    list(store.execute(_dataset(store), _select()))
    assert len(_idle(store)) == 1
    with pytest.raises(QueryTimeout):  # the kept cursor ran it, was interrupted and closed
        store.execute(_dataset(store), SLOW, timeout_s=0.2)
    assert _idle(store) == []
    list(store.execute(_dataset(store), _select()))
    refused = exp.select("CAST(word AS INTEGER)").from_(DATASET_TABLE)
    with pytest.raises(SoQLError):  # a value that does not convert: closed too
        list(store.execute(_dataset(store), refused))
    assert _idle(store) == []
    assert list(store.execute(_dataset(store), _select())) == _expected()


def test_the_kept_cursors_are_bounded(store: DuckDBStore) -> None:
    streams = [iter(store.execute(_dataset(store), _select())) for _ in range(20)]
    for rows in streams:
        assert list(rows) == _expected()
    assert len(_idle(store)) == 16


@pytest.mark.parametrize(
    ("words", "params"),
    [
        ("burglary", {"$limit": "7", "$offset": "3"}),  # common: the scan stops at the page
        ("report burglary", {"$limit": "50"}),
        ("aitken", {"$limit": "4"}),  # rare: its first candidates
        ("burglary", {"$limit": "6", "$where": "age > 4"}),
        ("zzqx", {"$limit": "5"}),
        ("", {"$limit": "5", "$offset": "590"}),
    ],
)
def test_q_by_id_streams_the_tables_order(
    store: DuckDBStore, monkeypatch: pytest.MonkeyPatch, words: str, params: dict[str, str]
) -> None:
    """``$order=:id`` compiles to ``_id, _id``: streamed in the table's order, unsorted, the
    rows Python finds in that order (stored in file order here: no timestamp)."""
    from blotter.store import search_index
    from tests.store.test_search_index import _answers
    from tests.store.test_search_order import ROWS, _hits, _row
    from tests.store.test_search_order import _publish as publish_calls

    monkeypatch.setattr(search_index, "MOST_CANDIDATES", 3)
    rows = [_row(i) for i in range(1, ROWS + 1)]
    dataset = publish_calls(store, rows)
    query = {"$q": words} if words else {}
    asked = {**query, "$order": ":id", "$select": ":id, age", **params}
    indexed, scanned, sql = _answers(store, dataset, asked)
    assert indexed == scanned
    fields = ["case_no", "offence", "narrative", "officer"]
    hits = _hits(words, rows, fields) if words else list(range(1, ROWS + 1))
    if "$where" in params:
        hits = [i for i in hits if (rows[i - 1]["age"] or 0) > 4]
    start = int(params.get("$offset", 0))
    assert [int(r[0]) for r in indexed] == hits[start : start + int(params["$limit"])]
    if "IN (SELECT" not in sql:  # a page read in two steps keeps its sort
        assert "ORDER BY" not in sql, sql
