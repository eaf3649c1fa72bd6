"""blotter/history.py's kept counts stay bounded however many versions a server is asked about."""

from __future__ import annotations

import pytest

from blotter import history


def test_kept_counts_forget_the_oldest_past_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "_KEPT", 3)
    memo: dict[int, str] = {}
    for key in range(10):
        assert history._keep(memo, key, f"v{key}") == f"v{key}"
        assert len(memo) <= 3
    assert memo == {7: "v7", 8: "v8", 9: "v9"}
