"""Throttling: anonymous callers per address, app tokens per token, 429 past the limit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from blotter.app import create_app
from blotter.settings import Settings
from tests.api.conftest import DATASET_ID


def test_anonymous_callers_get_429_past_their_limit_and_tokens_get_their_own(
    settings: Settings,
) -> None:
    settings = settings.model_copy(
        update={
            "throttle_anonymous_per_minute": 3,
            "throttle_token_per_minute": 5,
            "app_tokens": ["journalist-1", "journalist-2"],
        }
    )
    url = f"/resource/{DATASET_ID}.json?$limit=1"
    with TestClient(create_app(settings)) as client:
        assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
        refused = client.get(url)
        assert refused.status_code == 429
        body = refused.json()
        assert body["code"] == "too_many_requests" and "X-App-Token" in body["message"]
        assert body["data"] == {
            "limit_per_minute": 3,
            "retry_after_s": body["data"]["retry_after_s"],
        }
        assert int(refused.headers["retry-after"]) >= 1
        # Pages spend from the same budget: a flood of page views is refused too, with a
        # page (not JSON) that says when to come back, and without checking credentials.
        page = client.get("/", headers={"Authorization": "Basic bm9ib2R5Ondyb25n"})
        assert page.status_code == 429
        assert page.headers["content-type"].startswith("text/html")
        assert "Too many requests" in page.text and int(page.headers["retry-after"]) >= 1
        # The assets a page loads are free.
        assert client.get("/static/blotter.css").status_code == 200
        tokened = [
            client.get(url, headers={"X-App-Token": "journalist-1"}).status_code for _ in range(6)
        ]
        assert tokened == [200] * 5 + [429]
        other = client.get(url + "&$$app_token=journalist-2")
        assert other.status_code == 200
        # A made-up token buys nothing: it is throttled with the anonymous callers.
        made_up = client.get(url, headers={"X-App-Token": "free-lunch"})
        assert made_up.status_code == 429


def test_a_zero_limit_means_no_throttling(settings: Settings) -> None:
    settings = settings.model_copy(update={"throttle_anonymous_per_minute": 0})
    with TestClient(create_app(settings)) as client:
        statuses = {client.get(f"/api/views/{DATASET_ID}.json").status_code for _ in range(20)}
        assert statuses == {200}


def test_an_accounts_live_api_token_gets_the_token_budget(settings: Settings) -> None:
    from blotter.accounts import add_user, create_token, revoke_token
    from blotter.model import Role
    from blotter.store import open_store

    store = open_store(settings)
    try:
        add_user(store, "reporter", Role.ANALYST, "a long enough passphrase")
        record, secret = create_token(store, "reporter", "notebook", ["read-internal"])
        limited = settings.model_copy(
            update={"throttle_anonymous_per_minute": 2, "throttle_token_per_minute": 4}
        )
        url = f"/resource/{DATASET_ID}.json?$limit=1"
        with TestClient(create_app(limited, store=store)) as client:
            codes = [client.get(url, headers={"X-App-Token": secret}).status_code for _ in range(5)]
            assert codes == [200] * 4 + [429]
            assert store.list_tokens("reporter")[0].last_used_at is not None
        revoke_token(store, record.id)
        # A fresh throttle checks again: a revoked token is throttled as anonymous, and told
        # (401) rather than silently served as the public.
        with TestClient(create_app(limited, store=store)) as client:
            answers = [client.get(url, headers={"X-App-Token": secret}) for _ in range(3)]
            assert [a.status_code for a in answers] == [401, 401, 429]
            assert "revoked" in answers[0].json()["message"]
    finally:
        store.close()
