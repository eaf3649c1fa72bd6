"""A streamed answer that fails after its headers is cut so every client notices: the
connection drops without the chunked body's end, and the server logs why. It is never ended
as if whole. DuckDB meets a row it cannot compute late in the rows; PostgreSQL (which fails
such a query before answering) loses the reading connection mid-stream."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pytest

from blotter.api.responses import WHOLE_ANSWER_BYTES
from blotter.app import create_app
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.schema import version_table
from blotter.store import open_store
from tests.conftest import LiveServer, serve_in_thread
from tests.engines import ENGINES, TEST_DATABASE_URL, engine_settings

ROWS = 400_000
COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="amount", name="Amount", type=ColumnType.NUMBER),
]


@pytest.fixture(scope="module", params=ENGINES)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str, str]]:
    for settings in engine_settings(request.param, tmp_path_factory.mktemp("cut")):
        store = open_store(settings)
        ds = store.create_dataset(DatasetMeta(name="A bad last row"), COLUMNS)
        # Every amount rounds, but the last: 1e30 does not fit the decimal round() works in,
        # on either engine, and the engines only reach it long after the answer has started.
        amounts = [float(n % 1000) for n in range(ROWS - 1)] + [1e30]
        cases = [f"c{n}" for n in range(ROWS)]
        store.publish(ds.id, COLUMNS, [pa.record_batch({"case_no": cases, "amount": amounts})])
        store.close()
        unthrottled = settings.model_copy(update={"throttle_anonymous_per_minute": 0})
        for server in serve_in_thread(create_app(unthrottled)):
            yield server, ds.id, request.param


def _end_the_reading_connection(dataset_id: str) -> None:
    """What a PostgreSQL restart or failover does to a connection mid-read. Only the backend
    reading this test's own version table is ended: the server is shared."""
    import psycopg

    table = version_table(dataset_id, 1)
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        # The reader's open transaction holds a lock on the table its cursor reads.
        ended = conn.execute(
            "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l "
            "JOIN pg_class c ON c.oid = l.relation WHERE c.relname = %s "
            "AND l.pid <> pg_backend_pid()",
            [table],
        ).fetchone()
    assert ended and ended[0] == 1


def test_a_failure_after_the_headers_cuts_the_answer_visibly(
    live: tuple[LiveServer, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, dataset_id, engine = live
    url = f"{server.url}/api/views/{dataset_id}/rows.json"
    # DuckDB fails on the last row's round(); PostgreSQL reads plain columns, then loses them.
    select = "case_no, round(amount, 1) AS r" if engine == "duckdb" else "case_no, amount"
    received = bytearray()
    with (
        caplog.at_level(logging.WARNING, logger="blotter.api.responses"),
        httpx.stream("GET", url, params={"$select": select}) as answer,
    ):
        assert answer.status_code == 200  # the answer had started
        assert answer.headers["transfer-encoding"] == "chunked"
        chunks = answer.iter_bytes()
        received += next(chunks)
        if engine == "postgres":
            _end_the_reading_connection(dataset_id)
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in chunks:
                received += chunk
    assert len(received) > WHOLE_ANSWER_BYTES
    with pytest.raises(json.JSONDecodeError):
        json.loads(received)  # what arrived is not a whole answer either
    assert any(
        f"/api/views/{dataset_id}/rows.json cut after" in r.getMessage() for r in caplog.records
    )
    # The server is fine afterwards, and the same rows without the bad one stream whole.
    whole = httpx.get(url, params={"$where": "amount < 1000"}, timeout=120)
    assert whole.status_code == 200 and len(whole.json()) == ROWS - 1
