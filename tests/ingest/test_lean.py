"""``blotter load`` runs without pandas and pyarrow's dataset modules (``ingest/lean.py``)
and publishes the same rows."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from sqlglot import exp

from blotter.schema import DATASET_TABLE
from blotter.settings import Settings
from blotter.store import open_store

# Reports, as the process ends, whether anything imported pandas.
RUN = (
    "import atexit, sys; "
    "atexit.register(lambda: print('pandas imported:', 'pandas' in sys.modules)); "
    "atexit.register(lambda: print('datasets imported:', 'pyarrow.dataset' in sys.modules)); "
    "from blotter.cli import main; main()"
)


def test_a_load_never_imports_pandas(engine_config: Settings, tmp_path: Path) -> None:
    source = tmp_path / "stops.csv"
    source.write_text(
        "Stop ID,Date,Driver Age,Searched\nA1,2015-01-02,34,true\nA2,2015-02-03,,false\n",
        encoding="utf-8",
    )
    args = ["load", str(source), "--new", "--name", "Stops", "--data-dir", str(tmp_path)]
    env = {**os.environ, "BLOTTER_DATABASE_SCHEMA": engine_config.database_schema}
    if engine_config.database_url:
        args += ["--database-url", engine_config.database_url]
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Published 2 rows as version 1" in done.stdout
    assert "pandas imported: False" in done.stdout
    assert "datasets imported: False" in done.stdout
    store = open_store(engine_config)
    try:
        (dataset,) = store.list_datasets()
        select = exp.select("stop_id", "date", "driver_age", "searched").from_(DATASET_TABLE)
        assert list(store.execute(dataset, select.order_by("_id"))) == [
            ("A1", datetime(2015, 1, 2), 34.0, True),
            ("A2", datetime(2015, 2, 3), None, False),
        ]
    finally:
        store.close()


def test_other_commands_and_in_process_runs_keep_pandas(tmp_path: Path) -> None:
    """Only a process that does nothing but load refuses it: a server's libraries need it."""
    code = (
        "import sys; sys.argv = ['blotter', 'datasets', '--data-dir', sys.argv[1]]; "
        "from blotter.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "import pandas; print('pandas', pandas.__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "pandas pandas" in done.stdout
