"""Every error has a stable code, a client status and the SODA body shape."""

from __future__ import annotations

import pytest

from blotter.errors import BlotterError, SoQLError, ValidationFailed, all_error_classes

CLIENT_ERRORS = [c for c in all_error_classes() if c is not BlotterError]


@pytest.mark.parametrize("cls", CLIENT_ERRORS, ids=lambda c: c.__name__)
def test_every_client_error_has_a_code_and_a_4xx_or_503_status(cls: type[BlotterError]) -> None:
    assert cls.code and cls.code != "internal"
    assert 400 <= cls.status < 500 or cls.status == 503


def test_soda_error_body_shape() -> None:
    err = SoQLError("Could not parse $where", clause="$where", query="a =", line=1, column=4)
    assert err.to_dict() == {
        "code": "query.compiler.malformed",
        "error": True,
        "message": "Could not parse $where",
        "data": {"clause": "$where", "query": "a =", "position": {"line": 1, "column": 4}},
    }


def test_validation_failure_carries_every_problem() -> None:
    problems = [{"row": 3, "column": "Age", "value": "x", "reason": "'x' is not a number"}]
    err = ValidationFailed("1 problem", problems, total=1)
    assert err.status == 422
    assert err.to_dict()["data"] == {"problems": problems, "total_problems": 1}
