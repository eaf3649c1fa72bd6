"""The folders are the architecture: a machine checks that layers only call downward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "blotter"

# For each part, the parts of ours it must never import.
FORBIDDEN: dict[str, set[str]] = {
    "errors": {"soql", "store", "ingest", "analysis", "api", "web", "cli", "app", "queries"},
    "model": {"soql", "store", "ingest", "analysis", "api", "web", "cli", "app", "queries"},
    "quality": {"soql", "store", "ingest", "analysis", "api", "web", "cli", "app", "queries"},
    "privacy": {"soql", "store", "ingest", "analysis", "api", "web", "cli", "app", "queries"},
    "schema": {"soql", "store", "ingest", "analysis", "api", "web", "cli", "app", "queries"},
    "soql": {"store", "ingest", "analysis", "api", "web", "cli", "app", "queries", "portal"},
    "store": {"soql", "ingest", "analysis", "api", "web", "cli", "app", "queries", "portal"},
    "ingest": {"soql", "analysis", "api", "web", "cli", "app", "queries", "portal"},
    "analysis": {"api", "web", "cli", "app"},
    "queries": {"api", "web", "cli", "app"},
    "accounts": {"api", "web", "cli", "app", "access", "auth", "management"},
    "access": {"api", "web", "cli", "app", "auth", "management", "queries", "ingest"},
    "auth": {"api", "web", "cli", "app", "management"},
    "management": {"api", "web", "cli", "app", "auth"},
    "dryrun": {"api", "web", "cli", "app", "auth", "management", "access"},
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
