"""The module-size check `make lint` runs (scripts/module_sizes.py), on a tree of its own."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "module_sizes.py"


def run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root)], capture_output=True, text=True
    )


def module(root: Path, name: str, lines: int) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x = 1\n" * lines)


def test_a_module_of_500_lines_passes_silently(tmp_path: Path) -> None:
    module(tmp_path, "blotter/small.py", 500)
    done = run(tmp_path)
    assert (done.returncode, done.stderr) == (0, "")


def test_a_module_over_500_lines_is_a_warning_naming_it(tmp_path: Path) -> None:
    module(tmp_path, "blotter/web/long.py", 501)
    done = run(tmp_path)
    assert done.returncode == 0
    assert "warning: blotter/web/long.py: 501 lines, over 500" in done.stderr


def test_a_module_over_800_lines_fails_the_check(tmp_path: Path) -> None:
    module(tmp_path, "bench/huge.py", 801)
    module(tmp_path, "tests/api/test_fine.py", 800)
    done = run(tmp_path)
    assert done.returncode == 1
    assert "error: bench/huge.py: 801 lines, over 800" in done.stderr
    assert "warning: tests/api/test_fine.py: 800 lines" in done.stderr
    assert "error: tests/api/test_fine.py" not in done.stderr


def test_a_dispatch_table_named_in_the_list_is_exempt(tmp_path: Path) -> None:
    module(tmp_path, "blotter/soql/functions.py", 2000)
    done = run(tmp_path)
    assert (done.returncode, done.stderr) == (0, "")


def test_a_module_being_split_fails_once_it_fits_so_the_list_cannot_rot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("module_sizes", SCRIPT)
    assert spec is not None and spec.loader is not None
    sizes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sizes)
    monkeypatch.setattr(sizes, "BEING_SPLIT", {"blotter/big.py": "being split"})
    module(tmp_path, "blotter/big.py", 900)
    assert sizes.check(tmp_path)[1] == []
    module(tmp_path, "blotter/big.py", 700)
    failures = sizes.check(tmp_path)[1]
    assert len(failures) == 1 and "remove it from BEING_SPLIT" in failures[0]


def test_the_store_is_no_longer_waived(tmp_path: Path) -> None:
    # The DuckDB store was split (issue #15): it gets no waiver above 800 lines again.
    module(tmp_path, "blotter/store/duckdb.py", 801)
    done = run(tmp_path)
    assert done.returncode == 1
    assert "error: blotter/store/duckdb.py: 801 lines, over 800" in done.stderr


def test_installed_and_scratch_folders_are_not_ours(tmp_path: Path) -> None:
    module(tmp_path, "tests/clients/node_modules/pkg/big.py", 900)
    module(tmp_path, "bench/work/generated.py", 900)
    assert run(tmp_path).returncode == 0


def test_the_repository_passes() -> None:
    assert run(SCRIPT.parents[1]).returncode == 0
