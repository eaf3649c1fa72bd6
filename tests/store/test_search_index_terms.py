"""The DuckDB word index, built from each column's distinct values, holds exactly the
(term, id) pairs that splitting every row's joined values gives (the statement PostgreSQL
keeps): repeated values, case, nulls, empty cells, every ASCII whitespace, a value in two
columns, a row without text."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from blotter.store import search_index
from blotter.store.search_index import words_table

VALUES = [
    ("Report taken", "MAIN ST", None),
    ("report  TAKEN", "main st", "Main St"),
    ("Unable\tto\nlocate", "", "x\x0by\x0cz\rq"),
    (None, None, None),
    ("  lead and trail  ", "Café brawl", "café"),
    ("Report taken", "MAIN ST", "same value, two columns: main"),
]


def _pairs(con: duckdb.DuckDBPyConnection, table: str) -> Counter[tuple[str, int]]:
    rows = con.execute(f'SELECT term, unnest(ids) FROM "{words_table(table)}"').fetchall()  # noqa: S608 - ours
    return Counter((str(term), int(i)) for term, i in rows)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "terms.duckdb"))
    for table in ("by_value", "by_row"):
        con.execute(f"CREATE TABLE {table} (_id BIGINT, a TEXT, b TEXT, c TEXT)")
        con.executemany(
            f"INSERT INTO {table} VALUES (?, ?, ?, ?)",  # noqa: S608 - ours
            [(i, *v) for i, v in enumerate(VALUES, start=1)],
        )
    return con


def test_terms_by_value_are_the_terms_by_row(con: duckdb.DuckDBPyConnection) -> None:
    fields = ["a", "b", "c"]
    con.execute(search_index.index_statements("by_value", fields, "duckdb")[0])
    con.execute(search_index._words_by_row("by_row", fields, "duckdb"))
    by_value, by_row = _pairs(con, "by_value"), _pairs(con, "by_row")
    assert by_value == by_row
    # The pairs are the rows' own: a term in two rows, repeated within one, and none empty.
    assert by_value[("report", 1)] == 1 and by_value[("report", 2)] == 1
    assert by_value[("main", 6)] == 2 and by_value[("st", 2)] == 2
    assert {"x", "y", "z", "q", "café", "locate"} <= {t for t, _ in by_value}
    assert not any(t == "" or i == 4 for t, i in by_value)
