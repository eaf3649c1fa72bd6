"""The dataset page's plain-language summary, freshness, charts (as SVG with words and a
data table) and code snippets, all for the current filter; counted against the answer key."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from blotter.analysis.summary import freshness
from blotter.model import Cadence, Coverage, Dataset, DatasetMeta
from tests.web.conftest import ROWS, STOPS, stop_row


def _table(html: str, title: str) -> list[list[str]]:
    """The rows of a chart's data table, as text."""
    figure = html.split(f">{title}</strong>", 1)[1].split("</figure>", 1)[0]
    body = figure.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def test_the_summary_says_how_many_when_and_what_is_common(web: TestClient) -> None:
    page = web.get(f"/datasets/{STOPS}").text
    assert f"{ROWS} rows between January 2020 and February 2020." in page
    assert "Of the 60 rows that record searched, 30 (50%) say yes." in page
    assert "Of the 60 rows that record street, 20 (33%) record Elm St." in page


def test_the_summary_follows_the_filter(web: TestClient) -> None:
    page = web.get(f"/datasets/{STOPS}?street=Main+St").text
    main_st = [stop_row(i) for i in range(ROWS) if stop_row(i)["street"] == "Main St"]
    searched = sum(1 for r in main_st if r["searched"])
    assert f"{len(main_st)} rows matching the filters between January 2020" in page
    assert f"Of the {len(main_st)} rows that record searched, {searched} (" in page


def test_count_by_a_column_is_an_svg_with_words_and_its_table(web: TestClient) -> None:
    page = web.get(f"/datasets/{STOPS}?chart.by=street&searched=true").text
    assert '<svg role="img" aria-label="Rows by street"' in page
    rows = _table(page, "Rows by street")
    searched = [stop_row(i) for i in range(ROWS) if stop_row(i)["searched"]]
    expected = {s: sum(1 for r in searched if r["street"] == s) for s in ("Main St", "Elm St")}
    expected["O'Brien St"] = sum(1 for r in searched if r["street"] == "O'Brien St")
    assert {r[0].replace("&#39;", "'"): int(r[1]) for r in rows} == expected
    assert "30 rows with a known street." in page


@pytest.mark.parametrize(
    ("period", "labels"),
    [("month", ["2020-01", "2020-02"]), ("quarter", ["2020 Q1"]), ("year", ["2020"])],
)
def test_counts_over_time_by_period(web: TestClient, period: str, labels: list[str]) -> None:
    page = web.get(f"/datasets/{STOPS}?chart.period={period}").text
    title = f"Rows by {period}"
    rows = _table(page, title)
    assert [r[0] for r in rows] == labels
    if period == "month":
        assert [int(r[1]) for r in rows] == [31, 29]  # 2020 is a leap year
    assert sum(int(r[1]) for r in rows) == ROWS


def test_a_split_draws_one_line_per_value_and_a_crosstab_counts_pairs(web: TestClient) -> None:
    page = web.get(
        f"/datasets/{STOPS}?chart.period=year&chart.split=street"
        "&chart.down=street&chart.across=searched"
    ).text
    split = _table(page, "Rows by year and street")
    assert split == [["2020", "20", "20", "20"]]
    cross = {r[0].replace("&#39;", "'"): r[1:] for r in _table(page, "Street by searched")}
    for street in ("Main St", "Elm St", "O'Brien St"):
        rows = [stop_row(i) for i in range(ROWS) if stop_row(i)["street"] == street]
        yes = sum(1 for r in rows if r["searched"])
        assert sorted(int(v) for v in cross[street][:2]) == sorted([yes, len(rows) - yes])
        assert int(cross[street][2]) == len(rows)


def test_a_chart_of_an_unknown_column_is_a_400_that_says_so(web: TestClient) -> None:
    answer = web.get(f"/datasets/{STOPS}?chart.by=colour")
    assert answer.status_code == 400
    assert "Charts cannot count by &#39;colour&#39;" in answer.text


def test_snippets_fetch_exactly_the_rows_shown(web: TestClient) -> None:
    page = web.get(f"/datasets/{STOPS}?street=Main+St&sort=age&dir=desc").text
    assert (
        "client.get_all(&#39;test-0001&#39;, where=&#34;`street` = &#39;Main St&#39;&#34;" in page
    )
    assert "order=&#39;`age` DESC&#39;" in page
    base = web.app.state.portal.settings.base_url  # type: ignore[attr-defined]
    assert f"pd.read_csv(&#34;{base}/api/views/test-0001/rows.csv?accessType=DOWNLOAD" in page


def _dataset(cadence: Cadence, as_of: datetime) -> Dataset:
    return Dataset(
        id="abcd-1234",
        meta=DatasetMeta(name="x", cadence=cadence),
        columns=[],
        created_at=as_of,
        updated_at=as_of,
        data_as_of=as_of,
        rows_updated_at=as_of,
    )


def test_freshness_warns_only_when_a_promised_refresh_is_late() -> None:
    now = datetime(2026, 11, 30)
    fresh = freshness(_dataset(Cadence.MONTHLY, now - timedelta(days=20)), now)
    assert fresh.text == "Published November 10, 2026, updates monthly."  # as of: the load day
    assert fresh.late is None
    late = freshness(_dataset(Cadence.MONTHLY, now - timedelta(days=90)), now)
    assert late.late is not None and "monthly updates" in late.late and "90 days old" in late.late
    # What is late is the newest record, not the upload: data ending years ago are stale.
    stale = freshness(
        _dataset(Cadence.MONTHLY, now - timedelta(days=1)), now, newest=datetime(2017, 12, 17)
    )
    assert stale.late is not None and "newest record is 3,270 days old" in stale.late
    declared = _dataset(Cadence.ANNUALLY, now - timedelta(days=1))
    declared.meta.coverage = Coverage(start=date(2015, 1, 1), end=date(2017, 12, 31))
    declared.meta.extracted = date(2018, 2, 1)
    text = freshness(declared, now).text
    assert text.startswith("Covers January 1, 2015 to December 31, 2017, data as of February 1,")
    assert "annual updates" in str(freshness(declared, now).late)
    never = freshness(_dataset(Cadence.AS_NEEDED, now - timedelta(days=900)), now)
    assert never.late is None and never.text.endswith("as needed.")
