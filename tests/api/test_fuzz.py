"""Random query strings over HTTP: a client can send anything, and never gets a 500."""

from __future__ import annotations

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import DATASET_ID

PIECES = [
    *"abcdeilnorstuy _(),'`:*=<>!-+/%|.0123456789",
    "subject_age",
    "subject_race",
    "occurred",
    "injured",
    "location",
    " AND ",
    " OR ",
    "NOT ",
    " IS NULL",
    "count(*)",
    " between ",
    " in (",
    " like ",
    "::number",
    "::text",
    "'2015-01-01'",
    "ln(",
    "abs(",
    "within_circle(location, 43.6, -72.9, 100)",
    "date_trunc_ym(",
    "/ 0",
    "% 0",
    "-1e308",
]
SOQLISH = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)
CLAUSES = st.sampled_from(
    [
        "$select",
        "$where",
        "$order",
        "$group",
        "$having",
        "$q",
        "$query",
        "$limit",
        "$offset",
        "subject_age",
    ]
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(params=st.dictionaries(CLAUSES, SOQLISH, min_size=1, max_size=3))
def test_no_query_string_causes_a_server_error(client: TestClient, params: dict[str, str]) -> None:
    response = client.get(f"/resource/{DATASET_ID}.json", params=params)
    assert response.status_code < 500, (params, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert body["error"] is True and body["code"] and body["message"]
