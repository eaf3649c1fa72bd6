"""The API pages: each dataset's (fields, endpoints, examples) and the portal's guide.

Every example is read out of the rendered HTML and run as a reader would paste it: shell
examples by bash (curl), Python by the project's interpreter (sodapy, pandas, requests),
JavaScript by node, against the live test server over plain HTTP.
"""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from blotter.model import DatasetMeta
from tests.conftest import LiveServer
from tests.portal import COLUMNS, PUBLIC, ROWS, Portal

USE_OF_FORCE = "e2x9-2kgt"
CALLS = "tkpk-clls"  # has a point column, so a GeoJSON endpoint
EXAMPLE = re.compile(
    r'<pre class="example" data-language="(\w+)"[^>]*><code>(.*?)</code></pre>', re.DOTALL
)
RUN_TIMEOUT_S = 120  # a safety net for a hung client, not a speed check


def base_of(client: TestClient) -> str:
    """The portal's configured absolute address, which its pages' links and examples use."""
    base: str = client.app.state.portal.settings.base_url  # type: ignore[attr-defined]
    return base


@pytest.fixture(scope="module")
def client(sample_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(sample_app) as c:
        yield c


def examples(page: str) -> list[tuple[str, str]]:
    """(language, code) of every example on a page, as a reader would copy it."""
    return [(lang, html_lib.unescape(code)) for lang, code in EXAMPLE.findall(page)]


def run(language: str, code: str, cwd: Path) -> str:
    """Run an example as it stands; its standard output."""
    command = {
        "shell": ["bash", "-e", "-o", "pipefail", "-c", code],
        "python": [sys.executable, "-c", code],
        "javascript": ["node", "-e", code],
    }[language]
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"{language} example failed:\n{code}\n{done.stderr}"
    return done.stdout


def expected_count(server: LiveServer, dataset_id: str, where: str, limit: int) -> int:
    params = {"$select": "count(*)"} | ({"$where": where} if where else {})
    answer = httpx.get(f"{server.url}/resource/{dataset_id}.json", params=params)
    assert answer.status_code == 200
    return min(limit, int(answer.json()[0]["count"]))


def the_filter(page: str) -> str:
    found = re.search(r"the rows where <code>(.*?)</code>", page)
    assert found, "the page does not say which rows its examples read"
    return html_lib.unescape(found.group(1))


def test_api_page_lists_every_column_with_type_description_and_real_examples(
    client: TestClient,
) -> None:
    page = client.get(f"/datasets/{USE_OF_FORCE}/api").text
    view = client.get(f"/api/views/{USE_OF_FORCE}.json").json()
    rows = client.get(f"/resource/{USE_OF_FORCE}.json", params={"$limit": "50000"}).json()
    body = page.split('id="fields-heading"')[1].split('id="examples-heading"')[0]
    for column in view["columns"]:
        row = re.search(
            rf"<code>{re.escape(column['fieldName'])}</code></td>"
            rf"<td role=\"cell\">{column['dataTypeName']}</td>(.*?)</tr>",
            body,
            re.DOTALL,
        )
        assert row, f"{column['fieldName']} is not listed with its type"
        assert column["description"] in html_lib.unescape(row.group(1))
        if column["dataTypeName"] == "text":
            shown = [html_lib.unescape(v) for v in re.findall(r'"example-value">(.*?)<', row[1])]
            present = {r.get(column["fieldName"]) for r in rows}
            assert shown and set(shown) <= present, column["fieldName"]
    assert body.count('role="rowheader"') == len(view["columns"])


def test_api_page_gives_both_generations_endpoints_and_links_back(client: TestClient) -> None:
    page = client.get(f"/datasets/{CALLS}/api").text
    base = base_of(client)
    for url in (
        f"{base}/resource/{CALLS}.json",
        f"{base}/resource/{CALLS}.csv",
        f"{base}/resource/{CALLS}.geojson",
        f"{base}/api/v3/views/{CALLS}/query.json",
        f"{base}/api/views/{CALLS}.json",
    ):
        assert f"<code>{url}</code>" in page
    assert f'<a href="/datasets/{CALLS}">' in page
    dataset_page = client.get(f"/datasets/{CALLS}").text
    assert f'href="/datasets/{CALLS}/api"' in dataset_page


def test_api_page_of_an_unknown_dataset_is_not_found(client: TestClient) -> None:
    answer = client.get("/datasets/zzzz-9999/api")
    assert answer.status_code == 404
    assert "zzzz-9999" in answer.text


def test_internal_columns_never_appear_on_the_public_api_page(portal: Portal) -> None:
    page = portal.client.get(f"/datasets/{PUBLIC}/api").text
    assert "officer_name" not in page and "Officer name" not in page
    assert "Smith" not in page and "Jones" not in page  # nor its values as examples
    assert "<code>offense</code>" in page and "theft" in page


def test_a_dataset_made_again_under_its_id_shows_its_own_examples(portal: Portal) -> None:
    """Example values are kept per version; a dataset deleted (say, for what it showed) and
    made again under its id starts its versions over, and must not show the old values."""
    assert "theft" in portal.client.get(f"/datasets/{PUBLIC}/api").text
    portal.store.delete_dataset(PUBLIC)
    portal.store.create_dataset(DatasetMeta(name="Again"), COLUMNS, dataset_id=PUBLIC)
    rows = {**ROWS, "offense": ["burglary", "burglary", "fraud"]}
    portal.store.publish(PUBLIC, COLUMNS, [pa.record_batch(rows)])
    page = portal.client.get(f"/datasets/{PUBLIC}/api").text
    assert "burglary" in page and "theft" not in page


@pytest.mark.parametrize("dataset_id", [USE_OF_FORCE, CALLS])
def test_every_example_on_a_dataset_api_page_runs_against_the_live_server(
    sample_server: LiveServer, tmp_path: Path, dataset_id: str
) -> None:
    page = httpx.get(f"{sample_server.url}/datasets/{dataset_id}/api").text
    found = examples(page)
    assert [lang for lang, _ in found] == [
        "shell",
        "shell",
        "python",
        "python",
        "r",
        "javascript",
    ]
    where = the_filter(page)
    count = expected_count(sample_server, dataset_id, where, 100)
    assert count > 0
    field, value = re.fullmatch(r"(\w+) = '(.*)'", where).groups()  # type: ignore[union-attr]
    soda2, soda3, sodapy, pandas, r_code, javascript = (code for _, code in found)
    for code in (soda2, soda3):
        rows = json.loads(run("shell", code, tmp_path))
        assert len(rows) == count and all(r[field] == value for r in rows)
    for lang, code in (("python", sodapy), ("python", pandas), ("javascript", javascript)):
        assert run(lang, code, tmp_path).strip() == f"{count} rows", code
    url = re.search(r'read\.socrata\("([^"]+)"\)', r_code)
    assert url, r_code
    if shutil.which("Rscript"):
        assert run_r(r_code, tmp_path).strip() == f'[1] "{count} rows"'
    else:  # no R here: fetch what read.socrata would (see tests/api/test_rsocrata.py)
        assert read_socrata_rows(url.group(1)) == expected_count(
            sample_server, dataset_id, where, 10**9
        )


def read_socrata_rows(url: str) -> int:
    """RSocrata's read.socrata over HTTP: $order=:id, then pages of $limit=50000 and
    $offset=<rows so far> until one is empty; every page CSV. The rows it ends with."""
    url += ("&" if "?" in url else "?") + "$order=:id"
    total, page = 0, None
    while page is None or page:
        suffix = "" if page is None else f"&$limit=50000&$offset={total}"
        answer = httpx.get(url + suffix)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].split(";")[0] == "text/csv"
        page = list(csv.DictReader(io.StringIO(answer.text)))
        total += len(page)
    return total


def run_r(code: str, cwd: Path) -> str:
    done = subprocess.run(
        ["Rscript", "-e", code], cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_example_on_the_api_guide_runs_against_the_live_server(
    sample_server: LiveServer, tmp_path: Path
) -> None:
    page = httpx.get(f"{sample_server.url}/api").text
    found = examples(page)
    assert len(found) == 7
    sodapy = next(code for lang, code in found if "sodapy" in code)
    assert 'session_adapter={"prefix": "http://"' in sodapy  # plain HTTP needs the adapter
    outputs = [run(lang, code, tmp_path) for lang, code in found]
    black = expected_count(sample_server, USE_OF_FORCE, "subject_race = 'black'", 100)
    assert outputs[1].strip() == outputs[2].strip() == f"{black} rows"
    assert json.loads(outputs[0]), "the curl example printed no rows"
    assert list(tmp_path.glob("*.csv")), "curl -OJ saved no export"
