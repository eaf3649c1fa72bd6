"""DuckDB extensions, loaded from the PyPI packages that ship them, never downloaded.

DuckDB would fetch ``spatial`` and ``fts`` from the internet on first use; portals run
on closed networks too, so we load the files that ``duckdb-extension-spatial`` and
``duckdb-extension-fts`` install beside the code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb

EXTENSIONS = ("spatial", "fts")


def extension_file(name: str) -> Path:
    """The ``.duckdb_extension`` file of the installed package for this DuckDB version."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"The DuckDB extension package 'duckdb-extension-{name}' is not installed; "
            f"install it at the version of duckdb ({duckdb.__version__})."
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise RuntimeError(
            f"{path} is missing: duckdb-extension-{name} must match duckdb {duckdb.__version__}."
        )
    return path


def load_extensions(con: duckdb.DuckDBPyConnection) -> None:
    for name in EXTENSIONS:
        literal = str(extension_file(name)).replace("'", "''")
        con.execute(f"LOAD '{literal}'")  # a path of ours; LOAD takes no parameters
