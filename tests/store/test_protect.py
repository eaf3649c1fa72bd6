"""Privacy rules on Arrow rows: each rule's transformation, as tables of cases, and the
counts a publish reports. (Every write path applying them: tests/api/test_privacy.py.)"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from blotter.model import Column, ColumnType
from blotter.privacy import PrivacyRules, band_label, count_words, rule_problems
from blotter.store.protect import (
    WITHHELD,
    hundred_block,
    protect_batch,
    protect_staged,
    raw_copies_internal,
    scrub_text,
)

HUNDRED_BLOCK = [
    ("1234 Main St", "1200 block of Main St"),
    ("  57 Elm Avenue ", "0 block of Elm Avenue"),
    ("7305B Carroll Ave", "7300 block of Carroll Ave"),
    ("100 Maple Ave", "100 block of Maple Ave"),
    ("1200 block of Main St", "1200 block of Main St"),  # already general: unchanged
    ("Main St & Oak Ave", "Main St & Oak Ave"),  # an intersection names no home
    ("Carroll Ave", "Carroll Ave"),
    ("16th St & Elm Ave", "16th St & Elm Ave"),
    # A house number with a unit or a range after a hyphen was published whole.
    ("1234-A Main St", "1200 block of Main St"),
    ("1234-1236 Main St", "1200 block of Main St"),
    ("1234 - 1236 Main St", "1200 block of Main St"),
    ("1234 1/2 Main St", "1200 block of Main St"),
    ("1234½ Main St", "1200 block of Main St"),
]


@pytest.mark.parametrize(("address", "published"), HUNDRED_BLOCK)
def test_addresses_are_given_to_the_hundred_block(address: str, published: str) -> None:
    assert hundred_block(address) == published


SCRUB = [
    ("Call 301-555-0123 after 5", [], f"Call {WITHHELD} after 5"),
    ("phone (301) 555 0123.", [], f"phone {WITHHELD}."),
    ("mail jo.doe+x@example.org now", [], f"mail {WITHHELD} now"),
    ("SSN 123-45-6789 given", [], f"SSN {WITHHELD} given"),
    ("Neighbour at 555-0123 saw it", [], f"Neighbour at {WITHHELD} saw it"),  # a local number
    ("or 555.0123.", [], f"or {WITHHELD}."),
    ("Subject John Smith fled; Smith was found", ["John Smith"], f"Subject {WITHHELD} fled; "),
    ("Officer spoke to the driver", ["Al Li"], "Officer spoke to the driver"),
    # A short surname, or one part of a double-barrelled one, said alone was published.
    ("Li was found; Officer Wu left", ["Wu, Li"], f"{WITHHELD} was found; Officer {WITHHELD}"),
    ("Ms Jones called", ["Mary Smith-Jones"], f"Ms {WITHHELD} called"),
    ("Report 2015-00123 filed", [], "Report 2015-00123 filed"),  # a case number stays
]


@pytest.mark.parametrize(("text", "names", "start"), SCRUB)
def test_free_text_loses_names_phones_emails_and_ssns(
    text: str, names: list[str], start: str
) -> None:
    assert scrub_text(text, names).startswith(start)
    for name in names:
        assert name.split()[-1] not in scrub_text(text, names)


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (12, "under 18"),
        (18, "18-24"),
        (24.5, "18-24"),
        (25, "25-34"),
        (64, "55-64"),
        (90, "65 and over"),
    ],
)
def test_ages_fall_in_their_band(age: float, band: str) -> None:
    assert band_label(age, [18, 25, 35, 45, 55, 65]) == band


COLUMNS = [
    Column(field_name="age", name="Age", type=ColumnType.NUMBER),
    Column(field_name="age_band", name="Age band", type=ColumnType.TEXT),
    Column(field_name="name", name="Name", type=ColumnType.TEXT),
    Column(field_name="offense", name="Offense", type=ColumnType.TEXT),
    Column(field_name="address", name="Address", type=ColumnType.TEXT),
    Column(field_name="narrative", name="Narrative", type=ColumnType.TEXT),
    Column(field_name="location", name="Location", type=ColumnType.POINT),
]
BATCH = pa.record_batch(
    {
        "age": pa.array([16.0, 30.0, None], pa.float64()),
        "age_band": pa.array([None, None, None], pa.string()),
        "name": pa.array(["Ann Roe", "Bo Poe", None], pa.string()),
        "offense": pa.array(["theft", "Sexual assault", "theft"], pa.string()),
        "address": pa.array(["1234 Main St", "18 Oak St", None], pa.string()),
        "narrative": pa.array(["Ann Roe ran", "called 301-555-0123", None], pa.string()),
        "_location_lon": pa.array([-77.01234, -77.0, None], pa.float64()),
        "_location_lat": pa.array([38.98765, 38.9, None], pa.float64()),
    }
)
RULES = PrivacyRules.model_validate(
    {
        "juveniles": {"column": "age", "withhold": ["name"]},
        "age_bands": [{"column": "age", "into": "age_band"}],
        "hundred_block": ["address"],
        "points": [{"column": "location", "grid_m": 200}],
        "sensitive_offences": {"column": "offense", "withhold": ["address", "location"]},
        "scrub": {"columns": ["narrative"], "names": ["name"]},
    }
)


def test_every_rule_applies_and_is_counted() -> None:
    counts: Counter[str] = Counter()
    out = protect_batch(RULES, COLUMNS, BATCH, counts).to_pydict()
    assert out["age"] == [None, None, None]  # the juvenile's withheld, the adult's banded
    assert out["age_band"] == [None, "25-34", None]
    assert out["name"] == [None, "Bo Poe", None]
    assert out["address"] == ["1200 block of Main St", None, None]
    assert out["_location_lat"][1] is None  # the sensitive offence's location is withheld
    assert out["_location_lat"][0] != 38.98765 and abs(out["_location_lat"][0] - 38.98765) < 0.002
    # Scrubbed with the row's name even though the juvenile rule withholds the name itself.
    assert out["narrative"] == [f"{WITHHELD} ran", f"called {WITHHELD}", None]
    assert counts == {
        "juveniles_withheld": 1,
        "locations_withheld": 1,
        "ages_banded": 1,
        "addresses_generalised": 1,
        "points_snapped": 1,
        "text_scrubbed": 2,
    }
    assert count_words(counts)[0] == "1 record of a juvenile with the age withheld"


def test_a_drop_rule_leaves_the_row_out_of_a_publish() -> None:
    rules = PrivacyRules.model_validate({"juveniles": {"column": "age", "action": "drop"}})
    counts: Counter[str] = Counter()
    out = protect_batch(rules, COLUMNS, BATCH, counts)
    assert out.column("name").to_pylist() == ["Bo Poe", None]
    assert counts == {"juveniles_dropped": 1}


def test_a_staged_update_sends_what_a_rule_emptied_and_a_dropped_row_becomes_a_delete() -> None:
    columns = COLUMNS[:3]
    staged = pa.table(
        {
            "__seq": [1, 2],
            "__delete": [False, False],
            "__key": ["a", "b"],
            "__given": ["100", "100"],  # each update sends only the age
            "age": pa.array([15.0, 40.0]),
            "age_band": pa.array([None, None], pa.string()),
            "name": pa.array([None, None], pa.string()),
        }
    )
    withhold = PrivacyRules.model_validate({"juveniles": {"column": "age", "withhold": ["name"]}})
    out = protect_staged(withhold, columns, staged, Counter())
    assert out.column("__given").to_pylist() == ["101", "100"]
    assert out.column("age").to_pylist() == [None, 40.0]
    drop = PrivacyRules.model_validate({"juveniles": {"column": "age", "action": "drop"}})
    assert protect_staged(drop, columns, staged, Counter()).column("__delete").to_pylist() == [
        True,
        False,
    ]


def test_the_raw_copy_of_a_protected_field_is_internal() -> None:
    rules = PrivacyRules.model_validate(
        {"hundred_block": ["address"], "raw_copies": {"address_raw": "address", "x_raw": "x"}}
    )
    columns = [
        Column(field_name="address_raw", name="Address (as recorded)", type=ColumnType.TEXT),
        Column(field_name="x_raw", name="X (as recorded)", type=ColumnType.TEXT),
    ]
    assert [c.internal for c in raw_copies_internal(rules, columns)] == [True, False]


def test_columns_carrying_a_protected_field_are_internal_unless_a_rule_names_them() -> None:
    """A carrier of a carrier is a copy too; a carrier a rule protects, or whose values a
    rule writes (an age band derived from the age), stays public."""
    rules = PrivacyRules.model_validate(
        {
            "hundred_block": ["address", "address_kept"],
            "age_bands": [{"column": "age", "into": "age_band"}],
            "raw_copies": {"address_raw": "address"},
            "carriers": {
                "address": ["address_kept", "place"],
                "place": ["place_kind"],
                "age": ["age_band", "age_text"],
                "x": ["x_again"],
            },
        }
    )
    assert rules.copies({"address"}) == dict.fromkeys(
        ["address_raw", "address_kept", "place", "place_kind"], "address"
    )
    assert set(rules.unprotected_copies()) == {"address_raw", "place", "place_kind", "age_text"}
    names = ["address_raw", "address_kept", "place", "place_kind", "age_band", "age_text"]
    columns = [Column(field_name=n, name=n, type=ColumnType.TEXT) for n in [*names, "x_again"]]
    assert [c.internal for c in raw_copies_internal(rules, columns)] == [
        True,
        False,  # protected by its own rule
        True,
        True,  # derived from a carrier
        False,  # the age band rule's output
        True,
        False,  # carries a field no rule protects
    ]


def test_a_juveniles_withheld_field_is_withheld_from_its_carriers_too() -> None:
    rules = PrivacyRules.model_validate(
        {
            "juveniles": {"column": "age", "withhold": ["name"]},
            "carriers": {"name": ["name_again"], "age": ["age_text"]},
        }
    )
    columns = [
        Column(field_name="age", name="Age", type=ColumnType.NUMBER),
        Column(field_name="age_text", name="Age as text", type=ColumnType.TEXT),
        Column(field_name="name", name="Name", type=ColumnType.TEXT),
        Column(field_name="name_again", name="Name again", type=ColumnType.TEXT),
    ]
    batch = pa.record_batch(
        {
            "age": [15.0, 40.0],
            "age_text": ["15", "40"],
            "name": ["Ann", "Bo"],
            "name_again": ["Ann", "Bo"],
        }
    )
    out = protect_batch(rules, columns, batch, Counter())
    assert out.to_pylist() == [
        {"age": None, "age_text": None, "name": None, "name_again": None},
        {"age": 40.0, "age_text": "40", "name": "Bo", "name_again": "Bo"},
    ]


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ({"hundred_block": ["street"]}, "'hundred_block' names 'street', which is not a column"),
        ({"juveniles": {"column": "name"}}, "need 'name' to be a number column; it is text"),
        ({"points": [{"column": "address"}]}, "need 'address' to be a point column"),
    ],
)
def test_rules_are_checked_against_the_columns(rules: dict[str, object], problem: str) -> None:
    types = {c.field_name: str(c.type) for c in COLUMNS}
    (found,) = rule_problems(PrivacyRules.model_validate(rules), types)
    assert problem in found
