"""Before a file is published: ``dryRun=true`` reports what it would add, change and remove
and changes nothing; adding and updating is the default where rows have an identifier; a
replace that would remove more than a fifth of the rows needs the number confirmed. On both
engines, against the real Takoma Park arrests (1,911 rows)."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from blotter.store import Store
from tests.api.conftest import ARRESTS, AUTH


def _published_rows(client: TestClient, count: int, where: str = "", **changes: str) -> str:
    """The first ``count`` published rows (matching ``where``) as the dataset's CSV export
    gives them (what a clerk downloads, edits and uploads again), with ``changes`` made to
    the first."""
    params = {"$limit": str(count), "$order": ":id"} | ({"$where": where} if where else {})
    answer = client.get(f"/resource/{ARRESTS}.csv", params=params)
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    rows[0].update(changes)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _upload(client: TestClient, body: str, **params: str) -> tuple[int, dict[str, object]]:
    answer = client.post(
        f"/api/views/{ARRESTS}/upload",
        params={"filename": "five.csv", **params},
        content=body.encode(),
        headers={"Content-Type": "text/csv"},
        auth=AUTH,
    )
    return answer.status_code, answer.json()


def test_a_dry_run_of_a_five_row_replace_reports_the_removals_and_changes_nothing(
    arrests_portal: tuple[Store, TestClient],
) -> None:
    store, client = arrests_portal
    status, report = _upload(client, _published_rows(client, 5), mode="replace", dryRun="true")
    assert status == 200, report
    assert {k: report[k] for k in ("rows", "added", "changed", "removed", "unchanged")} == {
        "rows": 5,
        "added": 0,
        "changed": 0,
        "removed": 1906,
        "unchanged": 5,
    }
    assert report["published"] == 1911 and report["confirmationNeeded"] is True
    assert report["problems"] == [] and report["privacy"] == {}
    assert len(report["samples"]["removed"]) == 5  # type: ignore[index]
    dataset = store.get_dataset(ARRESTS)
    assert (dataset.version, dataset.row_count) == (1, 1911)


def test_a_dry_run_shows_changed_rows_field_by_field_and_what_privacy_rules_do(
    arrests_portal: tuple[Store, TestClient],
) -> None:
    _, client = arrests_portal
    adult = "age >= 18 AND race != 'asian'"  # so the change and the rule both show
    params = {"$limit": "1", "$order": ":id", "$where": adult}
    served = client.get(f"/resource/{ARRESTS}.json", params=params).json()[0]
    body = _published_rows(client, 2, adult, age="16", race="asian")
    status, report = _upload(client, body, dryRun="true")  # default: upsert
    assert status == 200 and report["mode"] == "upsert"
    assert (report["changed"], report["removed"], report["unchanged"]) == (1, 0, 1)
    (sample,) = report["samples"]["changed"]  # type: ignore[index]
    assert sample["fields"]["race"] == {"before": served["race"], "after": "asian"}
    before_age = float(served["age"])
    assert sample["fields"]["age"] == {"before": before_age, "after": None}  # withheld, not 16
    assert report["privacy"] == {"juveniles_withheld": 1}


def test_a_large_replace_needs_the_number_confirmed_and_adding_is_the_default(
    arrests_portal: tuple[Store, TestClient],
) -> None:
    store, client = arrests_portal
    status, refused = _upload(client, _published_rows(client, 5), mode="replace")
    assert status == 409 and refused["code"] == "publish.confirm-removal"
    assert "would remove 1,906 of its 1,911 published rows" in refused["message"]  # type: ignore[operator]
    assert "five.csv" in refused["message"]  # type: ignore[operator]
    assert refused["data"]["removed"] == 1906  # type: ignore[index]
    assert store.get_dataset(ARRESTS).row_count == 1911
    status, _ = _upload(client, _published_rows(client, 5), mode="replace", confirm="1911")
    assert status == 409 and store.get_dataset(ARRESTS).row_count == 1911
    status, added = _upload(client, _published_rows(client, 5))  # no mode: add and update rows
    assert status == 200 and added["mode"] == "upsert"
    assert store.get_dataset(ARRESTS).row_count == 1911
    status, replaced = _upload(client, _published_rows(client, 5), mode="replace", confirm="1906")
    assert status == 200, replaced
    assert store.get_dataset(ARRESTS).row_count == 5


def test_an_upload_that_does_not_fit_names_the_users_file_and_the_missing_columns(
    arrests_portal: tuple[Store, TestClient],
) -> None:
    store, client = arrests_portal
    status, error = _upload(client, "arrest_id,Date\n1,2020-01-01\n", filename="May 2021.csv")
    assert status == 422
    message = str(error["message"])
    assert message.startswith("May_2021.csv does not fit its columns") or message.startswith(
        "May 2021.csv does not fit its columns"
    )
    assert "'Race' (for column 'race')" in message and "'Arrest id'" not in message
    assert "-May" not in message  # never the name the upload was saved under
    assert store.get_dataset(ARRESTS).version == 1
