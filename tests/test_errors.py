"""Every error class, pinned: its code slug, its status, its SODA body, its headers; and the
answer each edge makes of it (JSON for the API, a page otherwise) through the real app."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

import blotter
from blotter import errors as e
from blotter.app import create_app
from blotter.errors import BlotterError, all_error_classes
from blotter.settings import Settings

PROBLEMS = [{"row": 3, "column": "Age", "value": "x", "reason": "'x' is not a number"}]
WHERE = {"clause": "$where", "query": "a =", "position": {"line": 1, "column": 4}}


def soql(cls: type[e.SoQLError]) -> e.SoQLError:
    return cls("Could not parse $where.", clause="$where", query="a =", line=1, column=4)


# One line per class: an example as the portal raises it, then the code a client matches on,
# the status, and the body's data. A new class fails the coverage test until it is added.
CASES: list[tuple[BlotterError, str, int, dict[str, Any]]] = [
    (BlotterError("Something went wrong on our side."), "internal", 500, {}),
    (e.NotFound("Nothing is at /x."), "not_found", 404, {}),
    (e.DatasetNotFound("abcd-1234"), "not_found", 404, {"dataset_id": "abcd-1234"}),
    (
        e.VersionNotFound("abcd-1234", 9, 3),
        "version.not-found",
        404,
        {"dataset_id": "abcd-1234", "version": 9, "newest": 3},
    ),
    (
        e.VersionGone("abcd-1234", 2, "versions 5 and 6"),
        "version.gone",
        410,
        {"dataset_id": "abcd-1234", "version": 2, "kept": "versions 5 and 6"},
    ),
    (e.InvalidRequest("Bad id.", field="id"), "invalid_request", 400, {"field": "id"}),
    (e.AuthenticationRequired("Sign in."), "authentication_required", 401, {}),
    (e.PermissionDenied("Not yours."), "permission_denied", 403, {}),
    (e.Conflict("Exists."), "conflict", 409, {}),
    (
        e.ConfirmationNeeded("Confirm.", removed=90),
        "publish.confirm-removal",
        409,
        {"removed": 90},
    ),
    (e.PayloadTooLarge("Too big.", limit_bytes=10), "request.too-large", 413, {"limit_bytes": 10}),
    (e.UriTooLong("Too long.", url_bytes=9), "request.uri-too-long", 414, {"url_bytes": 9}),
    (
        e.TooManyRequests("Slow down.", limit_per_minute=60, retry_after_s=2),
        "too_many_requests",
        429,
        {"limit_per_minute": 60, "retry_after_s": 2},
    ),
    (e.AccountLocked("Locked.", retry_after_s=61), "auth.locked", 429, {"retry_after_s": 61}),
    (
        e.TooManyFailures("From here.", retry_after_s=5),
        "auth.too-many-failures",
        429,
        {"retry_after_s": 5},
    ),
    (e.UnsupportedMediaType("JSON only."), "request.unsupported-media-type", 415, {}),
    (
        e.MapLayerInvalid("Map layer /x.geojson: no attribution.", file="/x.geojson"),
        "map.layer-invalid",
        503,
        {"file": "/x.geojson"},
    ),
    (e.StoreBusy("In use."), "store.locked", 503, {}),
    (e.StoreOutOfMemory("976.5 MiB"), "store.out-of-memory", 503, {"limit": "976.5 MiB"}),
    (e.StoreUnavailable("Down.", retry_after_s=3), "store.unavailable", 503, {"retry_after_s": 3}),
    (e.StoreSaturated("Full.", retry_after_s=5), "store.busy", 503, {"retry_after_s": 5}),
    (
        e.StoreShortOfResources("No room.", retry_after_s=60),
        "store.short-of-resources",
        503,
        {"retry_after_s": 60},
    ),
    (e.StoreConflict("Clash.", retry_after_s=1), "store.conflict", 503, {"retry_after_s": 1}),
    (
        e.SchemaMismatch("Upgrading.", retry_after_s=5),
        "store.schema-mismatch",
        503,
        {"retry_after_s": 5},
    ),
    (e.QueryTimeout("Too slow."), "query.execution.timeout", 408, {}),
    (
        e.DrawingTimedOut(20.0),
        "chart.drawing-timeout",
        503,
        {"limit_s": 20.0, "retry_after_s": 5},
    ),
    (soql(e.SoQLError), "query.compiler.malformed", 400, WHERE),
    (soql(e.NoSuchColumn), "query.soql.no-such-column", 400, WHERE),
    (soql(e.NoSuchFunction), "query.soql.no-such-function", 400, WHERE),
    (soql(e.TypeMismatch), "query.soql.type-mismatch", 400, WHERE),
    (soql(e.QueryTooLarge), "query.soql.too-large", 400, WHERE),
    (soql(e.QueryValueError), "query.execution.invalid-value", 400, WHERE),
    (e.IngestError("Not a CSV."), "ingest.invalid", 422, {}),
    (e.FileTooLarge("Too many rows.", rows=9), "ingest.too-large", 413, {"rows": 9}),
    (
        e.ValidationFailed("1 problem", PROBLEMS, total=1),
        "ingest.validation-failed",
        422,
        {"problems": PROBLEMS, "total_problems": 1},
    ),
]
IDS = [type(err).__name__ for err, *_ in CASES]


def every_error_class() -> list[type[BlotterError]]:
    """Every class of the family, wherever declared: each module imported first."""
    for module in pkgutil.walk_packages(blotter.__path__, "blotter."):
        importlib.import_module(module.name)
    return all_error_classes()


def test_the_table_has_every_error_class_once() -> None:
    assert sorted(IDS) == sorted(c.__name__ for c in every_error_class())


def test_every_error_class_is_declared_in_errors_py() -> None:
    declared = [f"{c.__module__}.{c.__name__}" for c in every_error_class()]
    assert [name for name in declared if not name.startswith("blotter.errors.")] == []


@pytest.mark.parametrize(("err", "code", "status", "data"), CASES, ids=IDS)
def test_each_error_has_its_code_status_and_soda_body(
    err: BlotterError, code: str, status: int, data: dict[str, Any]
) -> None:
    assert (err.code, err.status) == (code, status)
    assert err.to_dict() == {"code": code, "error": True, "message": err.message, "data": data}
    # Only the root (a bug) is a 500; everything else is the client's to fix or a 503.
    assert type(err) is BlotterError or 400 <= status < 500 or status == 503


@pytest.mark.parametrize(("err", "code", "status", "data"), CASES, ids=IDS)
def test_an_error_that_says_how_long_to_wait_carries_retry_after(
    err: BlotterError, code: str, status: int, data: dict[str, Any]
) -> None:
    wait = data.get("retry_after_s")
    assert err.headers == ({"Retry-After": str(wait)} if wait is not None else {})


def test_the_missing_dataset_message_names_it() -> None:
    assert e.DatasetNotFound("abcd-1234").message == "Dataset 'abcd-1234' does not exist."
    assert e.VersionGone("abcd-1234", 2, "versions 5 and 6").message == (
        "Version 2 of dataset 'abcd-1234' was removed by the portal's retention setting, "
        "which keeps versions 5 and 6; read a kept version or the newest instead."
    )
    assert e.VersionNotFound("abcd-1234", 9, 3).message == (
        "Dataset 'abcd-1234' has no version 9: its versions are numbered 1 to 3."
    )


# --- through the app: each edge renders every error the same way ---------------------


@pytest.fixture
def raising(engine_config: Settings) -> Iterator[TestClient]:
    """The real app with two routes that raise the table's errors: one on an API path, one
    on a page path. Unthrottled, as the table has more errors than an address's budget."""
    settings = engine_config.model_copy(update={"throttle_anonymous_per_minute": 0})
    app: FastAPI = create_app(settings)

    def raise_case(number: int) -> None:
        raise CASES[number][0]

    app.add_api_route("/api/raise/{number}", raise_case)
    app.add_api_route("/raise/{number}", raise_case, methods=["GET", "POST"])
    with TestClient(app, follow_redirects=False) as client:
        yield client


def test_the_api_edge_answers_every_error_with_its_soda_body(raising: TestClient) -> None:
    for number, (err, code, status, data) in enumerate(CASES):
        answer = raising.get(f"/api/raise/{number}")
        assert answer.status_code == status, code
        assert answer.headers["content-type"] == "application/json; charset=utf-8"
        assert answer.json() == {"code": code, "error": True, "message": err.message, "data": data}
        assert answer.headers.get("retry-after") == err.headers.get("Retry-After"), code
        # Scripts told to authenticate are told how.
        challenge = answer.headers.get("www-authenticate")
        assert challenge == ('Basic realm="Blotter", charset="UTF-8"' if status == 401 else None)


def test_the_page_edge_answers_every_error_with_a_page(raising: TestClient) -> None:
    for number, (err, code, status, _) in enumerate(CASES):
        answer = raising.get(f"/raise/{number}")
        if status == 401:  # a page that needs an account sends the visitor to sign in
            assert answer.status_code == 303
            assert answer.headers["location"] == f"/login?next=/raise/{number}"
            continue
        assert answer.status_code == status, code
        assert answer.headers["content-type"].startswith("text/html")
        assert str(escape(err.message)) in answer.text, code
        assert f"Error {status}" in answer.text
        assert answer.headers.get("retry-after") == err.headers.get("Retry-After"), code


def test_a_page_posted_without_an_account_gets_the_401_page(raising: TestClient) -> None:
    number = IDS.index("AuthenticationRequired")
    answer = raising.post(f"/raise/{number}")
    assert answer.status_code == 401 and "Sign in." in answer.text
