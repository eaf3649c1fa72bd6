"""OpenPoliceData's request shapes, sent by sodapy (the client it uses) to a live Blotter over
the sample datasets, on both engines.

OpenPoliceData reads every Socrata portal the same way: the dataset's metadata, a
``count(*)`` with ``$where=`` (empty when unfiltered), then pages of ``$order=:id`` with
``$limit``/``$offset`` until a page comes back empty; a date filter is a lower-case
``between``, and a column's values come from ``$select=DISTINCT column``. Socrata reads an
empty parameter as an absent one, so Blotter must too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sodapy import Socrata

from blotter.app import create_app
from blotter.model import ColumnType
from blotter.samples import load_samples
from blotter.settings import Settings
from blotter.store import open_store
from tests.conftest import LiveServer, serve_in_thread
from tests.engines import ENGINES, engine_settings

PAGE = 2000


@pytest.fixture(scope="module", params=ENGINES)
def portal(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, LiveServer]]:
    """The sample datasets on each engine, served on loopback."""
    data_dir: Path = tmp_path_factory.mktemp("opd")
    for settings in engine_settings(request.param, data_dir):
        store = open_store(settings)
        try:
            load_samples(store)
        finally:
            store.close()
        for live in serve_in_thread(create_app(settings)):
            yield settings, live


@pytest.fixture(scope="module")
def client(portal: tuple[Settings, LiveServer]) -> Iterator[Socrata]:
    domain = portal[1].url.removeprefix("http://")
    adapter = {"prefix": "http://", "adapter": requests.adapters.HTTPAdapter()}
    socrata = Socrata(domain, None, timeout=60, session_adapter=adapter)
    yield socrata
    socrata.close()


def _datasets(settings: Settings) -> list[tuple[str, str | None]]:
    """(id, first date column or None) of every sample dataset."""
    store = open_store(settings)
    try:
        found = []
        for dataset in store.list_datasets():
            dates = [c for c in dataset.columns if c.type is ColumnType.FLOATING_TIMESTAMP]
            found.append((dataset.id, dates[0].field_name if dates else None))
        return found
    finally:
        store.close()


def _count(client: Socrata, dataset_id: str, where: str) -> int:
    rows = client.get(dataset_id, where=where, select="count(*)")
    return int(float(rows[0]["count"]))


def _load(client: Socrata, dataset_id: str, where: str) -> list[dict[str, Any]]:
    """Pages of :id order until an empty one, as OpenPoliceData loads a table."""
    rows: list[dict[str, Any]] = []
    while True:
        page = client.get(
            dataset_id, where=where, limit=PAGE, offset=len(rows), select=None, order=":id"
        )
        if not page:
            return rows
        rows.extend(page)


def test_every_sample_dataset_is_counted_and_loaded_whole(
    portal: tuple[Settings, LiveServer], client: Socrata
) -> None:
    datasets = _datasets(portal[0])
    assert len(datasets) >= 5
    for dataset_id, _ in datasets:
        meta = client.get_metadata(dataset_id)
        assert meta["id"] == dataset_id
        count = _count(client, dataset_id, "")  # sodapy sends `$where=`
        rows = _load(client, dataset_id, "")
        assert count > 0 and len(rows) == count, dataset_id
        # With :id paging no row repeats and none is dropped.
        ids = [r[":id"] for r in client.get(dataset_id, select=":id", order=":id", limit=50000)]
        assert len(set(ids)) == len(ids) == count


def test_a_lower_case_between_filters_by_date_as_loaded(
    portal: tuple[Settings, LiveServer], client: Socrata
) -> None:
    dated = [(d, f) for d, f in _datasets(portal[0]) if f is not None]
    assert dated
    for dataset_id, field in dated:
        assert field is not None
        everything = _load(client, dataset_id, "")
        stamps = sorted(r[field] for r in everything if field in r)
        start, stop = stamps[len(stamps) // 4][:10], stamps[3 * len(stamps) // 4][:10]
        where = f"{field} between '{start}T00:00:00' and '{stop}T23:59:59'"
        low, high = datetime.fromisoformat(start), datetime.fromisoformat(f"{stop}T23:59:59")
        expected = [
            r for r in everything if field in r and low <= datetime.fromisoformat(r[field]) <= high
        ]
        assert 0 < len(expected) < len(everything)
        assert _count(client, dataset_id, where) == len(expected), dataset_id
        assert _load(client, dataset_id, where) == expected


def test_distinct_values_of_a_column(client: Socrata) -> None:
    rows = client.get("e2x9-2kgt", select="DISTINCT subject_race", where="")
    everything = _load(client, "e2x9-2kgt", "")
    assert [r.get("subject_race") for r in rows] == sorted(
        {r.get("subject_race") for r in everything}, key=lambda v: (v is None, v or "")
    )


@pytest.mark.parametrize("name", ["$where", "$order", "$select", "$group", "$having", "$q"])
@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_parameter_is_an_absent_one(
    portal: tuple[Settings, LiveServer], name: str, value: str
) -> None:
    url = f"{portal[1].url}/resource/e2x9-2kgt.json"
    plain = requests.get(url, params={"$limit": "5"}, timeout=30)
    empty = requests.get(url, params={"$limit": "5", name: value}, timeout=30)
    assert plain.status_code == empty.status_code == 200, empty.text
    assert empty.json() == plain.json()


@pytest.mark.parametrize(
    "path",
    [
        "/resource/e2x9-2kgt.csv",
        "/resource/e2x9-2kgt.geojson",
        "/api/views/e2x9-2kgt/rows.csv",
    ],
)
def test_empty_parameters_on_every_format(portal: tuple[Settings, LiveServer], path: str) -> None:
    params = {"$where": "", "$order": " ", "$select": "", "$q": ""}
    plain = requests.get(f"{portal[1].url}{path}", timeout=30)
    empty = requests.get(f"{portal[1].url}{path}", params=params, timeout=30)
    assert plain.status_code == empty.status_code == 200, empty.text
    assert empty.content == plain.content


def test_soda3_reads_empty_parameters_as_absent(portal: tuple[Settings, LiveServer]) -> None:
    base = f"{portal[1].url}/api/v3/views/e2x9-2kgt/query.json"
    plain = requests.get(base, params={"pageSize": "5"}, timeout=30)
    empty = requests.get(base, params={"query": " ", "pageSize": "5", "pageNumber": ""}, timeout=30)
    posted = requests.post(base, json={"query": "", "page": {"pageSize": 5}}, timeout=30)
    assert plain.status_code == empty.status_code == posted.status_code == 200, empty.text
    assert empty.json() == plain.json() == posted.json()
