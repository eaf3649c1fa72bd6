"""Download names: what a file holds, in characters every file system and header takes."""

from __future__ import annotations

from datetime import date

import pytest

from blotter.api.filenames import FILTER_CHARS, download_filename, filter_words, slug

DAY = date(2026, 11, 30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Use of force, Rutland (VT) Police, 2015–2017",
            "use-of-force-rutland-vt-police-2015-2017",
        ),
        ("Arrêts à Montréal", "arrets-a-montreal"),
        ("subject_race = 'black'", "subject_race-black"),
        ('a"b\\c\r\nd', "a-b-c-d"),
        ("“quoted” — 日本", "quoted"),
    ],
)
def test_slug_keeps_words_and_drops_everything_else(text: str, expected: str) -> None:
    assert slug(text) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"$where": "subject_race = 'black'", "$order": "occurred", "$limit": "5"},
            "subject_race-black",
        ),
        ({"subject_race": "asian", "accessType": "DOWNLOAD"}, "subject_race-asian"),
        ({"$q": "taser", "$select": "case_number"}, "taser"),
        ({"accessType": "DOWNLOAD"}, ""),
    ],
)
def test_filter_words_name_the_filter_not_the_shape(params: dict[str, str], expected: str) -> None:
    assert filter_words(params) == expected


def test_download_filename_names_dataset_id_filter_and_day() -> None:
    name = download_filename("Use of force", "e2x9-2kgt", "subject_race-black", "csv", DAY)
    assert name == "use-of-force-e2x9-2kgt-subject_race-black-2026-11-30.csv"
    assert (
        download_filename("Stops", "abcd-1234", "", "json", DAY)
        == "stops-abcd-1234-2026-11-30.json"
    )


def test_a_long_filter_is_cut_without_a_dangling_hyphen() -> None:
    name = download_filename("X", "abcd-1234", "a " * 100, "csv", DAY)
    about = name.removeprefix("x-abcd-1234-").removesuffix("-2026-11-30.csv")
    assert len(about) <= FILTER_CHARS and not about.endswith("-")
