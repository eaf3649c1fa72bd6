"""A load without pandas: no step of one needs it, yet importing it is a third of a second.

pandas is installed (PySAL's statistics need it), and two libraries a load uses import it on
first use only because it is there: pyarrow, to ask whether a Python list is a pandas
object, and DuckDB's Python client, to ask the same of bound parameters. Both treat
pandas as optional. ``without_pandas`` makes it unimportable for the rest of a process that
only loads (the ``blotter load`` program, ``cli.main``), so both take the path they take
when it is not installed. It is never undone: pyarrow remembers the failed import, so a
process that goes on to other work (a server, a test run) must not call it.

pyarrow's dataset modules are refused alike: DuckDB imports them when Arrow rows are first
handed to it, only to ask whether they are a dataset (with Parquet's: 0.29-0.41 s of CPU
where DuckDB and pyarrow are already imported, 0.01-0.03 s without), and takes them as plain
Arrow when they cannot be imported; a load reads no dataset.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

REFUSED = ("pandas", "pyarrow.dataset")
# Their submodules, and pyarrow's compiled dataset modules (``pyarrow._dataset_parquet``...).
REFUSED_UNDER = ("pandas.", "pyarrow.dataset.", "pyarrow._dataset")


class _Refuse(MetaPathFinder):
    """Answers an import of pandas (or of pyarrow's dataset modules) as if it were not installed."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname in REFUSED or fullname.startswith(REFUSED_UNDER):
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: a load runs without it (blotter.ingest.lean)",
                name=fullname,
            )
        return None


def without_pandas() -> bool:
    """Refuse imports of pandas in this process from now on; False (and nothing done) when
    something already imported it."""
    if "pandas" in sys.modules:
        return False
    if not any(isinstance(finder, _Refuse) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Refuse())
    return True
