"""Real sample rows in both engines, and the same rows as plain Python for answer keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from blotter.ingest.pipeline import load_file, prepare
from blotter.ingest.spec import load_spec_file
from blotter.settings import Settings
from blotter.store import Store, open_store
from tests.engines import ENGINES, engine_settings

SAMPLES = Path(__file__).parents[2] / "blotter" / "samples"
FORCE, CALLS = "e2x9-2kgt", "tkpk-clls"


def python_rows(spec_name: str) -> list[dict[str, Any]]:
    """The published rows as dicts, read by the ingest layer, never by the SoQL compiler."""
    spec = load_spec_file(SAMPLES / spec_name)
    table = pa.Table.from_batches(list(prepare(spec.source_path(), spec).batches()))  # type: ignore[arg-type]
    rows = table.to_pylist()
    for i, row in enumerate(rows, start=1):
        row[":id"] = i
        for key in [k for k in row if k.endswith("_lon") and k.startswith("_")]:
            name = key[1:-4]
            lon, lat = row.pop(key), row.pop(f"_{name}_lat")
            row[name] = None if lon is None else (lon, lat)
    return rows


@pytest.fixture(scope="session")
def force_rows() -> list[dict[str, Any]]:
    return python_rows("use_of_force.yaml")


@pytest.fixture(scope="session")
def call_rows() -> list[dict[str, Any]]:
    return python_rows("calls_for_service.yaml")


@pytest.fixture(scope="module", params=ENGINES)
def soql_portal(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, Settings]]:
    for settings in engine_settings(request.param, tmp_path_factory.mktemp("soql")):
        store = open_store(settings)
        for name in ("use_of_force.yaml", "calls_for_service.yaml"):
            spec = load_spec_file(SAMPLES / name)
            load_file(store, spec.source_path(), spec=spec)  # type: ignore[arg-type]
        yield store, settings
        store.close()
