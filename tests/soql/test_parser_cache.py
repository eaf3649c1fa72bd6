"""The built SoQL parser kept between processes (soql/parser_cache.py): only in a folder of
the user's own, and a file that is not lark's own is built again, never trusted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from blotter.soql.parser_cache import parser_cache_file

PARSE = (
    "from blotter.soql.parser import parse_params\n"
    "print(repr(parse_params({'$where': \"a = 'x' AND b > 2\", '$order': 'a DESC'})))\n"
)


def _parse_in_a_process(cache_home: Path) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    done = subprocess.run(
        [sys.executable, "-c", PARSE], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_a_second_process_parses_the_same_from_the_kept_parser(tmp_path: Path) -> None:
    first = _parse_in_a_process(tmp_path)
    kept = list((tmp_path / "blotter").iterdir())
    assert len(kept) == 1 and kept[0].stat().st_size > 0
    assert (tmp_path / "blotter").stat().st_mode & 0o777 == 0o700
    assert _parse_in_a_process(tmp_path) == first


def test_a_damaged_or_foreign_file_is_built_again(tmp_path: Path) -> None:
    first = _parse_in_a_process(tmp_path)
    (kept,) = (tmp_path / "blotter").iterdir()
    kept.write_bytes(b"not lark's\n" + os.urandom(64))
    assert _parse_in_a_process(tmp_path) == first
    assert kept.read_bytes().startswith(b"not lark's") is False  # written anew


@pytest.mark.parametrize("unsafe", ["group may write", "anyone may write", "a link"])
def test_a_folder_others_may_write_to_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unsafe: str
) -> None:
    folder = tmp_path / "blotter"
    if unsafe == "a link":  # to a folder of the user's own: still not followed
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        folder.symlink_to(tmp_path / "elsewhere")
    else:
        folder.mkdir()
        folder.chmod(0o770 if unsafe == "group may write" else 0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert parser_cache_file() is None


def test_no_folder_to_be_had_means_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # a file where the folder would go
    assert parser_cache_file() is None
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kept = Path(str(parser_cache_file()))
    assert kept.parent == tmp_path / "blotter" and kept.suffix == ".lark"
