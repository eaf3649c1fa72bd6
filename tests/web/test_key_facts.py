"""The home page's key facts, on both engines: counted in the dataset's declared unit (an
incident of several rows counts once, one spanning New Year counts in each year it touches),
over the period covered and in its last year; the agency's name heads the page; the brand's
stylesheet and logo come from settings."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from blotter.accounts import add_user
from blotter.app import create_app
from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.model import Role
from blotter.settings import Settings
from blotter.store import Store

ROWS = """case,at,kind
c1,2019-03-01T10:00:00,hands
c1,2019-03-01T10:05:00,taser
c2,2019-12-31T23:00:00,hands
c2,2020-01-01T00:30:00,hands
c3,2020-05-01T08:00:00,hands
c4,2020-06-01T08:00:00,taser
c4,2020-06-01T08:00:00,hands
c5,,hands
"""
SPEC = """name: Force, Testville
agency: Testville Police
key_fact: uses of force
units:
  - {name: incidents, key: case, noun: incidents}
columns:
  - {field: case, source: case}
  - {field: at, source: at, type: floating_timestamp}
  - {field: kind, source: kind}
"""
UNMARKED = SPEC.replace("key_fact: uses of force\n", "").replace("Force, Testville", "Other")


def facts(page: str) -> list[str]:
    section = page.split('<section class="key-facts"', 1)[1].split("</section>", 1)[0]
    links = re.findall(r'<a href="(/datasets/[^"]+)">(.*?)</a>', section, re.S)
    return [f"{url} {html.unescape(re.sub(r'<[^>]+>', '', text))}" for url, text in links]


def _load(store: Store, tmp_path: Path, spec: str, name: str) -> str:
    (tmp_path / f"{name}.csv").write_text(ROWS)
    (tmp_path / f"{name}.yaml").write_text(spec)
    result = load_file(
        store, tmp_path / f"{name}.csv", spec=load_spec_file(tmp_path / f"{name}.yaml")
    )
    return result.dataset_id


def test_key_facts_count_the_declared_unit_over_the_period_and_its_last_year(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    marked = _load(engine_store, tmp_path, SPEC, "force")
    _load(engine_store, tmp_path, UNMARKED, "other")
    settings = engine_config.model_copy(update={"agency_name": "Testville Police Department"})
    with TestClient(create_app(settings, store=engine_store)) as client:
        page = client.get("/").text
    assert '<h1 class="agency">Testville Police Department</h1>' in page
    # Counted here from ROWS: five cases (c5 has no date but is an incident); in 2020 the
    # cases with a row dated 2020 are c2, c3 and c4. Only the marked dataset states a fact.
    rows = [line.split(",") for line in ROWS.splitlines()[1:]]
    cases = {case for case, _, _ in rows}
    in_2020 = {case for case, at, _ in rows if at.startswith("2020")}
    assert (len(cases), len(in_2020)) == (5, 3)
    assert facts(page) == [
        f"/datasets/{marked} {len(cases)} uses of force 2019–2020; {len(in_2020)} in 2020"
    ]
    # A search is about the list: the facts give way to it.
    with TestClient(create_app(settings, store=engine_store)) as client:
        assert 'class="key-facts"' not in client.get("/?q=force").text


def test_without_marked_datasets_the_dated_ones_state_their_unit(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    other = _load(engine_store, tmp_path, UNMARKED, "other")
    with TestClient(create_app(engine_config, store=engine_store)) as client:
        page = client.get("/").text
    assert facts(page) == [f"/datasets/{other} 5 incidents 2019–2020; 3 in 2020"]


def test_a_dataset_made_again_under_its_id_states_its_own_fact(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    """Facts are kept per version; a dataset deleted and loaded again under its id starts
    its versions over, so its new rows' count must not be the old one's."""
    marked = _load(engine_store, tmp_path, SPEC, "force")
    with TestClient(create_app(engine_config, store=engine_store)) as client:
        assert facts(client.get("/").text) == [
            f"/datasets/{marked} 5 uses of force 2019–2020; 3 in 2020"
        ]
        engine_store.delete_dataset(marked)
        fewer = "\n".join(ROWS.splitlines()[:3]) + "\n"  # c1 alone, in 2019
        (tmp_path / "fewer.csv").write_text(fewer)
        (tmp_path / "fewer.yaml").write_text(f"id: {marked}\n" + SPEC)
        load_file(
            engine_store, tmp_path / "fewer.csv", spec=load_spec_file(tmp_path / "fewer.yaml")
        )
        assert engine_store.get_dataset(marked).version == 1
        page = client.get("/").text
    assert facts(page) == [f"/datasets/{marked} 1 uses of force 2019"]


def test_brand_stylesheet_and_logo_come_from_settings(tmp_path: Path) -> None:
    logo = tmp_path / "badge.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 32)
    settings = Settings(
        data_dir=tmp_path, brand_colour="#333", accent_colour="#7A1F5C", agency_logo=logo
    )
    with TestClient(create_app(settings)) as client:
        css = client.get("/brand.css")
        assert css.headers["content-type"].startswith("text/css")
        assert css.text == ":root { --head: #333333; --accent: #7a1f5c; }\n"
        served = client.get("/brand/logo")
        assert served.headers["content-type"] == "image/png"
        assert served.content == logo.read_bytes()
        page = client.get("/").text
        assert '<link rel="stylesheet" href="/brand.css">' in page
        assert '<img class="logo" src="/brand/logo" alt=""' in page
        assert "style=" not in page  # the content policy forbids inline styles
    with TestClient(create_app(Settings(data_dir=tmp_path / "plain"))) as client:
        assert client.get("/brand/logo").headers["content-type"] == "image/svg+xml"
    gone = Settings(data_dir=tmp_path / "gone", agency_logo=tmp_path / "missing.svg")
    with TestClient(create_app(gone)) as client:
        missing = client.get("/brand/logo")
        assert missing.status_code == 404
        assert "logo file (BLOTTER_AGENCY_LOGO) is missing" in missing.text


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("brand_colour", "red", "must be a hex colour such as #102a43, not 'red'"),
        ("brand_colour", "#000;} body {display:none", "must be a hex colour"),
        ("accent_colour", "#ffcc00", "#ffcc00 has 1.5"),  # too light under text
        ("agency_logo", "https://example.org/logo.png", "must be a file on this server"),
        ("agency_logo", "logo.gif", "must be one of .svg, .png, .jpg, .jpeg, .webp"),
    ],
)
def test_brand_settings_refuse_what_could_inject_or_fail_contrast(
    setting: str, value: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Settings.model_validate({setting: value})


HIDDEN = (
    SPEC.replace("{field: case, source: case}", "{field: case, source: case, internal: true}")
    .replace("type: floating_timestamp}", "type: floating_timestamp, internal: true}")
    .replace("Force, Testville", "Hidden force")
)


def test_figures_a_staff_reader_saw_are_never_shown_to_the_public(
    engine_store: Store, engine_config: Settings, tmp_path: Path
) -> None:
    """The unit's key and the date are internal: the public can count neither incidents nor
    a period. The home page's facts and cards were kept per version alone, so a staff
    reader's visit (figures counted from the internal columns) was handed to the public."""
    hidden = _load(engine_store, tmp_path, HIDDEN, "hidden")
    assert engine_store.get_dataset(hidden).column("at").internal  # type: ignore[union-attr]
    add_user(engine_store, "boss", Role.ADMIN, "a long test passphrase")
    with TestClient(create_app(engine_config, store=engine_store)) as client:
        staff = client.get("/", auth=("boss", "a long test passphrase")).text
        assert facts(staff) == [f"/datasets/{hidden} 5 uses of force 2019–2020; 3 in 2020"]
        assert "March 2019 to June 2020" in staff
        public = client.get("/").text
    assert 'class="key-facts"' not in public
    assert "2019" not in public and "2020" not in public
    assert f'href="/datasets/{hidden}"' in public  # the dataset itself is listed
