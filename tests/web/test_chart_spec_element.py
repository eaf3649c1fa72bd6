"""A chart's spec is written into its page as data (``<script type="application/json">``):
whatever the rows hold, a browser reads it as that one element, whole, and the page after
it as the page."""

from __future__ import annotations

from playwright.sync_api import Browser

from tests.portal import PUBLIC, Portal

# Values a records system may hold; the first put the HTML parser where the element's own
# closing tag no longer ends it, so everything up to the next </script> became script text.
HOSTILE = ["<!--<script>", "</script><p id=injected>x</p>", "--> & <"]

_READ = """() => {
    const specs = [...document.querySelectorAll('script.chart-spec')].map((s) => {
        try { return JSON.parse(s.textContent); } catch (err) { return null; }
    });
    return {
        specs,
        tables: document.querySelectorAll('details.chart-table').length,
        injected: document.getElementById('injected') !== null,
    };
}"""


def test_no_value_in_the_rows_breaks_a_chart_spec_out_of_its_element(
    portal: Portal, browser: Browser
) -> None:
    rows = [
        {"case_no": f"h{i}", "offense": value, "age": 30 + i, "officer_name": "Lee"}
        for i, value in enumerate(HOSTILE)
    ]
    token = {"X-App-Token": portal.tokens["write_public"]}
    written = portal.client.post(f"/resource/{PUBLIC}.json", json=rows, headers=token)
    assert written.status_code == 200, written.text
    html = portal.client.get(f"/datasets/{PUBLIC}", params={"chart.by": "offense"}).text
    page = browser.new_page()
    try:
        page.set_content(html)
        found = page.evaluate(_READ)
    finally:
        page.close()
    assert len(found["specs"]) == 1 and found["specs"][0] is not None, "the spec was cut"
    counted = {row["value"] for row in found["specs"][0]["data"]["values"]}
    assert set(HOSTILE) <= counted
    assert found["tables"] == 1  # the chart's data table is still part of the page
    assert not found["injected"]
