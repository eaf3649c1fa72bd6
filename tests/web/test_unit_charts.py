"""Charts count units (incidents), on both engines: a quarter's line per value counts an
incident once even when its rows fall in two months of the quarter, and a cross-tab counts
each value of a list column once per incident, never a cell's combination of values."""

from __future__ import annotations

from pathlib import Path

from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.model import Dataset
from blotter.portal import Portal
from blotter.settings import Settings
from blotter.store import Store
from blotter.web.charts import count_by, crosstab, over_time

ROWS = """case,at,kind
c1,2020-01-30T10:00:00,theft
c1,2020-02-02T09:00:00,theft
c2,2020-02-10T08:00:00,theft
c3,2020-04-01T08:00:00,assault
"""
SPEC = """name: Incidents
units:
  - {name: incidents, key: case, noun: incidents}
columns:
  - {field: case, source: case}
  - {field: at, source: at, type: floating_timestamp}
  - {field: kind, source: kind}
"""


def _loaded(
    store: Store, settings: Settings, tmp_path: Path, rows: str, spec: str
) -> tuple[Dataset, Portal]:
    """``rows`` published with the dataset file ``spec``, and a portal over the store."""
    (tmp_path / "rows.csv").write_text(rows)
    (tmp_path / "spec.yaml").write_text(spec)
    result = load_file(store, tmp_path / "rows.csv", spec=load_spec_file(tmp_path / "spec.yaml"))
    return store.get_dataset(result.dataset_id), Portal(settings, store)


def test_a_split_quarter_counts_an_incident_spanning_two_months_once(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    dataset, portal = _loaded(engine_store, engine_config, tmp_path, ROWS, SPEC)
    at, kind = dataset.column("at"), dataset.column("kind")
    assert at is not None and kind is not None
    chart = over_time(portal, dataset, None, at, "quarter", kind)
    by_quarter = {row[0]: dict(zip(chart.headers[1:], row[1:], strict=True)) for row in chart.rows}
    assert by_quarter["2020 Q1"]["theft"] == "2"  # c1 (January and February) and c2
    assert by_quarter["2020 Q2"]["assault"] == "1"
    unsplit = over_time(portal, dataset, None, at, "quarter", None)
    assert [row[1] for row in unsplit.rows] == ["2", "1"]


LISTED = """case,kinds,race
c1,theft; assault,white
c1,theft; assault,white
c2,theft,white
c3,assault,black
"""
LISTED_SPEC = """name: Incidents
units:
  - {name: incidents, key: case, noun: incidents}
columns:
  - {field: case, source: case}
  - {field: kinds, source: kinds, split: ";"}
  - {field: race, source: race}
"""


def test_a_crosstab_counts_each_value_of_a_list_column_once_per_incident(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    dataset, portal = _loaded(engine_store, engine_config, tmp_path, LISTED, LISTED_SPEC)
    kinds, race = dataset.column("kinds"), dataset.column("race")
    assert kinds is not None and race is not None and kinds.separator is not None
    for down, across in ((kinds, race), (race, kinds)):
        chart = crosstab(portal, dataset, None, down, across)
        cells = {
            (row[0], column): value
            for row in chart.rows
            for column, value in zip(chart.headers[1:], row[1:], strict=True)
        }
        pairs = {("theft", "white"): "2", ("assault", "white"): "1", ("assault", "black"): "1"}
        for (kind, who), n in pairs.items():
            key = (kind, who) if down is kinds else (who, kind)
            assert cells.get(key) == n, (key, chart.headers, chart.rows)
        assert not any(
            "; " in str(label) for label in [*chart.headers, *(r[0] for r in chart.rows)]
        )


# c1 records a kind for one row, none for another and UNK for a third: it counts under
# theft, (not recorded) and Unknown alike; c2 records none, c3 only UNK.
MIXED = """case,kind
c1,theft
c1,
c1,UNK
c2,
c3,UNK
c4,assault
"""
MIXED_SPEC = """name: Incidents
units:
  - {name: incidents, key: case, noun: incidents}
columns:
  - {field: case, source: case}
  - {field: kind, source: kind, unknown_values: [UNK]}
"""


def test_a_caption_never_adds_up_bars_that_count_one_incident_twice(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    dataset, portal = _loaded(engine_store, engine_config, tmp_path, MIXED, MIXED_SPEC)
    kind = dataset.column("kind")
    assert kind is not None
    chart = count_by(portal, dataset, None, kind)
    bars = {row[0]: row[1] for row in chart.rows}
    assert bars["(not recorded)"] == "2" and bars["theft"] == "1"  # c1 and c2; c1
    # The unknown bars hold c1 twice: 4 would count it twice, 3 is no bar's own count.
    assert "unknown or not recorded" in chart.description
    assert not any(f" {n} incidents with it unknown" in chart.description for n in (3, 4))
    assert "with several values counts under each" in chart.description
    # Only the not-recorded cells: one bar, its own exact count.
    only_nulls = count_by(portal, dataset, "kind != 'UNK' OR kind IS NULL", kind)
    assert "2 incidents with it unknown or not recorded" in only_nulls.description
