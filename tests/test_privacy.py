"""``PrivacyRules.for_reader``: the rules as a reader who may not see every column reads
them, each unseen field a neutral placeholder, in the copy and in its plain words."""

from __future__ import annotations

from blotter.privacy import UNPUBLISHED, PrivacyRules

# Every rule kind, each naming public columns and internal ones (the ``secret_`` fields).
RULES = PrivacyRules.model_validate(
    {
        "juveniles": {"column": "age", "withhold": ["secret_name", "secret_dob", "beat"]},
        "age_bands": [
            {"column": "age", "into": "age_band"},
            {"column": "secret_age", "into": "secret_band", "bounds": [21, 40]},
        ],
        "hundred_block": ["secret_home", "address", "secret_work"],
        "points": [
            {"column": "secret_home_point", "grid_m": 200},
            {"column": "secret_work_point", "grid_m": 200},
            {"column": "location"},
        ],
        "sensitive_offences": {
            "column": "secret_offense",
            "matches": ["sexual"],
            "withhold": ["address", "secret_home", "location"],
        },
        "scrub": {"columns": ["narrative"], "names": ["secret_name", "secret_alias"]},
        "raw_copies": {"age": "age_raw"},
        "carriers": {"location": ["secret_exact_point"]},
    }
)
SHOWN = {"age", "age_band", "beat", "address", "location", "narrative", "age_raw"}


def test_every_field_the_reader_may_not_see_is_the_placeholder_once_per_list() -> None:
    seen = RULES.for_reader(SHOWN)
    assert seen.model_dump(mode="json") == {
        "juveniles": {
            "column": "age",
            "under": 18,
            "action": "withhold",
            "withhold": [UNPUBLISHED, "beat"],
        },
        "age_bands": [
            {"column": "age", "into": "age_band", "bounds": [18, 25, 35, 45, 55, 65]},
            {"column": UNPUBLISHED, "into": UNPUBLISHED, "bounds": [21, 40]},
        ],
        "hundred_block": [UNPUBLISHED, "address"],
        # The two internal point rules are one rule to this reader, said once; building it
        # did not trip the check that no field has two point rules.
        "points": [{"column": UNPUBLISHED, "grid_m": 200}, {"column": "location", "grid_m": 150}],
        "sensitive_offences": {
            "column": UNPUBLISHED,
            "matches": ["sexual"],
            "withhold": ["address", UNPUBLISHED, "location"],
        },
        "scrub": {"columns": ["narrative"], "names": [UNPUBLISHED]},
        "raw_copies": {},  # raw copies are internal columns, and no rule
        "carriers": {},  # nor are the columns carrying a field's cells
    }
    assert "secret_" not in seen.model_dump_json()
    # The rules themselves are untouched.
    assert RULES.scrub is not None and RULES.scrub.names == ["secret_name", "secret_alias"]
    assert RULES.raw_copies == {"age": "age_raw"}


def test_the_plain_words_say_the_placeholder_unquoted() -> None:
    assert RULES.for_reader(SHOWN).describe() == [
        "For people under 18, the age ('age') is withheld, and an unpublished column and "
        "'beat' are withheld, so no juvenile can be identified.",
        "Exact ages ('age') are not published; 'age_band' gives the age band (18-24, …).",
        "Exact ages (an unpublished column) are not published; an unpublished column gives "
        "the age band (21-39, …).",
        "Addresses (an unpublished column and 'address') are given to the hundred block "
        "('1234 Main St' becomes '1200 block of Main St').",
        "Locations (an unpublished column) are moved to a grid of 200 m, so no exact home "
        "is shown.",
        "Locations ('location') are moved to a grid of 150 m, so no exact home is shown.",
        "Where the offence (an unpublished column) names a victim's circumstances (sexual), "
        "the location ('address', an unpublished column and 'location') is withheld.",
        "Free text ('narrative') is cleared of the names in an unpublished column, phone "
        "numbers, e-mail addresses and social-security-like numbers.",
    ]


def test_a_reader_who_sees_every_column_reads_the_rules_as_set() -> None:
    every = {*RULES.fields(), *SHOWN}
    seen = RULES.for_reader(every)
    assert seen == RULES.model_copy(update={"raw_copies": {}, "carriers": {}})
    assert seen.describe() == RULES.describe()
    assert "the names in 'secret_name' and 'secret_alias'" in seen.describe()[-1]


def test_a_drop_rule_and_a_single_withheld_field_read_well() -> None:
    drop = PrivacyRules.model_validate({"juveniles": {"column": "secret_age", "action": "drop"}})
    assert drop.for_reader(set()).describe() == [
        "Records of people under 18 (by an unpublished column) are not published."
    ]
    one = PrivacyRules.model_validate({"juveniles": {"column": "age", "withhold": ["secret"]}})
    assert one.for_reader({"age"}).describe() == [
        "For people under 18, the age ('age') is withheld, and an unpublished column is "
        "withheld, so no juvenile can be identified."
    ]


def test_no_rules_stay_no_rules() -> None:
    assert PrivacyRules().for_reader(set()) == PrivacyRules()
    assert PrivacyRules().for_reader(set()).is_empty()
