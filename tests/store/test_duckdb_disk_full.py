"""A DuckDB write that finds no room on disk answers 503 store.short-of-resources with
Retry-After, keeps nothing of itself, and leaves the published version served and writable.

The disk is filled for real, in a process of its own: its file-size limit (``ulimit -f``,
``RLIMIT_FSIZE``) is set just above the database's files before a replace of 20,000 rows, so
the system refuses to grow them (``File too large``) as a full disk refuses (``No space left
on device``); both reach DuckDB as the same failed write."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from blotter.app import create_app
from blotter.errors import StoreShortOfResources
from blotter.settings import Settings
from blotter.store import open_store
from blotter.store.duckdb_watchdog import engine_error, out_of_room
from tests.fresh_python import fresh_python
from tests.portal import PUBLIC

SCRIPT = """
import json, resource, secrets, signal
from pathlib import Path

from fastapi.testclient import TestClient

from blotter.settings import Settings
from blotter.store import open_store
from tests.portal import PUBLIC, build

data = Path({data!r})
settings = Settings(data_dir=data)
store = open_store(settings)
portal = build(store, settings)
client = TestClient(portal.client.app, raise_server_exceptions=False)
writer = {{"X-App-Token": portal.tokens["write_public"]}}


def served():
    count = client.get(f"/resource/{{PUBLIC}}.json", params={{"$select": "count(*) AS n"}})
    versions = client.get(f"/api/views/{{PUBLIC}}/versions.json").json()
    return {{"rows": count.json()[0]["n"], "versions": versions["total"]}}


before = served()
rows = [
    {{"case_no": f"z{{i}}", "offense": secrets.token_hex(200), "age": i % 90}}
    for i in range(20_000)
]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write fails; it does not kill
room = sum(f.stat().st_size for f in data.iterdir() if f.is_file()) + (1 << 20)
resource.setrlimit(resource.RLIMIT_FSIZE, (room, resource.RLIM_INFINITY))
refused = client.put(f"/resource/{{PUBLIC}}.json", json=rows, headers=writer)
after = served()
# No room at all: a read of internal data cannot be written to the audit log (its commit
# cannot write the database's log), so it is refused, as a full disk.
resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
reader = {{"X-App-Token": portal.tokens["read_internal"]}}
read = client.get(f"/resource/{{PUBLIC}}.json", headers=reader)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
small = client.post(
    f"/resource/{{PUBLIC}}.json",
    json=[{{"case_no": "c9", "offense": "theft", "age": 20}}],
    headers=writer,
)
print(json.dumps({{
    "status": refused.status_code,
    "retry_after": refused.headers.get("retry-after"),
    "error": refused.json(),
    "before": before,
    "after": after,
    "read": [read.status_code, read.json().get("code")],
    "small": small.status_code,
    "then": served(),
}}))
store.close()
"""


def test_a_write_that_finds_the_disk_full_is_a_503_and_keeps_the_served_version(
    tmp_path: Path,
) -> None:
    said = json.loads(fresh_python(textwrap.dedent(SCRIPT.format(data=str(tmp_path)))))
    assert said["status"] == 503, said
    assert said["retry_after"] == "60"
    assert said["error"]["code"] == "store.short-of-resources"
    assert "disk is full" in said["error"]["message"]
    assert "nothing it would have changed was kept" in said["error"]["message"]
    # Nothing of the refused replace is kept: the same rows and versions as before.
    assert said["after"] == said["before"] == {"rows": "3", "versions": 1}
    # An internal read is never unaudited: with no room for the audit entry it is refused.
    assert said["read"] == [503, "store.short-of-resources"]
    # The database stays usable: with room again, a small write goes through as the next
    # version.
    assert said["small"] == 200
    assert said["then"] == {"rows": "4", "versions": 2}


@pytest.mark.parametrize(
    ("err", "no_room"),
    [
        (duckdb.IOException('Could not write file "x.wal": No space left on device'), True),
        (duckdb.TransactionException("Failed to commit: ...: File too large"), True),
        (duckdb.IOException('Could not write file "x": Disk quota exceeded'), True),
        (duckdb.IOException('Cannot open file "x": Permission denied'), False),
        (duckdb.BinderException("No space left on device"), False),  # not a failed write
    ],
)
def test_only_a_write_refused_for_room_is_told_as_a_full_disk(
    err: duckdb.Error, no_room: bool
) -> None:
    assert isinstance(out_of_room(err), StoreShortOfResources) is no_room


def test_a_read_whose_spill_finds_no_room_is_told_so() -> None:
    spill = duckdb.IOException('Could not write file "duckdb.tmp/spill": No space left on device')
    assert isinstance(engine_error(spill), StoreShortOfResources)


def test_writes_are_refused_while_the_disk_is_under_its_reserve_and_reads_go_on(
    built_duckdb_portal: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A reserve larger than the disk's free space (the disk as the store sees it, read for
    real): the metadata edit DuckDB would die on, a publish and an upsert are each refused
    before DuckDB is asked, with nothing changed; public reads go on."""
    built, tokens = built_duckdb_portal
    shutil.copytree(built, tmp_path, dirs_exist_ok=True)
    free_mb = shutil.disk_usage(tmp_path).free >> 20
    settings = Settings(data_dir=tmp_path, duckdb_min_free_mb=free_mb + 1024)
    store = open_store(settings)
    try:
        client = TestClient(create_app(settings, store=store))
        writer = {"X-App-Token": tokens["write_public"]}
        manager = {"X-App-Token": tokens["manage_public"]}
        refused = [
            client.patch(f"/api/views/{PUBLIC}.json", json={"name": "Renamed"}, headers=manager),
            client.put(f"/resource/{PUBLIC}.json", json=[{"case_no": "z1"}], headers=writer),
            client.post(f"/resource/{PUBLIC}.json", json=[{"case_no": "z2"}], headers=writer),
        ]
        for answer in refused:
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "60"
            assert answer.json()["code"] == "store.short-of-resources"
            assert "MB it keeps in reserve, so nothing was written" in answer.json()["message"]
        view = client.get(f"/api/views/{PUBLIC}.json").json()
        assert view["name"] == PUBLIC
        rows = client.get(f"/resource/{PUBLIC}.json")
        assert rows.status_code == 200 and len(rows.json()) == 3
        # A token whose first use cannot be recorded still lets its request through when it
        # reads no rows (the catalog): the record is bookkeeping, not the request.
        listed = client.get("/api/views.json", headers={"X-App-Token": tokens["admin"]})
        assert listed.status_code == 200 and PUBLIC in {v["id"] for v in listed.json()}
        # A read of internal columns is never left unaudited: with no room for its entry,
        # it is refused too.
        internal = client.get(f"/resource/{PUBLIC}.json", headers=writer)
        assert internal.status_code == 503
    finally:
        store.close()
