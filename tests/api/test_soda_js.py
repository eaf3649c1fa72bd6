"""soda-js, Socrata's JavaScript client, unchanged from the npm registry, run by node.

soda-js only speaks HTTPS, so the live server gets a throwaway self-signed certificate and
node is told to accept it; everything stays on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from blotter.app import create_app
from blotter.settings import Settings
from tests.api.conftest import DATASET_ID, ROWS, expected_row
from tests.conftest import LiveServer, serve_in_thread

CLIENTS = Path(__file__).parents[1] / "clients"


@pytest.fixture(scope="module")
def tls_server(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    yield from serve_in_thread(create_app(settings), tls=(cert, key))


def test_soda_js_queries_blotter(tls_server: LiveServer) -> None:
    node = shutil.which("node")
    if node is None or not (CLIENTS / "node_modules" / "soda-js").exists():
        pytest.fail(
            "node and tests/clients/node_modules are needed: run `make test`, which "
            "installs soda-js with npm ci"
        )
    site = tls_server.url.removeprefix("https://")
    done = subprocess.run(
        [node, str(CLIENTS / "soda_js_query.js"), site, DATASET_ID],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NODE_TLS_REJECT_UNAUTHORIZED": "0", "NODE_NO_WARNINGS": "1"},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    rows = [expected_row(i) for i in range(ROWS)]

    wanted = sorted(
        (r for r in rows if r["subject_race"] == "black" and (r["subject_age"] or 0) > 30),
        key=lambda r: r["case_number"],
        reverse=True,
    )[:5]
    assert result["filtered"]["ok"]
    assert [r["case_number"] for r in result["filtered"]["rows"]] == [
        r["case_number"] for r in wanted
    ]
    assert result["grouped"]["rows"] == [
        {"subject_race": "asian", "n": "625"},
        {"subject_race": "black", "n": "625"},
        {"subject_race": "white", "n": "625"},
        {"n": "625"},
    ]
    injured = [r["case_number"] for r in rows if r["injured"]][:3]
    assert [r["case_number"] for r in result["statement"]["rows"]] == injured
    assert not result["failed"]["ok"]
    assert result["failed"]["error"]["code"] == "query.soql.no-such-column"
