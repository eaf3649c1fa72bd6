"""Where lark keeps the SoQL parser it built, between processes.

Building the LALR tables from ``grammar.lark`` costs about 0.2 s of CPU in every process
that parses SoQL (each ``blotter`` command, each server worker's first query); lark loads
them back from its cache file in about 0.01 s. lark reads that file with pickle, so it is
kept only in a folder of the user's own that nobody else may write to (never the shared
temporary folder lark would choose by itself); where no such folder can be had, the parser
is built in each process as before. lark checks the file against the grammar, its options,
its own version and Python's before using it, and builds the parser again (and rewrites
the file) when they differ or the file cannot be read."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

FOLDER = "blotter"


def parser_cache_file() -> str | None:
    """The cache file's path, or None where the folder cannot be made private to the user."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / FOLDER
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = folder.lstat()
    except (OSError, RuntimeError):  # RuntimeError: no home folder to be found
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
        return None
    if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    return str(folder / f"soql-parser-py{sys.version_info[0]}{sys.version_info[1]}.lark")
