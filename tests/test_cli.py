"""The command line as an operator uses it: real files, real database, real server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from blotter.cli import app
from blotter.settings import Settings
from blotter.store.duckdb import DuckDBStore
from tests.conftest import free_port

runner = CliRunner()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "command",
    [
        "serve",
        "demo",
        "load",
        "datasets",
        "profile save",
        "profile list",
        "user add",
        "versions prune",
    ],
)
def test_every_command_explains_itself(command: str) -> None:
    result = runner.invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "--data-dir" in result.output


def test_load_new_infers_types_and_datasets_lists_it(tmp_path: Path) -> None:
    csv_file = write(
        tmp_path / "stops.csv",
        "Stop ID,Date,Driver Age,Searched\nA1,2015-01-02,34,true\nA2,2015-02-03,,false\n",
    )
    data = tmp_path / "data"
    loaded = runner.invoke(
        app, ["load", str(csv_file), "--new", "--name", "Stops", "--data-dir", str(data)]
    )
    assert loaded.exit_code == 0, loaded.output
    assert "Published 2 rows as version 1" in loaded.output
    # Its page's first view computed and stored with the version (web/first_view.py).
    assert re.search(r"Stored \d+ answers of its page's first view", loaded.output)
    listed = runner.invoke(app, ["datasets", "--data-dir", str(data)])
    assert "Stops" in listed.output
    store = DuckDBStore(Settings(data_dir=data).database_path)
    try:
        (dataset,) = store.list_datasets()
        assert [(c.field_name, str(c.type)) for c in dataset.columns] == [
            ("stop_id", "text"),
            ("date", "floating_timestamp"),
            ("driver_age", "number"),
            ("searched", "checkbox"),
        ]
        assert store.stored_answers(dataset.id, 1, dataset.created_at)
    finally:
        store.close()


def test_load_needs_exactly_one_of_dataset_or_new(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "x.csv", "a\n1\n")
    result = runner.invoke(app, ["load", str(csv_file), "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--dataset" in result.output and "--new" in result.output


def test_a_portal_error_is_one_line_and_exit_code_1_never_a_traceback(tmp_path: Path) -> None:
    # Nothing listens on port 1 of the loopback: the store cannot be opened.
    unreachable = "postgresql://postgres@127.0.0.1:1/blotter"
    result = runner.invoke(app, ["user", "list", "--database-url", unreachable])
    assert result.exit_code == 1
    assert result.output.startswith("Error: Cannot reach PostgreSQL")
    assert isinstance(result.exception, SystemExit)  # the exit asked for, nothing raised on
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_an_invalid_file_publishes_nothing_and_reports_every_problem(tmp_path: Path) -> None:
    data = tmp_path / "data"
    good = write(tmp_path / "good.csv", "case,age\nA,30\nB,41\n")
    assert runner.invoke(app, ["load", str(good), "--new", "--data-dir", str(data)]).exit_code == 0
    store = DuckDBStore(Settings(data_dir=data).database_path)
    dataset_id = store.list_datasets()[0].id
    store.close()
    bad = write(tmp_path / "bad.csv", "case,age\nC,thirty\nD,50\nE,old\n")
    result = runner.invoke(
        app, ["load", str(bad), "--dataset", dataset_id, "--data-dir", str(data)]
    )
    assert result.exit_code == 1
    assert "2 problems" in result.output
    assert "thirty" in result.output and "old" in result.output
    store = DuckDBStore(Settings(data_dir=data).database_path)
    try:
        served = store.get_dataset(dataset_id)
        assert served.version == 1 and served.row_count == 2
    finally:
        store.close()


def test_demo_loads_the_samples_and_serves_them(tmp_path: Path) -> None:
    port = free_port()
    # As `make demo` runs it: the statistics imported at start (tests/conftest.py turns it off).
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BLOTTER_PRELOAD_STATISTICS": "true"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "blotter.cli",
            "demo",
            "--data-dir",
            str(tmp_path),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/views.json", timeout=2)
                if response.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "demo did not start serving"
            time.sleep(0.5)
        names = {v["name"] for v in response.json()}
        assert len(names) == 7  # five police datasets and two population tables
        assert any("generated sample" in n.lower() for n in names)
        rows = httpx.get(
            f"http://127.0.0.1:{port}/resource/e2x9-2kgt.json", params={"$limit": "5000"}
        ).json()
        assert len(rows) == 221
        home = httpx.get(f"http://127.0.0.1:{port}/")
        assert home.status_code == 200 and "Rutland" in home.text
        # The demo makes a first administrator and says its passphrase once.
        said = ""
        while "shown once" not in said:
            said += proc.stdout.readline().decode() if proc.stdout else ""
        password = re.search(r"password\s+(\S+)", said).group(1)  # type: ignore[union-attr]
        signed_in = httpx.get(
            f"http://127.0.0.1:{port}/api/audit.json", auth=("admin", password), timeout=10
        )
        assert signed_in.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


@pytest.mark.parametrize(("setting", "logged"), [("true", True), ("false", False)])
def test_serve_logs_each_request_unless_the_access_log_is_off(
    tmp_path: Path, setting: str, logged: bool
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "BLOTTER_ACCESS_LOG": setting,
    }
    argv = [sys.executable, "-m", "blotter.cli", "serve", "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(
        [*argv, "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not start serving"
            time.sleep(0.5)
        assert httpx.get(f"http://127.0.0.1:{port}/api/views.json").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert ('"GET /api/views.json HTTP/1.1" 200' in out.decode()) is logged


PROFILE = """
name: ignored for a profile
columns:
  - {field: case_no, name: Case, source: CASE NUMBER}
  - {field: offense, name: Offense, source: OFFENSE, case: lower}
  - {field: age, name: Age, type: number, source: AGE}
"""


def test_profiles_are_saved_listed_shown_and_load_each_month(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    profile = write(tmp_path / "rms.yaml", PROFILE)
    saved = runner.invoke(app, ["profile", "save", "rms-export", str(profile), *data])
    assert saved.exit_code == 0, saved.output
    assert "rms-export" in runner.invoke(app, ["profile", "list", *data]).output
    shown = runner.invoke(app, ["profile", "show", "rms-export", *data])
    assert "CASE NUMBER" in shown.output
    april = write(tmp_path / "april.csv", "CASE NUMBER,OFFENSE,AGE\nA1,THEFT,30\nA2,FRAUD,41\n")
    made = runner.invoke(
        app, ["load", str(april), "--new", "--profile", "rms-export", "--name", "Cases", *data]
    )
    assert made.exit_code == 0, made.output
    dataset_id = re.search(r"of dataset (\S+)\.", made.output).group(1)  # type: ignore[union-attr]
    may = write(tmp_path / "may.csv", "CASE NUMBER,OFFENSE,AGE\nA2,FRAUD,42\nA3,ARSON,25\n")
    added = runner.invoke(
        app,
        ["load", str(may), "--dataset", dataset_id, "--profile", "rms-export", "--upsert", *data],
    )
    assert added.exit_code == 0, added.output
    store = DuckDBStore(Settings(data_dir=tmp_path / "data").database_path)
    try:
        dataset = store.get_dataset(dataset_id)
        assert dataset.meta.name == "Cases" and dataset.version == 2
        # Without a row identifier every row of May is new: the dataset is now 4 rows.
        assert dataset.row_count == 4
        assert [e.action for e in store.audit_log()][:2] == ["dataset.publish", "dataset.publish"]
        assert store.audit_log()[0].actor == "cli"
    finally:
        store.close()
    unknown = runner.invoke(app, ["load", str(may), "--new", "--profile", "nope", *data])
    assert unknown.exit_code == 1 and "no import profile 'nope'" in unknown.output
    both = runner.invoke(
        app, ["load", str(may), "--new", "--profile", "rms-export", "--spec", str(profile), *data]
    )
    assert both.exit_code == 2


def test_versions_prune_removes_what_the_retention_setting_does_not_keep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    dataset_id = ""
    for month in ("a", "b", "c"):
        csv_file = write(tmp_path / f"{month}.csv", f"Case,Value\nx,{month}\ny,same\n")
        args = ["--dataset", dataset_id] if dataset_id else ["--new", "--name", "Cases"]
        loaded = runner.invoke(app, ["load", str(csv_file), *args, "--data-dir", str(data)])
        assert loaded.exit_code == 0, loaded.output
        found = re.search(r"of dataset (\w{4}-\w{4})", loaded.output)
        assert found, loaded.output
        dataset_id = found.group(1)
    monkeypatch.setenv("BLOTTER_KEEP_VERSIONS", "last:1")
    dry = runner.invoke(app, ["versions", "prune", "--dry-run", "--data-dir", str(data)])
    assert dry.exit_code == 0, dry.output
    assert f"{dataset_id}: would remove version(s) 1, 2: 2 history row(s); kept: 3." in dry.output
    done = runner.invoke(app, ["versions", "prune", "--data-dir", str(data)])
    assert f"{dataset_id}: removed version(s) 1, 2: 2 history row(s); kept: 3." in done.output
    store = DuckDBStore(Settings(data_dir=data).database_path)
    try:
        assert [v.pruned for v in store.versions(dataset_id)] == [False, True, True]
        (entry,) = [e for e in store.audit_log() if e.action == "versions.prune"]
        assert entry.dataset_id == dataset_id and entry.detail["versions"] == [1, 2]
        assert entry.actor == "cli"
    finally:
        store.close()
    again = runner.invoke(app, ["versions", "prune", "--data-dir", str(data)])
    assert f"{dataset_id}: nothing to prune." in again.output
