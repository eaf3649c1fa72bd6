"""The request examples of the README and docs/api.md, run as written against a live server.

The examples are read from the Markdown's code blocks, so a new example is tested the day it
is written: every `curl` line of a shell block, and every Python block (sodapy, requests,
pandas) of a document, in order, as a reader pasting them would run them.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from blotter.accounts import add_user, create_token
from blotter.app import create_app
from blotter.model import Role
from blotter.settings import Settings
from blotter.store import open_store
from tests.conftest import LiveServer, serve_in_thread

REPOSITORY = Path(__file__).parents[1]
DOCUMENTS = [REPOSITORY / "README.md", REPOSITORY / "docs" / "api.md"]
# The address the documents use; the tests put the live server's in its place.
DOCUMENTED = "http://127.0.0.1:8000"
DOCUMENTED_HOST = "127.0.0.1:8000"
# A token in an example is a placeholder such as "blt_…": the test puts a real one there.
PLACEHOLDER_TOKEN = re.compile(r"""(["'])blt_[^"']*\1""")
USERNAME = re.compile(r"""username\s*=\s*["'](\w+)["']""")


def code_blocks(path: Path) -> list[tuple[str, str]]:
    """(language, text) of every fenced block of a Markdown file."""
    return re.findall(r"^```(\w*)\n(.*?)^```", path.read_text(), re.M | re.S)


def curl_commands(path: Path) -> list[list[str]]:
    commands = []
    for language, text in code_blocks(path):
        if language not in {"sh", "bash", "shell", "console"}:
            continue
        for line in re.sub(r"\\\n\s*", " ", text).splitlines():
            argv = shlex.split(line, comments=True)
            if argv and argv[0] == "curl":
                commands.append(argv)
    return commands


CURLS = [
    pytest.param(argv, id=f"{path.name}:{number}")
    for path in DOCUMENTS
    for number, argv in enumerate(curl_commands(path), start=1)
]


def test_the_documents_have_examples_to_run() -> None:
    """A broken parser would leave nothing to test, and every test would pass."""
    assert len(CURLS) >= 5
    assert all(any(lang == "python" for lang, _ in code_blocks(path)) for path in DOCUMENTS)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the curl examples need curl")
@pytest.mark.parametrize("argv", CURLS)
def test_a_curl_example_answers(argv: list[str], sample_server: LiveServer, tmp_path: Path) -> None:
    # -O names the file after the URL in the working folder: write the body beside the test.
    body = tmp_path / "body"
    args = [arg.replace(DOCUMENTED, sample_server.url) for arg in argv[1:] if arg != "-O"]
    done = subprocess.run(
        ["curl", "-sS", "-o", body, "-w", "%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2"), f"{done.stdout}: {body.read_text()[:500]}"
    url = next(arg for arg in args if arg.startswith(sample_server.url))
    assert_sensible(url, body.read_text())


def assert_sensible(url: str, text: str) -> None:
    """Rows for a query, columns for metadata, a header and rows for CSV."""
    path = url.split("?")[0]
    if path.endswith(".json"):
        answer = json.loads(text)
        assert answer, text[:500]
        if isinstance(answer, list):
            assert all(isinstance(row, dict) and row for row in answer)
    elif path.endswith(".csv"):
        header, *rows = text.splitlines()
        assert header and rows, text[:500]
    else:
        assert text.strip()


@pytest.fixture
def writable_server(sample_data_dir: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """A live server over a copy of the samples, for examples that write: the shared sample
    server is only read."""
    data_dir = tmp_path / "data"
    shutil.copytree(sample_data_dir, data_dir)
    settings = Settings(data_dir=data_dir)
    store = open_store(settings)
    try:
        yield from serve_in_thread(create_app(settings, store=store))
    finally:
        store.close()


def python_blocks(path: Path) -> list[str]:
    return [text for language, text in code_blocks(path) if language == "python"]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_the_python_examples_run_in_order(path: Path, writable_server: LiveServer) -> None:
    store = writable_server.app.state.portal.store
    source = "\n".join(python_blocks(path))
    # Accounts the examples sign in as exist, with a token where they show a placeholder.
    tokens = {}
    for name in sorted(set(re.findall(USERNAME, source))):
        add_user(store, name, Role.ADMIN, "a long docs passphrase")
        tokens[name] = create_token(store, name, "docs", ["admin"])[1]
    statuses: list[tuple[int, str]] = []
    namespace: dict[str, Any] = {}
    with recorded_statuses(statuses):
        for text in python_blocks(path):
            text = text.replace(DOCUMENTED, writable_server.url)
            text = text.replace(DOCUMENTED_HOST, writable_server.url.removeprefix("http://"))
            for name in re.findall(USERNAME, text)[:1]:  # the account this block signs in as
                text = PLACEHOLDER_TOKEN.sub(repr(tokens[name]), text)
            last = run_block(text, namespace)
            if last is not None:
                assert last, f"the example's last line gave {last!r}:\n{text}"
    assert statuses, "the examples made no request"
    assert all(200 <= status < 300 for status, _ in statuses), statuses


def run_block(text: str, namespace: dict[str, Any]) -> Any:
    """Run a block; the value of its last line when that is an expression (what a reader
    would see printed)."""
    tree = ast.parse(text)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<example>", "exec"), namespace)
    if last is None:
        return None
    return eval(compile(ast.Expression(last.value), "<example>", "eval"), namespace)


class recorded_statuses:
    """Note the status of every answer requests (sodapy's client) receives; requests does not
    raise on a 4xx by itself."""

    def __init__(self, into: list[tuple[int, str]]) -> None:
        self.into = into
        self.original = requests.adapters.HTTPAdapter.send

    def __enter__(self) -> None:
        original, into = self.original, self.into

        def send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            response = original(adapter, request, *args, **kwargs)
            into.append((response.status_code, f"{request.method} {request.url}"))
            return response

        requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        requests.adapters.HTTPAdapter.send = self.original  # type: ignore[method-assign]
