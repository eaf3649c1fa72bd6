"""Answers over a real server under many clients: small ones whole, large ones streamed, and
no pile-up of streams and waiting requests, whatever the engine's connection pool."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pyarrow as pa
import pytest

from blotter.api.responses import WHOLE_ANSWER_BYTES
from blotter.app import create_app
from blotter.model import Column, ColumnType, DatasetMeta
from blotter.store import open_store
from tests.conftest import LiveServer, serve_in_thread
from tests.engines import ENGINES, engine_settings

ROWS = 6_000
COLUMNS = [
    Column(field_name="offense", name="Offense", type=ColumnType.TEXT),
    Column(field_name="narrative", name="Narrative", type=ColumnType.TEXT),
]


@pytest.fixture(scope="module", params=ENGINES)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str]]:
    for settings in engine_settings(request.param, tmp_path_factory.mktemp("stream")):
        store = open_store(settings)
        ds = store.create_dataset(DatasetMeta(name="Many rows"), COLUMNS)
        offenses = [f"offense {n % 7}" for n in range(ROWS)]
        text = [f"row {n}: " + "words " * 12 for n in range(ROWS)]
        store.publish(ds.id, COLUMNS, [pa.record_batch({"offense": offenses, "narrative": text})])
        store.close()
        unthrottled = settings.model_copy(update={"throttle_anonymous_per_minute": 0})
        yield from ((server, ds.id) for server in serve_in_thread(create_app(unthrottled)))


def test_small_answers_are_whole_and_large_ones_stream(live: tuple[LiveServer, str]) -> None:
    server, dataset_id = live
    small = httpx.get(f"{server.url}/resource/{dataset_id}.json", params={"$select": "count(*)"})
    assert small.status_code == 200 and small.json() == [{"count": str(ROWS)}]
    assert small.headers["content-length"] == str(len(small.content))
    with httpx.stream("GET", f"{server.url}/api/views/{dataset_id}/rows.json") as big:
        assert big.status_code == 200
        assert "content-length" not in big.headers
        assert big.headers["transfer-encoding"] == "chunked"
        body = big.read()
    assert len(body) > WHOLE_ANSWER_BYTES
    assert len(httpx.Response(200, content=body).json()) == ROWS


def test_many_streams_and_small_queries_at_once_all_finish(live: tuple[LiveServer, str]) -> None:
    """More concurrent exports than the PostgreSQL pool has connections, with small queries
    between them: every request is answered, none waits out the pool's timeout."""
    server, dataset_id = live

    def export(_: int) -> int:
        with httpx.Client(timeout=60) as client:
            response = client.get(f"{server.url}/api/views/{dataset_id}/rows.csv")
            assert response.status_code == 200, response.text[:300]
            return response.text.count("\n")

    def grouped(_: int) -> int:
        with httpx.Client(timeout=60) as client:
            params = {"$select": "offense, count(*)", "$group": "offense"}
            response = client.get(f"{server.url}/resource/{dataset_id}.json", params=params)
            assert response.status_code == 200, response.text[:300]
            return len(response.json())

    with ThreadPoolExecutor(max_workers=48) as pool:
        exports = [pool.submit(export, n) for n in range(24)]
        groups = [pool.submit(grouped, n) for n in range(48)]
        assert [f.result(timeout=120) for f in exports] == [ROWS + 1] * 24
        assert [f.result(timeout=120) for f in groups] == [7] * 48


def test_a_client_leaving_mid_stream_frees_its_connection(live: tuple[LiveServer, str]) -> None:
    server, dataset_id = live
    for _ in range(12):  # more than the pool's connections, were any kept
        with httpx.stream("GET", f"{server.url}/api/views/{dataset_id}/rows.json") as response:
            next(response.iter_bytes(1024))
    answer = httpx.get(
        f"{server.url}/resource/{dataset_id}.json", params={"$limit": "1"}, timeout=20
    )
    assert answer.status_code == 200


def test_a_client_leaving_the_first_whole_export_leaves_no_partial_file(
    live: tuple[LiveServer, str],
) -> None:
    """The first whole export streams while its file is written; cut short, the file is
    either whole (the server had sent it all into the socket) or not there, never partial."""
    server, dataset_id = live
    folder = server.app.state.portal.settings.data_dir / "exports"
    shutil.rmtree(folder, ignore_errors=True)
    url = f"{server.url}/api/views/{dataset_id}/rows.csv"
    with httpx.stream("GET", url) as response:
        assert "accept-ranges" not in response.headers  # streamed: no file yet
        next(response.iter_bytes(1024))
    deadline = time.monotonic() + 10
    while list(folder.glob(".*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(folder.glob(".*.tmp"))
    left = list(folder.glob("*.csv"))
    whole = httpx.get(url, timeout=60)
    assert whole.text.count("\n") == ROWS + 1
    assert all(path.read_bytes() == whole.content for path in left)
    (written,) = folder.glob("*.csv")
    assert written.read_bytes() == whole.content
    again = httpx.get(url, timeout=60)
    assert again.headers["accept-ranges"] == "bytes" and again.content == whole.content
