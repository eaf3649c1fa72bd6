"""DuckDB extensions, loaded from the PyPI packages that ship them, never downloaded, and only
when a statement needs one.

DuckDB would fetch ``spatial`` and ``fts`` from the internet on first use; portals run
on closed networks too, so we load the files that ``duckdb-extension-spatial`` and
``duckdb-extension-fts`` install beside the code. Loading them costs memory for the life of
the process (measured: ``spatial`` and ``fts`` together add about 160 MB to a bare process,
47 MB to a started server),
and no statement Blotter writes today calls them (points are two numbers; ``within_circle``
and ``within_polygon`` are arithmetic), so a store loads an extension at the first statement
that names one of its functions (``Extensions.for_sql``), once per database.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import threading
from pathlib import Path

import duckdb

EXTENSIONS = ("spatial", "fts")
# What a statement calls when it needs each extension: spatial's functions are all ST_…;
# fts's are the index's macros and schema.
_NEEDED_BY = {
    "spatial": re.compile(r"\bst_\w+\s*\(", re.IGNORECASE),
    "fts": re.compile(r"\b(?:match_bm25|fts_main_\w+|create_fts_index|drop_fts_index)\b", re.I),
}


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


@functools.lru_cache(maxsize=1024)
def needed(sql: str) -> tuple[str, ...]:
    """The extensions a statement calls. Kept by text: the read path hands the same written
    statement again for the same request (``store.common.SqlMemo``), so its regular
    expressions are not run over it per request."""
    return tuple(name for name, pattern in _NEEDED_BY.items() if pattern.search(sql))


class Extensions:
    """The extensions loaded into one database (``LOAD`` holds for all its connections)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._loaded: set[str] = set()
        self._lock = threading.Lock()

    @property
    def loaded(self) -> frozenset[str]:
        return frozenset(self._loaded)

    def for_sql(self, sql: str) -> None:
        """Load what ``sql`` needs and is not loaded yet (cheap when nothing is needed)."""
        for name in needed(sql):
            if name not in self._loaded:
                self.load(name)

    def load(self, name: str) -> None:
        with self._lock:
            if name in self._loaded:
                return
            literal = str(extension_file(name)).replace("'", "''")
            self._con.execute(f"LOAD '{literal}'")  # a path of ours; LOAD takes no parameters
            self._loaded.add(name)
