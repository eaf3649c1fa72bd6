"""Fixtures of the ingest tests: the sample dataset files, real data, and small files made here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from blotter.ingest.pipeline import prepare, rules_for
from blotter.ingest.spec import DatasetSpec, load_spec_file
from blotter.store.protect import protect_batches
from tests.paths import SAMPLES


def published(path: Path, spec: DatasetSpec | None = None) -> pa.Table:
    """Every batch ``prepare`` gives for ``path``, as one table (raises ValidationFailed),
    with the dataset file's privacy rules applied as the store applies them."""
    prepared = prepare(path, spec)
    rules = rules_for(prepared, None, True)
    batches = protect_batches(rules, prepared.columns, prepared.batches(), Counter())
    return pa.Table.from_batches(list(batches))


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a small text file into the test's directory and return its path."""

    def writer(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return writer


@pytest.fixture
def spec_of(write: Callable[[str, str], Path]) -> Callable[[str], DatasetSpec]:
    """A dataset file written from YAML text, read back as a spec."""

    def make(text: str) -> DatasetSpec:
        return load_spec_file(write("dataset.yaml", text))

    return make


@pytest.fixture(scope="session")
def rutland() -> tuple[DatasetSpec, pa.Table]:
    """The Rutland use-of-force spec and its published table, read once."""
    spec = load_spec_file(SAMPLES / "use_of_force.yaml")
    assert spec.source_path() is not None
    return spec, published(spec.source_path(), spec)  # type: ignore[arg-type]
