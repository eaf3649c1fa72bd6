"""Docs that cannot drift: every setting, error code and dataset-file key is documented, and
the README's performance tables are the results file they cite."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from bench.report import cited, load, markdown
from blotter.errors import BlotterError, all_error_classes
from blotter.ingest.spec import ColumnSpec, DatasetSpec
from blotter.settings import Settings

DOCS = Path(__file__).parents[1] / "docs"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"`BLOTTER_{name.upper()}`" in (DOCS / "configuration.md").read_text()


@pytest.mark.parametrize(
    "code", sorted({c.code for c in all_error_classes() if c is not BlotterError})
)
def test_every_api_error_code_is_documented(code: str) -> None:
    assert f"`{code}`" in (DOCS / "api.md").read_text()


def test_every_soql_function_is_documented() -> None:
    from blotter.soql.functions import FUNCTIONS

    text = (DOCS / "api.md").read_text()
    missing = [name for name in FUNCTIONS if f"| `{name}` |" not in text]
    assert not missing


def documented_keys(section: str) -> set[str]:
    """The keys in the first cells of a section's tables in docs/dataset-files.md."""
    text = (DOCS / "dataset-files.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^\| ([^|]+) \|", body, re.M)
    return {key for cell in cells for key in re.findall(r"`(\w+)`", cell)}


def file_fields(model: type[BaseModel]) -> set[str]:
    """The keys a dataset file may hold; a field the loader sets (excluded) is not one."""
    return {name for name, info in model.model_fields.items() if not info.exclude}


@pytest.mark.parametrize(
    ("section", "model"), [("Top level", DatasetSpec), ("Columns", ColumnSpec)]
)
def test_the_dataset_file_reference_matches_the_spec_model(
    section: str, model: type[BaseModel]
) -> None:
    documented = documented_keys(section)
    assert file_fields(model) - documented == set(), "undocumented"
    assert documented - file_fields(model) == set(), "documented, but not in the model"


@pytest.mark.parametrize("key", ["reader", "benchmark", "activity"])
def test_the_parts_of_a_nested_key_are_documented_in_its_row(key: str) -> None:
    text = (DOCS / "dataset-files.md").read_text()
    (row,) = re.findall(rf"^\| `{key}` \|(.*)$", text, re.M)
    nested = DatasetSpec.model_fields[key].annotation
    model = next(t for t in typing.get_args(nested) or (nested,) if issubclass(t, BaseModel))
    assert file_fields(model) - set(re.findall(r"`(\w+)`", row)) == set()


def test_the_readme_performance_figures_are_the_results_file_it_cites() -> None:
    """The README's tables are `python -m bench.report FILE [FLOORS]` of the files it links,
    verbatim."""
    readme = (DOCS.parent / "README.md").read_text()
    results, floors = cited(readme)
    printed = markdown(load(DOCS.parent / results, floors and DOCS.parent / floors))
    missing = [line for line in printed.splitlines() if line and line not in readme.splitlines()]
    assert not missing, (
        f"lines `python -m bench.report {results} {floors or ''}` prints that the README lacks:\n"
        + "\n".join(missing)
    )
    assert printed in readme
