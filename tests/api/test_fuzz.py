"""Random query strings over HTTP: a client can send anything, and never gets a 500."""

from __future__ import annotations

import re
from typing import Any

import pytest
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
    "1e99999",
    "99999999999999999999",
    "::floating_timestamp",
    "::checkbox",
    "NOT NOT NOT NOT ",
    "upper(upper(upper(",
    "distinct ",
    "case(",
    "coalesce(",
    "'x' || ",
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


# --- hostile requests, one by one: each a 4xx with the portal's body and no engine text ---

_DEEP_CALLS = "upper(" * 500 + "subject_race" + ")" * 500
_ANDS = " AND ".join(["injured"] * 3000)
_BIG_IN = ",".join(str(i) for i in range(1500))  # past the cap, within the URL limit
# Words engines put in their messages; none may reach a client.
ENGINE_WORDS = re.compile(
    r"Binder Error|Conversion Error|INT128|bigint|double precision|psycopg|duckdb|DuckDB|"
    r"Catalog Error|Parser Error|syntax error at|LINE \d|HINT|numeric field|_dataset|ds_\w+_v\d|"
    r"overflow|invalid input syntax|value out of range|division by zero|Out of Range Error",
)
# fmt: off
HOSTILE: list[tuple[str, dict[str, str], set[str] | None]] = [
    ("200-nots", {"$where": "NOT " * 200 + "injured"}, {"query.soql.too-large"}),
    # Near 50 kB of URL: a URL-length cap may refuse it first, also a 4xx in our body.
    ("3000-ands", {"$where": _ANDS}, None),
    ("500-nested-calls", {"$select": _DEEP_CALLS}, {"query.soql.too-large"}),
    ("in-1500-values", {"$where": f"subject_age IN ({_BIG_IN})"}, {"query.soql.too-large"}),
    ("search-150-words", {"$q": " ".join(f"w{i}" for i in range(150))}, {"query.soql.too-large"}),
    ("number-past-double", {"$where": "subject_age > 1e99999"}, {"query.execution.invalid-value"}),
    ("negative-number-past-double", {"$select": "subject_age * -1e400"}, {"query.execution.invalid-value"}),
    ("cast-chain-to-timestamp", {"$select": "subject_age::text::number::floating_timestamp"}, {"query.soql.type-mismatch"}),
    ("cast-number-to-checkbox", {"$select": "subject_age::checkbox"}, {"query.soql.type-mismatch"}),
    ("cast-timestamp-to-number", {"$where": "occurred::number > 5"}, {"query.soql.type-mismatch"}),
    ("cast-point", {"$select": "location::text"}, {"query.soql.type-mismatch"}),
    ("huge-offset", {"$offset": "99999999999999999999999"}, {"query.compiler.malformed"}),
    ("huge-limit", {"$limit": "99999999999999999999999"}, {"query.compiler.malformed"}),
    ("distinct-order-outside", {"$select": "distinct subject_race", "$order": "subject_age"}, {"query.compiler.malformed"}),
]
# Run on the data: each engine may answer (DuckDB casts leniently, reads overflow as inf), but
# a refusal is a 400 in our words.
DATA_DEPENDENT: list[tuple[str, dict[str, str]]] = [
    ("text-to-number", {"$select": "case_number::number"}),
    ("text-to-timestamp", {"$where": "case_number::floating_timestamp > '2015-01-01'"}),
    ("sum-overflows", {"$select": "sum(subject_age * 1e300 * 1e300)"}),
    ("remainder-past-decimal", {"$select": "subject_age % 1e30"}),
    ("remainder-of-huge", {"$select": "(subject_age * 1e300) % 7"}),
    ("product-of-huge", {"$select": "subject_age * 9223372036854775807 * 9223372036854775807"}),
    ("round-huge-places", {"$select": "round(subject_age, 99999999)"}),
    ("ln-of-zero-and-negative", {"$select": "ln(subject_age - subject_age), ln(-subject_age)"}),
    ("date-diff-extreme", {"$select": "date_diff_d(occurred, '0001-01-01')"}),
    ("remainder-by-zero", {"$select": "subject_age % 0, subject_age / 0"}),
]
# fmt: on


def _refused_in_our_words(response: Any, codes: set[str] | None = None) -> None:
    assert 400 <= response.status_code < 500, response.text[:300]
    body = response.json()
    assert body["error"] is True and body["message"], body
    if codes is not None:
        assert body["code"] in codes, body
    assert not ENGINE_WORDS.search(body["message"]), body["message"]


@pytest.mark.parametrize(("name", "params", "codes"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_queries_are_refused_in_our_words(
    client: TestClient, name: str, params: dict[str, str], codes: set[str] | None
) -> None:
    response = client.get(f"/resource/{DATASET_ID}.json", params=params)
    _refused_in_our_words(response, codes)


_STATEMENTS = [h for h in HOSTILE if "$select" in h[1] or "$where" in h[1]]


@pytest.mark.parametrize(("name", "params", "codes"), _STATEMENTS, ids=[h[0] for h in _STATEMENTS])
def test_hostile_statements_through_soda3_are_refused_in_our_words(
    client: TestClient, name: str, params: dict[str, str], codes: set[str] | None
) -> None:
    select = params.get("$select", "*")
    where = f" WHERE {params['$where']}" if "$where" in params else ""
    order = f" ORDER BY {params['$order']}" if "$order" in params else ""
    response = client.post(
        f"/api/v3/views/{DATASET_ID}/query.json",
        json={"query": f"SELECT {select}{where}{order}"},
    )
    _refused_in_our_words(response, codes or {"query.soql.too-large"})


@pytest.mark.parametrize(("name", "params"), DATA_DEPENDENT, ids=[d[0] for d in DATA_DEPENDENT])
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_values_an_engine_cannot_compute_are_never_a_server_error(
    client: TestClient, name: str, params: dict[str, str], fmt: str
) -> None:
    response = client.get(f"/resource/{DATASET_ID}.{fmt}", params=params)
    if response.status_code != 200:
        _refused_in_our_words(response, {"query.execution.invalid-value"})


# fmt: off
ANALYSIS: list[tuple[str, str]] = [
    ("cell-nan", "hotspots.geojson?cell=nan"),
    ("cell-inf", "hotspots.geojson?cell=inf"),
    ("cell-minus-inf", "hotspots.geojson?cell=-inf"),
    ("cell-negative", "hotspots.geojson?cell=-250"),
    ("cell-zero", "hotspots.geojson?cell=0"),
    ("cell-huge", "hotspots.geojson?cell=1e308"),
    ("cell-past-double", "hotspots.geojson?cell=1e99999"),
    ("cell-text", "hotspots.geojson?cell=wide"),
    ("cell-tiny", "hotspots.geojson?cell=0.0000001"),
    ("hotspots-where-escaping-parentheses", "hotspots.geojson?$where=true) OR (true"),
    ("hotspots-deep-where", "hotspots.geojson?$where=" + "NOT " * 200 + "injured"),
    ("trend-period-unknown", "trend.json?period=fortnight"),
    ("trend-period-nan", "trend.json?period=nan"),
    ("trend-huge-number", "trend.json?$where=subject_age > 1e99999"),
    ("rates-without-benchmark", "rates.json"),
    ("activity-without-link", "activity.json?period=week"),
]
# fmt: on


@pytest.mark.parametrize(("name", "path"), ANALYSIS, ids=[a[0] for a in ANALYSIS])
def test_analysis_parameters_are_refused_with_a_4xx(
    client: TestClient, name: str, path: str
) -> None:
    response = client.get(f"/api/analysis/v1/{DATASET_ID}/{path}")
    _refused_in_our_words(response)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(statement=SOQLISH)
def test_no_soda3_statement_causes_a_server_error(client: TestClient, statement: str) -> None:
    response = client.post(
        f"/api/v3/views/{DATASET_ID}/query.json", json={"query": f"SELECT {statement}"}
    )
    assert response.status_code < 500, (statement, response.text)
