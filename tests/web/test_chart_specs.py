"""Every kind of chart the pages draw is valid Vega-Lite, rows included: the server writes
its specs without Altair's checks (``chart_drawing.unchecked_altair``), so they are checked
here, against the schema Altair bundles, on the sample datasets."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import validators

from blotter.app import create_app
from blotter.settings import Settings
from blotter.web import kept_drawings
from blotter.web.drawing_process import vegalite_to_svg as draw
from tests.conftest import with_samples

# Each kind of chart at least once: bars, lines (split or not, by quarter and year), a
# cross-tab, maps (points, cells, boundary, areas), hotspots and density, hour × weekday,
# year on year, dashboards and the events' calendar.
PAGES = [
    "/datasets/e2x9-2kgt",
    "/datasets/e2x9-2kgt?chart.by=force_category&chart.period=quarter"
    "&chart.split=subject_race&chart.down=subject_race&chart.across=arrested",
    "/datasets/e2x9-2kgt?subject_race=black&chart.period=year&chart.split=subject_sex"
    "&chart.down=force_category&chart.across=arrested",
    "/datasets/tkpk-clls",
    "/datasets/tkpk-clls?chart.hotspots=250&location__area=Ward+4",
    "/datasets/tkpk-stps",
    "/datasets/tkpk-rrst",
    "/datasets/rtcm-ngmt",
    "/dashboards/e2x9-2kgt",
    "/dashboards/rtcm-ngmt",
    "/dashboards/tkpk-clls",
    "/datasets/rtcm-ngmt/calendar",
    "/datasets/tkpk-clls/when?call_type=Traffic+Stop",
]
_EMBEDDED = re.compile(r'<script type="application/json" class="chart-spec">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def drawn(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """The specs the pages handed vl-convert (each drawing, its rows written in) and those
    they embed for the interactive charts, from a portal of its own over the sample
    datasets: one nobody has asked yet, so every page is drawn (the session's portal keeps
    what other tests drew, and a second store on its file would share its database)."""
    data_dir = with_samples(tmp_path_factory.mktemp("chart-specs"))
    handed: list[dict[str, Any]] = []

    def recorded(spec: dict[str, Any], *args: Any, **kwargs: Any) -> str:
        handed.append(copy.deepcopy(spec))
        return draw(spec, *args, **kwargs)

    kept_drawings.forget()  # drawings other tests of this process kept: drawn again here
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kept_drawings, "vegalite_to_svg", recorded)
        embedded: list[dict[str, Any]] = []
        with TestClient(create_app(Settings(data_dir=data_dir))) as client:
            for page in PAGES:
                answer = client.get(page)
                assert answer.status_code == 200, page
                embedded += [json.loads(s) for s in _EMBEDDED.findall(answer.text)]
        yield handed, embedded


def _problems(spec: dict[str, Any]) -> list[str]:
    from altair.vegalite.v6.schema.core import load_schema

    schema = load_schema()
    checker = validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in checker.iter_errors(spec)]


def _marks(spec: dict[str, Any]) -> set[str]:
    marks: set[str] = set()
    mark = spec.get("mark")
    if mark is not None:
        marks.add(mark if isinstance(mark, str) else mark["type"])
    for part in spec.get("layer", []):
        marks |= _marks(part)
    return marks


def test_every_drawing_and_embedded_spec_is_valid_vega_lite(
    drawn: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    handed, embedded = drawn
    # Bars, lines, cross-tabs and heat maps (rect), maps and hotspots (geoshape, circle).
    assert {"bar", "line", "rect", "geoshape", "circle"} <= set().union(*map(_marks, handed))
    assert embedded and len(handed) > len(PAGES)
    for spec in handed + embedded:
        assert _problems(spec) == [], spec.get("title")
        # Each spec carries its rows: inline, or named and given.
        data = [spec.get("data", {})] + [part.get("data", {}) for part in spec.get("layer", [])]
        for named in (d["name"] for d in data if "name" in d):
            assert named in spec.get("datasets", {}), named


def test_the_check_finds_a_spec_made_invalid(
    drawn: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """The check above would fail: a bad encoding type, a bad row set, a bad mark."""
    spec = next(s for s in drawn[1] if "x" in s.get("encoding", {}) and "values" in s["data"])
    assert _problems(spec) == []
    bad_type = copy.deepcopy(spec)
    bad_type["encoding"]["x"]["type"] = "quantitativ"
    bad_rows = copy.deepcopy(spec)
    bad_rows["data"]["values"] = [{"value": "a", "n": 1}, "a row that is not one"]
    bad_mark = {**copy.deepcopy(spec), "mark": {"type": "barr"}}
    for broken in (bad_type, bad_rows, bad_mark):
        assert _problems(broken) != []
