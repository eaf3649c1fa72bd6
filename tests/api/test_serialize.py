"""JSON answers are written cell by cell: the bytes are those of ``json.dumps`` of each row's
dict (Socrata's shape, nulls left out), for every kind of value and on both engines."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from blotter.api.serialize import json_row, stream_json
from blotter.model import ColumnType
from blotter.queries import run_query
from blotter.settings import Settings
from blotter.soql.compiler import Output
from blotter.store import open_store
from tests.api.conftest import DATASET_ID


def reference(outputs: list[Output], rows: Iterable[tuple[Any, ...]]) -> bytes:
    """The answer as the standard library writes each row's dict."""
    texts = [json.dumps(json_row(outputs, tuple(row)), ensure_ascii=False) for row in rows]
    return ("[\n" + ",\n".join(texts) + "\n]\n").encode() if texts else b"[]\n"


TEXT = Output("name", ColumnType.TEXT)
NUMBER = Output("n", ColumnType.NUMBER)
WHEN = Output("when", ColumnType.FLOATING_TIMESTAMP)
FIXED = Output(":created_at", ColumnType.FLOATING_TIMESTAMP, fixed=True)
FLAG = Output("flag", ColumnType.CHECKBOX)
ROW_ID = Output(":id", None)
POINT = Output("location", ColumnType.POINT, width=2, shape="point")
BOX = Output("extent", ColumnType.MULTIPOLYGON, width=4, shape="box")
ODD_TEXT = [
    'a "quoted" word',
    "back\\slash",
    "tab\tnew\nline\rreturn",
    "\x00\x01\x1f\x7f",
    "café ünïcödé",
    "line\u2028separator\u2029",
    "emoji 🚓",
    "",
    "</script>",
]


@pytest.mark.parametrize(
    ("outputs", "rows"),
    [
        ([TEXT, NUMBER], [(t, i) for i, t in enumerate(ODD_TEXT)]),
        ([TEXT, NUMBER], [(None, 1), ("x", None), (None, None)]),  # nulls left out, {} too
        ([NUMBER], [(0,), (-0.0,), (2.5,), (1e16,), (0.1 + 0.2,), (1.5e-7,), (True,)]),
        ([NUMBER], [(float("nan"),), (float("inf"),), (10**20,)]),
        ([TEXT], [(3,), (2.5,), (True,), (datetime(2020, 1, 2),)]),  # not text: json_value
        ([WHEN, FIXED], [(datetime(2017, 3, 4, 5, 6, 7, 891_999), datetime(2020, 1, 1))]),
        ([WHEN], [(datetime(999, 1, 1),), (datetime(2017, 3, 4, tzinfo=UTC),)]),
        ([FLAG, ROW_ID], [(True, 1), (False, 2), (None, 3)]),
        ([POINT, TEXT], [(-72.5, 43.25, "a"), (None, None, "b"), (1.0, None, None)]),
        # Coordinates the encoder writes otherwise than repr: whole numbers, NaN, infinities.
        (
            [POINT],
            [
                (
                    -72,
                    43,
                ),
                (float("nan"), 1.5),
                (0.1 + 0.2, float("-inf")),
                (-0.0, 1e-7),
            ],
        ),
        ([WHEN, NUMBER], [(datetime(2020, 1, 2).date(), 1), ("2020-01-02", 2.0)]),
        ([BOX, NUMBER], [(-72.5, 43.0, -72.0, 43.5, 3), (None, None, None, None, 4)]),
        # Batches of 500 rows: the chunks join as one array, nulls in some batches only.
        (
            [ROW_ID, TEXT, POINT, WHEN],
            [
                (i, None if i % 7 else f"r{i}", i / 3, None if i % 11 == 0 else -i / 7, None)
                for i in range(1203)
            ],
        ),
        ([TEXT, Output("name", ColumnType.NUMBER)], [("a", 1), ("b", None)]),  # one name twice
        ([TEXT, NUMBER], []),
    ],
)
def test_rows_are_written_as_json_writes_their_dicts(
    outputs: list[Output], rows: list[tuple[Any, ...]]
) -> None:
    assert b"".join(stream_json(outputs, rows)) == reference(outputs, rows)


@pytest.mark.parametrize(
    "params",
    [
        {},  # every type, nulls, points
        {"$select": "subject_race, count(*) AS n", "$group": "subject_race"},  # a null group
        {
            "$select": "subject_age, count(*)",
            "$group": "subject_age",
            "$order": "count(*) DESC, subject_age",  # total: ties are the engine's to order
        },
        {"$select": ":id, :created_at, occurred, injured", "$order": "occurred DESC"},
        {"$where": "subject_race = 'black'", "$order": "subject_age", "$limit": "7"},
        {"$select": "date_trunc_ym(occurred) AS month, count(*) AS n", "$group": "month"},
    ],
)
def test_api_answers_are_the_rows_as_json_writes_them(
    client: TestClient, settings: Settings, params: dict[str, str]
) -> None:
    """Through the API, on each engine: the answer's bytes are the reference writing of the
    rows the same query gives."""
    store = open_store(settings)
    try:
        result = run_query(store, DATASET_ID, params, settings)
        expected = reference(result.outputs, list(result.rows))
    finally:
        store.close()
    answer = client.get(f"/resource/{DATASET_ID}.json", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.content == expected
