"""The benchmark runs end to end at a tiny size: every system answers every question the
same way. Correctness only: speed is what the benchmark itself reports, never asserted here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench import generate
from bench.questions import by_name, questions
from bench.report import markdown
from bench.run import check_same, main
from tests.engines import TEST_DATABASE_URL, require_postgres

ROWS = 1_500  # its own size, so its databases never meet a developer's `make bench`
SYSTEMS = ("blotter-duckdb", "raw-duckdb", "blotter-postgres", "raw-postgres", "datasette")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_postgres()
    work = tmp_path_factory.mktemp("bench")
    out = work / "results.json"
    args = ["--size", str(ROWS), "--profile", "tiny", "--work", str(work)]
    args += ["--database-url", TEST_DATABASE_URL, "--out", str(out)]
    assert main(args) == 0
    yield json.loads(out.read_text())
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS blotter_bench_{ROWS} WITH (FORCE)")


def test_every_system_answers_every_question(tiny_run: dict[str, Any]) -> None:
    results = tiny_run
    size = results["sizes"][str(ROWS)]
    assert size["checked"] is True  # answers compared across systems (check_same)
    assert set(size["systems"]) == set(SYSTEMS)
    asked = [q.name for q in questions(ROWS) if q.kind != "export"]
    for system in SYSTEMS:
        measured = size["systems"][system]["questions"]
        assert sorted(measured) == sorted(asked), system
        for name in asked:
            assert measured[name]["runs"] >= 3
            assert (
                0
                < measured[name]["min_ms"]
                <= measured[name]["median_ms"]
                <= measured[name]["p95_ms"]
            )


def test_exports_loads_and_ingest_are_measured(tiny_run: dict[str, Any]) -> None:
    results = tiny_run
    systems = results["sizes"][str(ROWS)]["systems"]
    for system in ("blotter-duckdb", "blotter-postgres", "datasette"):
        measured = systems[system]
        assert measured["export"]["bytes"] > 100 * ROWS
        assert measured["export"]["peak_rss_mb"] > 0
        assert measured["ingest"]["rows_per_s"] > 0
        load = measured["load"]
        assert load["clients"] == 64
        assert load["requests"] >= 64
        assert load["errors"] == 0, load["first_error"]
    # Both engines write the same CSV, byte for byte.
    assert (
        systems["blotter-duckdb"]["export"]["bytes"]
        == systems["blotter-postgres"]["export"]["bytes"]
    )
    # The raw floor is Blotter's own SQL.
    assert "ds_bnch_incd_v1" in systems["raw-duckdb"]["questions"]["count_by_category"]["sql"]


def test_the_pages_are_timed_first_and_repeated(tiny_run: dict[str, Any]) -> None:
    """bench/pages.py: each page's first and repeated answers, each judged against 300 ms."""
    systems = tiny_run["sizes"][str(ROWS)]["systems"]
    for system in ("blotter-duckdb", "blotter-postgres"):
        pages = systems[system]["pages"]
        assert pages["target_ms"] == 300
        assert len(pages["pages"]) == 7, system
        for name, got in pages["pages"].items():
            for kind in ("first_ms", "repeated_ms"):
                timed = got[kind]
                assert 0 < timed["min"] <= timed["median"] <= timed["max"], (system, name)
            assert got["met"] == (got["first_ms"]["median"] <= 300)
            assert got["met_repeated"] == (got["repeated_ms"]["median"] <= 300)


def test_machine_and_targets_are_reported(tiny_run: dict[str, Any]) -> None:
    results = tiny_run
    assert results["machine"]["cores"] >= 1
    assert results["machine"]["datasette"] != "not installed"
    targets = results["targets"]
    assert {t["target"] for t in targets} >= {
        "count_by_category on DuckDB ≤ 1.3× raw + 2 ms",
        "ingest of a typed CSV on DuckDB",
        "point lookup on PostgreSQL vs Datasette",
    }
    for target in targets:
        assert isinstance(target["met"], bool)
        assert (target["by"] is None) == target["met"]


def test_the_report_has_every_question_and_the_export_rate(tiny_run: dict[str, Any]) -> None:
    results = tiny_run
    text = markdown(results)
    assert f"**{ROWS:,} rows**" in text
    for question in questions(ROWS):
        if question.kind != "export":
            assert f"| {question.label} |" in text
    duckdb_export = results["sizes"][str(ROWS)]["systems"]["blotter-duckdb"]["export"]
    assert f"| full CSV export, MB/s | {duckdb_export['mb_per_s']:.0f} |" in text


def test_answers_that_differ_stop_the_run() -> None:
    asked = questions(ROWS)
    counts = [{"call_type": "415C", "n": "12"}, {"call_type": "933R", "n": "3"}]
    same = [{"call_type": "415C", "n": 12}, {"call_type": "933R", "n": 3.0}]
    check_same("same", asked, {"count_by_category": counts}, {"count_by_category": same})
    wrong = [{"call_type": "415C", "n": 12}, {"call_type": "933R", "n": 4}]
    with pytest.raises(AssertionError, match="Count by category"):
        check_same("wrong", asked, {"count_by_category": counts}, {"count_by_category": wrong})
    months = {"monthly_trend": [{"month": "2015-01-01T00:00:00.000", "n": "5"}]}
    sqlite = {"monthly_trend": [{"month": "2015-01", "n": 5}]}
    check_same("months", asked, months, sqlite)


def test_distance_counts_may_differ_at_the_edge_only() -> None:
    asked = questions(ROWS)
    check_same(
        "edge", asked, {"within_distance": [{"n": "1000"}]}, {"within_distance": [{"n": 1001}]}
    )
    with pytest.raises(AssertionError):
        check_same(
            "far", asked, {"within_distance": [{"n": "1000"}]}, {"within_distance": [{"n": 1100}]}
        )


def test_generated_rows_are_deterministic_and_shaped_like_the_real_calls(tmp_path: Path) -> None:
    templates = generate.load_templates()
    first = next(generate.batches(3_000, seed=7, templates=templates))
    again = next(generate.batches(3_000, seed=7, templates=templates))
    other = next(generate.batches(3_000, seed=8, templates=templates))
    assert first.equals(again)
    assert not first.equals(other)
    rows = first.to_pylist()
    assert [r["id"] for r in rows] == list(range(1, 3_001))
    real_types = set(templates.call_type.to_pylist())
    assert {r["call_type"] for r in rows} <= real_types
    assert all(2015 <= r["received_at"].year <= 2024 for r in rows)
    unlocated = sum(r["latitude"] is None for r in rows) / len(rows)
    assert 0.06 < unlocated < 0.11
    located = [r for r in rows if r["latitude"] is not None]
    assert all(37.6 < r["latitude"] < 37.9 and -122.4 < r["longitude"] < -122.1 for r in located)
    assert all(r["narrative"].endswith(".") and " reported near " in r["narrative"] for r in rows)
    path = generate.write_csv(tmp_path / "a.csv", 3_000, seed=7)
    assert path.read_bytes() == generate.write_csv(tmp_path / "b.csv", 3_000, seed=7).read_bytes()


def test_questions_name_their_datasette_twin() -> None:
    asked = by_name(ROWS)
    for question in asked.values():
        assert question.sqlite or question.sqlite_path, question.name
    assert asked["point_lookup"].soql == {"id": str(ROWS - ROWS // 7)}
