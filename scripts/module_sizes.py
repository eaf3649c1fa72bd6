"""Fail `make lint` when a module grows past what a reader can hold: warn above 500 lines,
fail above 800. A dispatch table is long because it is one entry a line, so it is exempt by
name below, with the reason."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

WARN_ABOVE = 500
FAIL_ABOVE = 800
SCANNED = ("blotter", "bench", "scripts", "tests")
SKIPPED = {"node_modules", "__pycache__", ".venv"}

# Dispatch tables (and the test tables that double as a spec), exempt from both limits.
TABLES = {
    "blotter/soql/functions.py": "one SoQL function a line, each to its sqlglot builder",
    "tests/soql/test_conformance.py": "the SoQL compatibility table, one case a line",
}
# Over the limit today and being split by issue #15 item 1: a warning until then, and an
# error once it fits, so this list cannot outlive its reason.
BEING_SPLIT: dict[str, str] = {}


def modules(root: Path) -> list[Path]:
    found = []
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root)
            if not SKIPPED & set(rel.parts) and not rel.is_relative_to("bench/work"):
                found.append(path)
    return found


def line_count(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def check(root: Path) -> tuple[list[str], list[str]]:
    """Warnings and failures, one line each, naming the module and its length."""
    warnings: list[str] = []
    failures: list[str] = []
    for path in modules(root):
        name = path.relative_to(root).as_posix()
        lines = line_count(path)
        if name in TABLES:
            continue
        if name in BEING_SPLIT:
            if lines <= FAIL_ABOVE:
                failures.append(
                    f"{name}: {lines} lines, no longer over {FAIL_ABOVE}: "
                    "remove it from BEING_SPLIT in scripts/module_sizes.py"
                )
            else:
                warnings.append(
                    f"{name}: {lines} lines, over {FAIL_ABOVE} until {BEING_SPLIT[name]}"
                )
        elif lines > FAIL_ABOVE:
            failures.append(f"{name}: {lines} lines, over {FAIL_ABOVE}: split it by job")
        elif lines > WARN_ABOVE:
            warnings.append(f"{name}: {lines} lines, over {WARN_ABOVE}: consider splitting it")
    return warnings, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    root = parser.parse_args(argv).root
    warnings, failures = check(root)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    for line in failures:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
