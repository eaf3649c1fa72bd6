"""The dataset page over a small dataset whose every answer is known: paging, sorting,
filters of each column type, chips, downloads of what is shown, and friendly failures."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import ROWS, STOPS, stop_row
from tests.web.reading import column, data_table, href, status_line

URL = f"/datasets/{STOPS}"
CASE, STREET, AGE, OCCURRED, SEARCHED, LOCATION = range(6)


def cases(page: str) -> list[str]:
    return column(page, CASE)


def expected(keep: object) -> list[str]:
    """Case numbers of the stops ``keep`` accepts, in :id order."""
    return [str(stop_row(i)["case_number"]) for i in range(ROWS) if keep(stop_row(i))]  # type: ignore[operator]


def test_first_page_shows_25_rows_and_links_to_the_next(web: TestClient) -> None:
    page = web.get(URL).text
    assert status_line(page) == f"Showing rows 1–25 of {ROWS} matching."
    assert cases(page) == expected(lambda r: int(r["age"]) < 45)
    assert 'rel="next"' in page and 'rel="prev"' not in page
    assert "Page 1 of 3" in page


@pytest.mark.parametrize(
    ("params", "status", "first", "last"),
    [
        ({"page": "3"}, "Showing rows 51–60 of 60 matching.", "C050", "C059"),
        ({"size": "10", "page": "2"}, "Showing rows 11–20 of 60 matching.", "C010", "C019"),
        ({"size": "100"}, "Showing rows 1–60 of 60 matching.", "C000", "C059"),
        ({"page": "99"}, "Showing rows 51–60 of 60 matching.", "C050", "C059"),  # the last page
    ],
)
def test_paging(
    web: TestClient, params: dict[str, str], status: str, first: str, last: str
) -> None:
    page = web.get(URL, params=params).text
    assert status_line(page) == status
    shown = cases(page)
    assert (shown[0], shown[-1]) == (first, last)


def test_cells_are_formatted_for_people(web: TestClient) -> None:
    row = data_table(web.get(URL).text).rows[1]
    assert row == ["C001", "Main St", "21", "2020-01-02 08:30", "No", "43.50100, -72.99900"]


def test_column_headings_sort_and_say_how(web: TestClient) -> None:
    page = web.get(URL, params={"sort": "age", "dir": "desc"}).text
    assert cases(page)[:3] == ["C059", "C058", "C057"]
    headers = data_table(page).headers
    assert [h.get("aria-sort") for h in headers] == [None, None, "descending", None, None, None]
    assert all(h.get("scope") == "col" for h in headers)
    # The sorted heading's link reverses the order; the others sort ascending.
    assert parse_qs(urlsplit(href(page, r"sort=age")).query)["dir"] == ["asc"]
    assert parse_qs(urlsplit(href(page, r"sort=occurred")).query)["dir"] == ["asc"]
    text_sorted = web.get(URL, params={"sort": "street", "dir": "asc"}).text
    assert column(text_sorted, STREET)[0] == "Elm St"


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"street": "O'Brien St"}, lambda r: r["street"] == "O'Brien St"),
        ({"street__not": "Main St"}, lambda r: r["street"] != "Main St"),
        ({"case_number": "C007"}, lambda r: r["case_number"] == "C007"),
        ({"case_number__contains": "c01"}, lambda r: r["case_number"].startswith("C01")),
        ({"age__min": "30", "age__max": "39"}, lambda r: 30 <= r["age"] <= 39),
        ({"age__min": "70.5"}, lambda r: r["age"] >= 70.5),
        # A date as the upper bound takes in the whole of that day.
        (
            {"occurred__min": "2020-01-10", "occurred__max": "2020-01-19"},
            lambda r: "2020-01-10" <= r["occurred"].date().isoformat() <= "2020-01-19",
        ),
        ({"searched": "true"}, lambda r: r["searched"]),
        ({"searched": "false"}, lambda r: not r["searched"]),
        (
            {"street": "O'Brien St", "searched": "true", "age__max": "50"},
            lambda r: r["street"] == "O'Brien St" and r["searched"] and r["age"] <= 50,
        ),
    ],
)
def test_filters_show_exactly_the_matching_rows(
    web: TestClient, params: dict[str, str], keep: object
) -> None:
    page = web.get(URL, params={**params, "size": "100"}).text
    want = expected(keep)
    assert status_line(page) == f"Showing rows 1–{len(want)} of {len(want)} matching."
    assert cases(page) == want


def test_filters_show_as_chips_that_remove_themselves(web: TestClient) -> None:
    page = web.get(URL, params={"street": "O'Brien St", "age__min": "30", "sort": "age"}).text
    chips = re.findall(r'aria-label="Remove filter: ([^"]*)"', page)
    assert chips == ["Street is O&#39;Brien St", "Driver age from 30"]
    remove = href(page, r"^/datasets/test-0001\?age__min=30&sort=age$")
    assert status_line(web.get(remove).text) == "Showing rows 1–25 of 50 matching."


def test_downloads_and_api_link_carry_the_filter_and_order_but_no_paging(
    web: TestClient,
) -> None:
    params = {"street": "O'Brien St", "age__min": "30", "sort": "age", "dir": "desc", "page": "2"}
    page = web.get(URL, params={**params, "size": "10"}).text
    where = "`street` = 'O''Brien St' AND `age` >= 30"
    csv_url = href(page, r"rows\.csv")
    query = parse_qs(urlsplit(csv_url).query)
    assert query == {"accessType": ["DOWNLOAD"], "$where": [where], "$order": ["`age` DESC"]}
    want = expected(lambda r: r["street"] == "O'Brien St" and r["age"] >= 30)[::-1]
    rows = list(csv.DictReader(io.StringIO(web.get(csv_url).text)))
    assert [r["case_number"] for r in rows] == want
    assert {r["street"] for r in rows} == {"O'Brien St"}

    json_rows = web.get(href(page, r"rows\.json")).json()
    assert [r["case_number"] for r in json_rows] == want
    api_url = href(page, r"^/resource/test-0001\.json")
    assert parse_qs(urlsplit(api_url).query) == {"$where": [where], "$order": ["`age` DESC"]}
    assert [r["case_number"] for r in web.get(api_url).json()] == want
    assert "rows.geojson" in page  # the dataset has a point column


def test_the_filter_form_holds_the_current_view(web: TestClient) -> None:
    page = web.get(
        URL, params={"street": "Main St", "age__min": "30", "sort": "age", "size": "50"}
    ).text
    # A choice's count is what it would show under the other filters (here: age from 30).
    main_st = len(expected(lambda r: r["street"] == "Main St" and r["age"] >= 30))
    assert f'<option value="Main St" selected>Main St ({main_st})</option>' in page
    assert 'name="age__min" value="30"' in page
    for name, value in (("sort", "age"), ("size", "50")):
        assert f'<input type="hidden" name="{name}" value="{value}">' in page
    # Free-text columns offer "is exactly" and "contains"; checkboxes yes, no or any.
    assert '<label for="f-case_number">is exactly</label>' in page
    assert '<label for="f-case_number-contains">contains</label>' in page
    assert '<option value="true">Yes</option>' in page


def test_a_filter_the_form_has_no_box_for_is_kept_when_the_form_is_applied(
    web: TestClient,
) -> None:
    page = web.get(
        URL, params={"age__not": "30", "street__not": "Main St", "case_number__contains": "C0"}
    ).text
    form = page[page.index('<form method="get"') : page.index("</form>")]
    assert '<input type="hidden" name="age__not" value="30">' in form
    assert 'name="case_number__contains" value="C0"' in form  # its own box holds it
    # "is not" has its own list for a category, under "More ways".
    assert '<select id="f-street-not" name="street__not">' in form
    assert re.search(r'<option value="Main St" selected>Main St \(\d+\)</option>', form)


def test_is_one_of_from_the_form_becomes_one_shareable_parameter(web: TestClient) -> None:
    sent = web.get(f"{URL}?street__in=Main+St&street__in=Elm+St", follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"{URL}?street__in=Main+St%7CElm+St"
    page = web.get(sent.headers["location"]).text
    rows = expected(lambda r: r["street"] in ("Main St", "Elm St"))
    assert f"of {len(rows)} matching" in page
    assert "Street is one of Main St, Elm St" in page
    form = page[page.index('<form method="get"') : page.index("</form>")]
    assert re.search(r'<option value="Main St" selected>Main St \(\d+\)</option>', form)


def test_an_empty_form_submission_redirects_to_the_clean_address(web: TestClient) -> None:
    response = web.get(
        URL, params={"case_number": "", "street": "Main St", "age__min": ""}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{URL}?street=Main+St"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"age__min": "abc"}, "Driver age: &#39;abc&#39; is not a number."),
        ({"occurred__max": "someday"}, "Occurred: &#39;someday&#39;"),
        ({"searched": "maybe"}, "Searched: &#39;maybe&#39; is not yes or no."),
        ({"shoe_size": "9"}, "&#39;shoe_size&#39; is not a filter of this dataset."),
        ({"searched__contains": "x"}, "Searched cannot be filtered by &#39;contains&#39; here."),
        ({"sort": "nope"}, "&#39;nope&#39; is not a column that can be sorted."),
        ({"size": "7"}, "Rows per page can be 10, 25, 50, 100."),
        ({"page": "first"}, "The page number must be a whole number from 1."),
    ],
)
def test_bad_input_is_a_400_page_that_says_what_to_fix(
    web: TestClient, params: dict[str, str], message: str
) -> None:
    response = web.get(URL, params=params)
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]
    assert message in response.text
    assert 'class="error-summary" role="alert"' in response.text
    assert 'class="data"' not in response.text  # no table that would pretend to answer


def test_a_bad_value_is_flagged_on_its_own_field_and_the_good_filters_stay(
    web: TestClient,
) -> None:
    page = web.get(URL, params={"age__min": "abc", "street": "Main St"}).text
    assert '<a href="#f-age-min">Driver age: &#39;abc&#39; is not a number.</a>' in page
    assert 'aria-invalid="true" aria-describedby="f-age-min-error"' in page
    assert 'value="abc"' in page  # what was typed stays, to be corrected
    assert '<details class="filters" open>' in page
    assert "Remove filter: Street is Main St" in page


def test_metadata_links_licence_attribution_source_and_contact(web: TestClient) -> None:
    page = web.get(URL).text
    for fragment in (
        '<a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>',
        '<a href="https://testville.example/records">Testville Police Records Unit</a>',
        '<a href="https://testville.example/stops.csv">https://testville.example/stops.csv</a>',
        '<a href="mailto:records@testville.example">Records Unit</a>',
        "<dt>Rows</dt>\n    <dd>60</dd>",
        "<dd>test-0001, version 1</dd>",
        "<dt>Created</dt>",
        "<dt>Updates</dt>",
        "Ages are as written on the ticket.",
    ):
        assert fragment in page, fragment
    assert "Generated sample data" not in page


def test_data_dictionary_lists_every_column(web: TestClient) -> None:
    page = web.get(URL).text
    dictionary = page[page.index('id="dictionary-heading"') :]
    rows = re.findall(
        r'<th scope="row" role="rowheader">([^<]*)</th><td role="cell"><code>([^<]*)</code></td>'
        r'<td role="cell">([^<]*)</td><td role="cell">([^<]*)</td>',
        dictionary,
    )
    assert [r[:3] for r in rows] == [
        ("Case number", "case_number", "text"),
        ("Street", "street", "text"),
        ("Driver age", "age", "number"),
        ("Occurred", "occurred", "floating_timestamp"),
        ("Searched", "searched", "checkbox"),
        ("Location", "location", "point"),
    ]
    assert rows[1][3] == "Where the stop happened, as the officer wrote it."


def test_generated_dataset_page_says_so_and_offers_no_geojson(web: TestClient) -> None:
    page = web.get("/datasets/smpl-0002").text
    assert "<strong>Generated sample data.</strong>" in page
    assert "rows.geojson" not in page
    assert status_line(page) == "Showing rows 1–2 of 2 matching."


def test_unknown_dataset_and_unknown_path_are_404_pages(web: TestClient) -> None:
    for url, says in (("/datasets/zzzz-9999", "zzzz-9999"), ("/nowhere", "/nowhere")):
        response = web.get(url)
        assert response.status_code == 404
        assert "text/html" in response.headers["content-type"]
        assert says in response.text and "Error 404" in response.text
        assert '<main id="main"' in response.text
