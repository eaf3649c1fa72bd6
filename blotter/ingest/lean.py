"""A load without pandas: no step of one needs it, yet importing it is a third of a second.

pandas is installed (PySAL's statistics need it), and two libraries a load uses import it on
first use only because it is there: pyarrow, to ask whether a Python list is a pandas
object, and DuckDB's Python client, to ask the same of bound parameters. Both treat
pandas as optional. ``without_pandas`` makes it unimportable for the rest of a process that
only loads (the ``blotter load`` program, ``cli.main``), so both take the path they take
when it is not installed. It is never undone: pyarrow remembers the failed import, so a
process that goes on to other work (a server, a test run) must not call it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

REFUSED = "pandas"


class _Refuse(MetaPathFinder):
    """Answers an import of pandas as if it were not installed."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname == REFUSED or fullname.startswith(REFUSED + "."):
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: a load runs without pandas (blotter.ingest.lean)",
                name=fullname,
            )
        return None


def without_pandas() -> bool:
    """Refuse imports of pandas in this process from now on; False (and nothing done) when
    something already imported it."""
    if REFUSED in sys.modules:
        return False
    if not any(isinstance(finder, _Refuse) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Refuse())
    return True
