"""Privacy rules applied again to published rows: which changes make the rules stricter,
that every rule applied twice changes nothing more (so the whole new rule set can be applied
to rows written under an older one), the juvenile rows whose age is gone, and the new
version written by the store on both engines: identities kept, only changed fields sent.
(Over HTTP, every read withdrawn: tests/api/test_privacy_tightened.py.)"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
import pytest
from sqlglot import exp

from blotter.model import Column, ColumnType, DatasetMeta
from blotter.privacy import PrivacyRules, reapply_problems, stricter, withdrawn_words
from blotter.schema import DATASET_TABLE
from blotter.store import Store
from blotter.store.protect import protect_again, protect_batch

COLUMNS = [
    Column(field_name="case_no", name="Case", type=ColumnType.TEXT),
    Column(field_name="address", name="Address", type=ColumnType.TEXT),
    Column(field_name="offense", name="Offense", type=ColumnType.TEXT),
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
    Column(field_name="band", name="Age band", type=ColumnType.TEXT),
    Column(field_name="suspect_age", name="Suspect age", type=ColumnType.NUMBER),
    Column(field_name="name", name="Name", type=ColumnType.TEXT),
    Column(field_name="narrative", name="Narrative", type=ColumnType.TEXT),
    Column(field_name="location", name="Location", type=ColumnType.POINT),
]
ROWS: dict[str, list[Any]] = {
    "case_no": ["c1", "c2", "c3", "c4"],
    "address": ["1517 Main St", "88 Elm St", "Main St & 5th Ave", None],
    "offense": ["theft", "sexual assault", "theft", "domestic"],
    "age": [16.0, 40.0, None, 70.0],
    "band": [None, None, None, None],
    "suspect_age": [22.0, 35.0, 61.0, None],
    "name": ["Ann Lee", "Bo Ray", None, "Cy Day"],
    "narrative": ["Ann Lee called 301-555-0123", "Bo Ray at home", "no one", "Cy Day, a@b.org"],
    "_location_lon": [-77.0123456, -77.02, None, -77.03],
    "_location_lat": [38.9812345, 38.99, None, 39.0],
}
EVERY_RULE = PrivacyRules.model_validate(
    {
        "juveniles": {"column": "age", "under": 18, "withhold": ["name"]},
        "age_bands": [{"column": "suspect_age", "into": "band"}],
        "hundred_block": ["address"],
        "points": [{"column": "location", "grid_m": 150}],
        "sensitive_offences": {"column": "offense", "withhold": ["address", "location"]},
        "scrub": {"columns": ["narrative"], "names": ["name"]},
    }
)


def _rules(**rules: object) -> PrivacyRules:
    return PrivacyRules.model_validate(rules)


JUV = {"column": "age", "under": 18}
STRICTER = [
    ({}, {"juveniles": JUV}, ["juveniles"]),
    ({"juveniles": JUV}, {"juveniles": {**JUV, "under": 21}}, ["juveniles"]),
    ({"juveniles": JUV}, {"juveniles": {**JUV, "action": "drop"}}, ["juveniles"]),
    ({"juveniles": JUV}, {"juveniles": {**JUV, "withhold": ["name"]}}, ["juveniles"]),
    ({"juveniles": {**JUV, "action": "drop"}}, {"juveniles": JUV}, []),
    ({"juveniles": {**JUV, "under": 21}}, {"juveniles": JUV}, []),
    ({"hundred_block": ["address"]}, {}, []),
    ({}, {"hundred_block": ["address"]}, ["hundred_block"]),
    (
        {"points": [{"column": "location"}]},
        {"points": [{"column": "location", "grid_m": 500}]},
        ["points"],
    ),
    ({"points": [{"column": "location", "grid_m": 500}]}, {"points": [{"column": "location"}]}, []),
    ({}, {"age_bands": [{"column": "suspect_age", "into": "band"}]}, ["age_bands"]),
    (
        {"sensitive_offences": {"column": "offense", "withhold": ["address"]}},
        {
            "sensitive_offences": {
                "column": "offense",
                "matches": ["SEX", "theft"],
                "withhold": ["address"],
            }
        },
        ["sensitive_offences"],
    ),
    (
        {"sensitive_offences": {"column": "offense", "matches": ["sex"], "withhold": ["address"]}},
        {"sensitive_offences": {"column": "offense", "matches": ["Sex"], "withhold": ["address"]}},
        [],
    ),
    (
        {"scrub": {"columns": ["narrative"]}},
        {"scrub": {"columns": ["narrative"], "names": ["name"]}},
        ["scrub"],
    ),
    (
        {"scrub": {"columns": ["narrative"], "names": ["name"]}},
        {"scrub": {"columns": ["narrative"]}},
        [],
    ),
    ({"hundred_block": ["address"]}, {"juveniles": JUV}, ["juveniles"]),  # one removed, one added
]


@pytest.mark.parametrize(("old", "new", "found"), STRICTER)
def test_which_changes_make_the_rules_stricter(
    old: dict[str, Any], new: dict[str, Any], found: list[str]
) -> None:
    assert stricter(_rules(**old), _rules(**new)) == found


def test_age_bands_cannot_be_drawn_again_once_the_ages_are_withheld() -> None:
    band = {"column": "suspect_age", "into": "band"}
    old = _rules(age_bands=[band])
    assert reapply_problems(old, _rules(age_bands=[band], hundred_block=["address"])) == []
    (problem,) = reapply_problems(old, _rules(age_bands=[{**band, "bounds": [18, 30, 50]}]))
    assert "'suspect_age' cannot be drawn again" in problem


def test_withdrawn_versions_are_named_in_runs() -> None:
    assert withdrawn_words([1]) == "version 1 withdrawn"
    assert withdrawn_words([3, 1, 2, 6, 5, 9]) == "versions 1-3, 5-6 and 9 withdrawn"


def test_every_rule_applied_twice_changes_nothing_more() -> None:
    """The whole rule set applied to rows already written under it leaves them as they are
    and counts nothing: re-applying a rule is safe."""
    once = protect_batch(EVERY_RULE, COLUMNS, pa.record_batch(ROWS), Counter())
    assert once.column("address").to_pylist()[:3] == [
        "1500 block of Main St",
        None,  # a sensitive offence: withheld
        "Main St & 5th Ave",
    ]
    counts: Counter[str] = Counter()
    twice, drop = protect_again(EVERY_RULE, EVERY_RULE, COLUMNS, once, counts)
    assert twice.to_pydict() == once.to_pydict()
    assert not any(drop.to_pylist()) and counts == Counter()


def test_a_stricter_juvenile_rule_takes_rows_whose_age_was_withheld_as_a_juveniles() -> None:
    old = _rules(juveniles={**JUV, "withhold": ["name"]})
    once = protect_batch(old, COLUMNS, pa.record_batch(ROWS), Counter())
    assert once.column("age").to_pylist() == [None, 40.0, None, 70.0]
    # c1 (16, withheld) and c3 (no age, and no name) cannot be told apart: both left out.
    counts: Counter[str] = Counter()
    _, drop = protect_again(old, _rules(juveniles={**JUV, "action": "drop"}), COLUMNS, once, counts)
    assert drop.to_pylist() == [True, False, True, False]
    assert counts == Counter({"juveniles_assumed": 2})
    more = _rules(juveniles={**JUV, "withhold": ["name", "narrative"]})
    counts = Counter()
    out, drop = protect_again(old, more, COLUMNS, once, counts)
    assert out.column("narrative").to_pylist() == [None, "Bo Ray at home", None, "Cy Day, a@b.org"]
    assert not any(drop.to_pylist()) and counts == Counter({"juveniles_assumed": 2})
    # Raised: an age now under the limit is found by its value.
    counts = Counter()
    out, _ = protect_again(
        old, _rules(juveniles={**JUV, "under": 50, "withhold": ["name"]}), COLUMNS, once, counts
    )
    assert out.column("name").to_pylist() == [None, None, None, "Cy Day"]
    assert counts == Counter({"juveniles_withheld": 1})


def _rows(store: Store, dataset_id: str) -> list[tuple[Any, ...]]:
    dataset = store.get_dataset(dataset_id)
    select = exp.select("_id", "_created_at", "_updated_at", "case_no", "address", "name")
    return list(store.execute(dataset, select.from_(DATASET_TABLE).order_by("_id")))


def test_the_store_writes_the_served_rows_again_keeping_their_identities(
    engine_store: Store,
) -> None:
    columns = [c.model_copy(update={"internal": c.field_name == "name"}) for c in COLUMNS]
    engine_store.create_dataset(DatasetMeta(name="Rows"), columns, dataset_id="rows-0001")
    engine_store.publish("rows-0001", columns, [pa.record_batch(ROWS)])
    before = _rows(engine_store, "rows-0001")
    rules = _rules(hundred_block=["address"], juveniles={**JUV, "action": "drop"})
    version, changes = engine_store.protect_published(
        "rows-0001", PrivacyRules(), rules, source="", note=""
    )
    assert (version.number, changes.updated, changes.deleted, changes.created) == (2, 1, 1, 0)
    assert version.privacy == {"addresses_generalised": 2, "juveniles_dropped": 1}
    after = _rows(engine_store, "rows-0001")
    # c1 (16) left out; c2's address generalised, same id and creation; c3, c4 untouched.
    assert [r[0] for r in after] == [r[0] for r in before[1:]]
    assert [r[1] for r in after] == [r[1] for r in before[1:]]
    assert after[0][4] == "0 block of Elm St" and after[0][2] > before[1][2]
    assert after[1:] == before[2:]
    assert [r[5] for r in after] == ["Bo Ray", None, "Cy Day"]  # the internal field kept
    assert engine_store.get_dataset("rows-0001").meta.privacy == PrivacyRules()  # not stored
    again, none = engine_store.protect_published("rows-0001", rules, rules, source="", note="")
    assert (again.number, none.updated, none.deleted) == (3, 0, 0)
    assert _rows(engine_store, "rows-0001") == after


def test_a_juvenile_rule_added_after_age_bands_reads_the_bands() -> None:
    """Age bands withheld every exact age: a juvenile rule added later finds the rows whose
    band may be under its limit (``under 18``, and ``15-24`` under 21)."""
    bands = [{"column": "suspect_age", "into": "band", "bounds": [18, 25, 60]}]
    old = _rules(age_bands=bands)
    once = protect_batch(old, COLUMNS, pa.record_batch(ROWS), Counter())
    assert once.column("band").to_pylist() == ["18-24", "25-59", "60 and over", None]
    for under, dropped in ((18, [False] * 4), (21, [True, False, False, False])):
        new = _rules(
            age_bands=bands, juveniles={"column": "suspect_age", "under": under, "action": "drop"}
        )
        counts: Counter[str] = Counter()
        _, drop = protect_again(old, new, COLUMNS, once, counts)
        assert drop.to_pylist() == dropped
        assert counts == Counter({"juveniles_assumed": sum(dropped)})
    new = _rules(
        age_bands=bands, juveniles={"column": "suspect_age", "under": 30, "withhold": ["name"]}
    )
    out, drop = protect_again(old, new, COLUMNS, once, Counter())
    assert out.column("name").to_pylist() == [None, None, None, "Cy Day"]
    assert out.column("band").to_pylist() == [None, None, "60 and over", None]


def test_text_scrubbed_of_a_name_an_earlier_rule_withheld_is_withheld_whole() -> None:
    """The juvenile's name was withheld, so it cannot be found in the narrative any more:
    the narrative of such a row is withheld whole; other rows are scrubbed of their name."""
    old = _rules(juveniles={**JUV, "withhold": ["name"]})
    once = protect_batch(old, COLUMNS, pa.record_batch(ROWS), Counter())
    assert once.column("narrative").to_pylist()[0] == "Ann Lee called 301-555-0123"
    new = _rules(
        juveniles={**JUV, "withhold": ["name"]}, scrub={"columns": ["narrative"], "names": ["name"]}
    )
    counts: Counter[str] = Counter()
    out, _ = protect_again(old, new, COLUMNS, once, counts)
    assert out.column("narrative").to_pylist() == [
        "[withheld]",
        "[withheld] at home",
        "[withheld]",  # c3 has no name: it may have been withheld, so its text is
        "[withheld], [withheld]",
    ]
    assert counts == Counter({"text_scrubbed": 4})


def test_stricter_rules_applied_twice_change_nothing_more() -> None:
    """A write that arrived under the old rules while the new ones were applied is reached
    by applying old → new again: the rows already written under the new ones stay as they
    are, the conservative parts (ages and names no longer known) included."""
    old = _rules(
        juveniles={**JUV, "withhold": ["name"]},
        age_bands=[{"column": "suspect_age", "into": "band"}],
    )
    new = _rules(
        juveniles={**JUV, "withhold": ["name", "address"]},
        age_bands=[{"column": "suspect_age", "into": "band"}],
        scrub={"columns": ["narrative"], "names": ["name"]},
        hundred_block=["address"],
        points=[{"column": "location", "grid_m": 400}],
    )
    once = protect_batch(old, COLUMNS, pa.record_batch(ROWS), Counter())
    first, drop = protect_again(old, new, COLUMNS, once, Counter())
    kept = first.filter(pa.compute.invert(drop))
    counts: Counter[str] = Counter()
    second, again = protect_again(old, new, COLUMNS, kept, counts)
    assert second.to_pydict() == kept.to_pydict()
    assert not any(again.to_pylist()) and +counts == Counter()
