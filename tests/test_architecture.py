"""The folders are the architecture: a machine checks that layers only call downward."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGE = REPOSITORY / "blotter"
ARCHITECTURE = REPOSITORY / "docs" / "architecture.md"
CONTRACTS = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["tool"]["importlinter"]


def declared_layers() -> list[set[str]]:
    """The layers contract of pyproject.toml, top first, each layer as its module names."""
    (layers,) = (c for c in CONTRACTS["contracts"] if c["type"] == "layers")
    return [{name.strip() for name in re.split(r"[|:]", layer)} for layer in layers["layers"]]


def test_the_import_contracts_are_kept() -> None:
    """The one declaration of the layers, run as `make lint` runs it."""
    done = subprocess.run(
        [Path(sys.executable).with_name("lint-imports"), "--no-cache"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_module_of_the_package_is_in_a_layer() -> None:
    """The contract is exhaustive; this says so here too, with the names a reader looks for."""
    tops = {
        path.name.removesuffix(".py")
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.name != "__init__.py") or (path / "__init__.py").exists()
    }
    assert tops == set().union(*declared_layers())


def diagram_layers() -> list[set[str]]:
    """The first code block of docs/architecture.md: one layer a line, names before the notes."""
    block = ARCHITECTURE.read_text().split("```\n", 2)[1]
    return [set(re.findall(r"\w+", line.split("   ")[0])) for line in block.splitlines()]


def table_layers() -> list[set[str]]:
    """The table of docs/architecture.md: its rows' modules, grouped by their layer number."""
    by_number: dict[int, set[str]] = {}
    for number, module in re.findall(
        r"^\| (\d+) \| `(\w+)(?:\.py|/)` \|", ARCHITECTURE.read_text(), re.M
    ):
        by_number.setdefault(int(number), set()).add(module)
    return [by_number[number] for number in sorted(by_number)]


def test_the_architecture_diagram_draws_the_declared_layers() -> None:
    assert diagram_layers() == declared_layers()


def test_the_architecture_table_lists_the_declared_layers() -> None:
    assert table_layers() == declared_layers()


@pytest.mark.parametrize("driver", ["duckdb", "psycopg", "psycopg_pool"])
def test_the_drivers_contract_names_every_engine_driver(driver: str) -> None:
    (drivers,) = (c for c in CONTRACTS["contracts"] if c["id"] == "drivers")
    assert driver in drivers["forbidden_modules"]
    assert f"blotter.store.** -> {driver}" in drivers["ignore_imports"]


# Where a reference to data outside the repository would hide: code, scripts, the Makefile.
SELF_SUFFICIENT = ["blotter", "tests", "bench", "scripts", "Makefile"]
# A path that climbs out to the sibling folder of shared data, or names it as a path segment.
OUTSIDE = re.compile(r"\.\.[/\\]shared|[\"']shared[\"']|shared[/\\]data")


def ours(path: Path) -> bool:
    """Not installed or generated (npm's packages, bytecode, the benchmark's scratch folder),
    and not this file, whose examples must match."""
    rel = path.relative_to(REPOSITORY)
    return not (
        {"node_modules", "__pycache__"} & set(rel.parts)
        or rel.is_relative_to("bench/work")
        or path == Path(__file__).resolve()
    )


def text_files(top: Path) -> list[Path]:
    if top.is_file():
        return [top]
    return [path for path in sorted(top.rglob("*")) if path.is_file() and ours(path)]


def test_nothing_reads_data_from_outside_the_repository() -> None:
    """A clone alone must pass its tests and run the demo and the benchmark."""
    offenders = []
    for top in SELF_SUFFICIENT:
        for path in text_files(REPOSITORY / top):
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # binary extracts (xlsx, gzip) hold no paths
            for number, line in enumerate(text.splitlines(), start=1):
                if OUTSIDE.search(line):
                    offenders.append(f"{path.relative_to(REPOSITORY)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# Spelled apart, so this file itself holds no such reference.
_S = "sha" + "red"


@pytest.mark.parametrize(
    "line",
    [
        f'REAL = Path(__file__).parents[3] / "{_S}" / "data" / "real"',
        f"SOURCE = '../{_S}/data/real/oakland-ca'",
        f"cp ../{_S}/data/real/x.csv tests/data/",
        f'os.path.join("..", "{_S}", "data")',
    ],
)
def test_the_outside_pattern_catches_a_reference_to_shared(line: str) -> None:
    assert OUTSIDE.search(line)


def test_the_outside_pattern_leaves_the_word_shared_in_prose_alone() -> None:
    assert not OUTSIDE.search('"""Fixtures shared by the whole suite."""')
    assert not OUTSIDE.search("shared = page.url")
