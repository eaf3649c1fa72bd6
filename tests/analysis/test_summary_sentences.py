"""The summary's share sentences agree with their counts: "1 does not record it", "2 do not"."""

from __future__ import annotations

from datetime import datetime

import pytest

from blotter.analysis.summary import Facts, Share, summary_sentences
from blotter.analysis.units import Unit
from blotter.model import Column, ColumnType, Dataset, DatasetMeta

BEAT = Column(field_name="beat", name="Beat", type=ColumnType.TEXT, unknown_values=["UNK"])
ARRESTED = Column(field_name="arrested", name="Arrested", type=ColumnType.CHECKBOX)
WHEN = datetime(2026, 12, 1)
DATASET = Dataset(
    id="abcd-1234",
    meta=DatasetMeta(name="Calls"),
    columns=[BEAT, ARRESTED],
    created_at=WHEN,
    updated_at=WHEN,
)
ROWS = Unit(name="rows", noun="rows", key=None)


def _shares(*shares: Share) -> list[str]:
    facts = Facts(rows=10, date_column=None, first=None, last=None, shares=list(shares), unit=ROWS)
    return summary_sentences(DATASET, facts, filtered=False)[1:]


@pytest.mark.parametrize(
    ("count", "missing", "unknown", "sentence"),
    [
        (
            1,
            1,
            1,
            "Of the 8 rows that record beat, 1 (12%) records 8T3; "
            "1 records it as unknown and 1 does not record it.",
        ),
        (
            2,
            2,
            2,
            "Of the 6 rows that record beat, 2 (33%) record 8T3; "
            "2 record it as unknown and 2 do not record it.",
        ),
        (3, 0, 0, "Of the 10 rows that record beat, 3 (30%) record 8T3."),
    ],
)
def test_share_sentences_agree_with_their_counts(
    count: int, missing: int, unknown: int, sentence: str
) -> None:
    recorded = 10 - missing - unknown
    assert _shares(Share(BEAT, "8T3", count, recorded, missing, unknown)) == [sentence]


def test_a_checkbox_share_agrees_too() -> None:
    assert _shares(Share(ARRESTED, "yes", 1, 10)) == [
        "Of the 10 rows that record arrested, 1 (10%) says yes."
    ]
    assert _shares(Share(ARRESTED, "yes", 4, 10)) == [
        "Of the 10 rows that record arrested, 4 (40%) say yes."
    ]
