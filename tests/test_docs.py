"""Docs that cannot drift: every setting and every error code is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from blotter.errors import BlotterError, all_error_classes
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
