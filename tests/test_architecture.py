"""The folders are the architecture: a machine checks that layers only call downward."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "blotter"

# For each part, the parts of ours it must never import.
FORBIDDEN: dict[str, set[str]] = {
    "errors": {"soql", "store", "ingest", "analysis", "api", "web", "cli", "app", "queries"},
    "model": {"soql", "store", "ingest", "analysis", "api", "web", "cli", "app", "queries"},
    "schema": {"soql", "store", "ingest", "analysis", "api", "web", "cli", "app", "queries"},
    "soql": {"store", "ingest", "analysis", "api", "web", "cli", "app", "queries", "portal"},
    "store": {"soql", "ingest", "analysis", "api", "web", "cli", "app", "queries", "portal"},
    "ingest": {"soql", "analysis", "api", "web", "cli", "app", "queries", "portal"},
    "analysis": {"api", "web", "cli", "app"},
    "queries": {"api", "web", "cli", "app"},
    "accounts": {"api", "web", "cli", "app", "access", "auth", "management"},
    "access": {"api", "web", "cli", "app", "auth", "management", "queries", "ingest"},
    "auth": {"api", "web", "cli", "app", "management"},
    "credentials": {"api", "web", "cli", "app", "access", "auth", "management", "store", "queries"},
    "management": {"api", "web", "cli", "app", "auth"},
    "api": {"web", "cli", "app"},
    "web": {"cli", "app"},
}
DRIVERS = {"duckdb", "psycopg", "psycopg_pool"}


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_only_import_downward(path: Path) -> None:
    part = part_of(path)
    forbidden = FORBIDDEN.get(part, set())
    ours = {name.split(".")[1] for name in imports_of(path) if name.startswith("blotter.")}
    assert not ours & forbidden, f"{path.relative_to(PACKAGE)} imports {ours & forbidden}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_database_drivers_are_imported_only_in_the_store(path: Path) -> None:
    if part_of(path) == "store":
        return
    drivers = {name.split(".")[0] for name in imports_of(path)} & DRIVERS
    assert not drivers, f"{path.relative_to(PACKAGE)} imports {drivers}"


def test_web_uses_only_the_serializers_of_the_api() -> None:
    for path in (PACKAGE / "web").rglob("*.py"):
        api = {n for n in imports_of(path) if n.startswith("blotter.api")}
        assert api <= {"blotter.api.serialize"}, f"{path} imports {api}"


REPOSITORY = Path(__file__).resolve().parents[1]
# Where a reference to data outside the repository would hide: code, scripts, the Makefile.
SELF_SUFFICIENT = ["blotter", "tests", "bench", "scripts", "Makefile"]
# A path that climbs out to a sibling "shared" folder, or uses "shared" as a path segment.
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


@pytest.mark.parametrize(
    "line",
    [
        'REAL = Path(__file__).parents[3] / "shared" / "data" / "real"',
        "SOURCE = '../shared/data/real/oakland-ca'",
        "cp ../shared/data/real/x.csv tests/data/",
        'os.path.join("..", "shared", "data")',
    ],
)
def test_the_outside_pattern_catches_a_reference_to_shared(line: str) -> None:
    assert OUTSIDE.search(line)


def test_the_outside_pattern_leaves_the_word_shared_in_prose_alone() -> None:
    assert not OUTSIDE.search('"""Fixtures shared by the whole suite."""')
    assert not OUTSIDE.search("shared = page.url")
