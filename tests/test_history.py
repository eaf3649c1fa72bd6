"""blotter/history.py's kept counts stay bounded however many versions a server is asked about,
and are kept per store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from blotter import history
from blotter.portal import Portal
from blotter.settings import Settings
from blotter.store import open_store
from tests.portal import PUBLIC


def test_kept_counts_forget_the_oldest_past_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "_KEPT", 3)
    memo: dict[int, str] = {}
    for key in range(10):
        assert history._keep(memo, key, f"v{key}") == f"v{key}"
        assert len(memo) <= 3
    assert memo == {7: "v7", 8: "v8", 9: "v9"}


def test_two_portals_in_one_process_each_record_the_checksums_they_give(
    built_duckdb_portal: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Two copies of one portal hold the same dataset, creation time and version: what the
    process knows of one store's history (here, that a checksum is recorded) is not taken
    for the other's."""
    built, _ = built_duckdb_portal
    stores = []
    try:
        for name in ("first", "second"):
            shutil.copytree(built, tmp_path / name)
            settings = Settings(data_dir=tmp_path / name)
            store = open_store(settings)
            stores.append(store)
            dataset = store.get_dataset(PUBLIC)
            sha = history.checksum(Portal(settings, store), dataset)
            given = store.checksums_given(PUBLIC, dataset.created_at, dataset.version)
            assert [s for s, _ in given] == [sha], name
    finally:
        for store in stores:
            store.close()
