"""The benchmark runs end to end at a tiny size: every system answers every question the
same way. Correctness only: speed is what the benchmark itself reports, never asserted here."""

from __future__ import annotations

import itertools
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
from bench.targets import EXPORT_KINDS
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
    # Blotter's questions are computed anew, as the other systems' are: no kept answers.
    for system in ("blotter-duckdb", "blotter-postgres"):
        env = size["systems"][system]["setup"]["server_env"]
        assert env["BLOTTER_ANSWER_CACHE_ENTRIES"] == "0", system
    asked = [q.name for q in questions(ROWS) if q.kind != "export"]
    for system in SYSTEMS:
        measured = size["systems"][system]["questions"]
        assert sorted(measured) == sorted(asked), system
        for name in asked:
            m = measured[name]
            assert m["runs"] >= 3
            assert 0 < m["min_ms"] <= m["q1_ms"] <= m["median_ms"] <= m["q3_ms"] <= m["max_ms"]
            assert m["median_ms"] <= m["p95_ms"] <= m["max_ms"]
    # Every system saw the same rows: the missing word finds none, the common one more than
    # the rare one, on every system.
    found = {system: size["systems"][system]["questions"] for system in SYSTEMS}
    for system, measured in found.items():
        assert measured["text_search_missing"]["rows"] == 0, system
        assert measured["text_search"]["rows"] > measured["text_search_rare"]["rows"], system
        assert measured["within_distance"]["rows"] == 1, system


def test_datasette_is_indexed_as_a_careful_user_would_and_its_plans_use_it(
    tiny_run: dict[str, Any],
) -> None:
    setup = tiny_run["sizes"][str(ROWS)]["systems"]["datasette"]["setup"]
    schema = "\n".join(setup["schema"])
    for index in ("idx_incidents_district_status", "idx_incidents_received_at"):
        assert index in schema
    assert "USING rtree" in schema and "USING FTS5" in schema
    # The cache Datasette's own connections run with, read back through Datasette.
    assert setup["pragma_cache_size"] == -setup["cache_size_kb"] == -300_000
    plans = setup["plans"]
    assert set(plans) == {q.name for q in questions(ROWS) if q.kind != "export"}
    for name, plan in plans.items():
        assert plan["uses"], (name, plan)
    assert any("incidents_rtree" in line for line in plans["within_distance"]["plan"])
    assert any("idx_incidents_district_status" in line for line in plans["cross_tab"]["plan"])


def test_postgres_settings_and_blotter_indexes_are_recorded(tiny_run: dict[str, Any]) -> None:
    setup = tiny_run["sizes"][str(ROWS)]["systems"]["raw-postgres"]["setup"]
    assert setup["settings"]["work_mem"] == "64MB"
    assert setup["settings"]["jit"] == "off"
    assert "shared_buffers" in setup["settings"]
    # The row identifier's index, which Blotter's store creates for every version.
    assert any("(id)" in index for index in setup["indexes"])
    assert any("Index" in line for line in setup["plans"]["point_lookup"])


def test_exports_loads_and_ingest_are_measured(tiny_run: dict[str, Any]) -> None:
    results = tiny_run
    systems = results["sizes"][str(ROWS)]["systems"]
    kinds = {"blotter-duckdb": {"first", "repeat", "filtered"}, "datasette": {"whole"}}
    kinds["blotter-postgres"] = kinds["blotter-duckdb"]
    for system, asked in kinds.items():
        measured = systems[system]
        assert set(measured["export"]) == asked
        for figures in measured["export"].values():
            assert figures["peak_rss_mb"] > 0
            assert figures["mb_per_s"] == figures["bytes"] / 1e6 / figures["seconds"]
        assert measured["ingest"]["rows_per_s"] > 0
        load = measured["load"]
        assert load["clients"] == 64
        assert load["requests"] >= 1
        assert load["errors"] == 0, load["first_error"]
        assert load["distinct_requests"] > 1_000  # every request its own parameters
    # The lines of each export (checked by the run against the generated CSV): every row,
    # and the rows of district 3, counted here from the CSV itself.
    whole = systems["datasette"]["export"]["whole"]
    assert whole["lines"] == ROWS + 1 and whole["bytes"] > 100 * ROWS
    district = _district_rows(ROWS, seed=2026, district="3") + 1
    assert 1 < district < ROWS // 2
    for system in ("blotter-duckdb", "blotter-postgres"):
        export = systems[system]["export"]
        assert export["first"]["lines"] == export["repeat"]["lines"] == ROWS + 1
        assert export["first"]["bytes"] == export["repeat"]["bytes"] > 100 * ROWS
        assert export["filtered"]["lines"] == district
    # Both engines write the same CSV, byte for byte.
    for kind in ("first", "filtered"):
        duckdb, postgres = (systems[f"blotter-{e}"]["export"][kind] for e in ("duckdb", "postgres"))
        assert duckdb["bytes"] == postgres["bytes"], kind
    # The raw floor is Blotter's own SQL.
    assert "ds_bnch_incd_v1" in systems["raw-duckdb"]["questions"]["count_by_category"]["sql"]


def _district_rows(rows: int, seed: int, district: str) -> int:
    """The generated rows of one district, counted from the generator's own rows."""
    templates = generate.load_templates()
    return sum(
        str(r["district"]) == district
        for batch in generate.batches(rows, seed=seed, templates=templates)
        for r in batch.to_pylist()
    )


def test_history_storage_is_measured_on_both_engines(tiny_run: dict[str, Any]) -> None:
    from bench.storage import READS, UPSERTS

    systems = tiny_run["sizes"][str(ROWS)]["systems"]
    for system in ("blotter-duckdb", "blotter-postgres"):
        storage = systems[system]["history_storage"]
        sizes = storage["sizes_bytes"]
        assert len(sizes) == UPSERTS + 1 and all(size > 0 for size in sizes)
        assert storage["growth_bytes"] == [b - a for a, b in itertools.pairwise(sizes)]
        assert storage["steady_upsert_bytes"] == (sizes[-1] - sizes[1]) / (UPSERTS - 1)
        assert storage["target_met"] == (storage["steady_share"] < 0.01)
        for when in ("before", "after"):
            assert set(storage["newest_read_ms"][when]) == set(READS)


def test_the_pages_are_timed_first_and_repeated(tiny_run: dict[str, Any]) -> None:
    """bench/pages.py on DuckDB (the issue's target): each page's first and repeated answers,
    each judged against 300 ms."""
    pages = tiny_run["sizes"][str(ROWS)]["systems"]["blotter-duckdb"]["pages"]
    assert len(pages) == 7
    for name, got in pages.items():
        for kind in ("first_ms", "repeated_ms"):
            timed = got[kind]
            assert 0 < timed["min"] <= timed["median"] <= timed["max"], name
        assert got["met"] == (got["first_ms"]["median"] <= 300)
        assert got["met_repeated"] == (got["repeated_ms"]["median"] <= 300)


def test_what_the_engines_and_libraries_do_alone_is_measured(tiny_run: dict[str, Any]) -> None:
    """bench/floors.py: each engine's own load, word index and CSV writer on the same file,
    FastAPI alone, and the libraries' memory; said beside the verdicts they bound."""
    size = tiny_run["sizes"][str(ROWS)]
    floors = size["floors"]
    for engine in ("duckdb", "postgres"):
        ingest, export = floors[engine]["ingest"], floors[engine]["export"]
        assert ingest["rows_per_s"] == ROWS / (ingest["load_s"] + ingest["id_index_s"])
        assert 0 < ingest["with_word_index_rows_per_s"] < ingest["rows_per_s"]
        # Every row written (the header, then lines of about 130 bytes), and one district's
        # rows fewer: both engines' own CSV writers had the same rows to write.
        assert export["whole"]["bytes"] > 100 * ROWS
        assert 0 < export["filtered"]["bytes"] < export["whole"]["bytes"] / 2
        for figures in export.values():
            assert figures["mb_per_s"] == figures["bytes"] / 1e6 / figures["seconds"]
    assert floors["duckdb"]["export"]["whole"]["peak_rss_mb"] > 0
    # FastAPI alone found the lookup's row (the run stops otherwise), timed as every system.
    for name in ("bare", "lookup"):
        latency = floors["stack"][name]
        assert latency["runs"] >= 3 and 0 < latency["min_ms"] <= latency["median_ms"]
    memory = floors["memory"]
    assert 0 < memory["server_libraries_mb"] < memory["with_statistics_mb"]
    assert memory["with_statistics_mb"] < memory["with_duckdb_extensions_mb"]
    assert memory["drawing_process_mb"] > 0
    # The verdicts they bound say so, with the figure.
    targets = {t["target"]: t for t in tiny_run["targets"]}
    own = floors["duckdb"]["export"]["whole"]["mb_per_s"]
    first = targets["Whole CSV export, first (writes its file) on DuckDB: ≥ 500 MB/s"]
    assert f"DuckDB's own COPY: {own:,.0f} MB/s" in first["note"]
    held = memory["with_statistics_mb"] + memory["drawing_process_mb"]
    on_postgres = targets[
        "Server memory during the filtered CSV export (streamed) on PostgreSQL: ≤ 300 MB"
    ]
    assert f"the libraries alone: {held:,.0f} MB" in on_postgres["note"]
    assert "PostgreSQL alone" in targets["Ingest on PostgreSQL: ≥ 250,000 rows/s"]["note"]
    assert (
        "FastAPI and DuckDB alone"
        in targets["Point lookup by id on DuckDB: no slower than Datasette"]["note"]
    )
    assert "| the engine or library alone |" in markdown(tiny_run)


def test_machine_and_targets_are_reported(tiny_run: dict[str, Any]) -> None:
    results = tiny_run
    assert results["machine"]["cores"] >= 1
    assert results["machine"]["datasette"] != "not installed"
    targets = {t["target"]: t for t in results["targets"]}
    assert all(t["rows"] == ROWS for t in targets.values())
    for name in (
        "Text search, rare word (pedestrian) on DuckDB: ≤ 10 ms",
        "Text search, missing word (zeppelin) on PostgreSQL: ≤ 10 ms",
        "Two-column cross-tab on DuckDB: ≥ 10× faster than Datasette",
        "Two-column cross-tab on PostgreSQL: no slower than Datasette",
        "Point lookup by id on DuckDB: no slower than Datasette",
        "Within 500 m of a point on PostgreSQL: ≤ 1.3× raw PostgreSQL + 1 ms",
        "Whole CSV export, first (writes its file) on PostgreSQL: ≥ 200 MB/s",
        "Whole CSV export, repeated (from its file) on DuckDB: ≥ 500 MB/s",
        "Server memory during the filtered CSV export (streamed) on PostgreSQL: ≤ 300 MB",
        "Ingest on DuckDB: ≥ 500,000 rows/s",
        "64 clients on PostgreSQL: no errors",
    ):
        assert targets[name]["status"] in ("met", "missed"), name
    # Pages are timed, the dataset page's store queries read from its answers'
    # Server-Timing header; the load's 3× has no earlier figure at this size.
    pages = [t for name, t in targets.items() if name.startswith("Page ")]
    assert pages and all(t["status"] in ("met", "missed") for t in pages)
    queries = targets["The dataset page on DuckDB: ≤ 6 store queries"]
    assert queries["status"] in ("met", "missed") and queries["measured"] >= 1
    load = targets[
        "64 clients with varied parameters on DuckDB: ≥ 3× the requests/s of issue #20's run"
    ]
    assert load["status"] == "not measured" and "1,500 rows" in load["note"]
    for target in targets.values():
        assert (target["by"] is None) == (target["status"] != "missed")
    for kind in ("first", "repeat", "filtered"):
        export = targets[f"{EXPORT_KINDS[kind]} on DuckDB: ≥ 500 MB/s"]
        measured = results["sizes"][str(ROWS)]["systems"]["blotter-duckdb"]["export"][kind]
        assert export["measured"] == measured["mb_per_s"]
        assert export["status"] == ("met" if measured["mb_per_s"] >= 500 else "missed")


def test_the_report_has_every_question_and_the_export_rate(tiny_run: dict[str, Any]) -> None:
    results = tiny_run
    text = markdown(results)
    assert f"**{ROWS:,} rows**" in text
    for question in questions(ROWS):
        if question.kind != "export":
            assert f"| {question.label} |" in text
    exports = {
        key: results["sizes"][str(ROWS)]["systems"][key]["export"]
        for key in ("blotter-duckdb", "blotter-postgres", "datasette")
    }
    for kind, label in EXPORT_KINDS.items():
        cells = [f"{e[kind]['mb_per_s']:.0f}" if kind in e else "–" for e in exports.values()]
        assert f"| {label}: MB/s | {' | '.join(cells)} |" in text


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
