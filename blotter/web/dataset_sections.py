"""The dataset page's sections beside its table: what the dataset is, its latest quality
report, rates against a population benchmark, and the rows shown fetched by a program."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request

from blotter.access import visible_dataset
from blotter.analysis.benchmarks import RateTable, benchmark_seen, rate_table
from blotter.analysis.units import Unit, units_of
from blotter.auth import viewer_of
from blotter.errors import DatasetNotFound
from blotter.model import Dataset, safe_link, safe_mailto
from blotter.portal import Portal
from blotter.quality import QualityReport, visible
from blotter.web.dataset_view import page_url
from blotter.web.filter_form import Link
from blotter.web.filters import VIEW_PREFIX
from blotter.web.rendering import friendly_date


@dataclass
class MetaRow:
    label: str
    value: str
    url: str | None = None


def quality_report(portal: Portal, dataset: Dataset) -> tuple[list[str], list[tuple[str, str]]]:
    """The latest quality report, about the columns this viewer sees: in words, and each
    column's share of rows with a value."""
    kept = portal.store.latest_quality(dataset.id)
    if kept is None:
        return [], []
    fields = {c.field_name for c in dataset.columns}
    report = QualityReport.model_validate(visible(kept, fields, dataset.meta.privacy.protected()))
    names = {c.field_name: c.name for c in dataset.columns}
    table = [(names[f], f"{share:.0%}") for f, share in report.completeness.items() if f in names]
    return report.summary(), table


def meta_rows(dataset: Dataset) -> list[MetaRow]:
    meta = dataset.meta
    rows = [
        MetaRow("Published by", meta.agency),
        MetaRow("Category", meta.category),
        MetaRow("Tags", ", ".join(meta.tags)),
        MetaRow("Rows", f"{dataset.row_count:,}"),
        MetaRow(
            "Period covered",
            f"{meta.coverage.start:%B %-d, %Y} to {meta.coverage.end:%B %-d, %Y}"
            if meta.coverage
            else "not declared",
        ),
        MetaRow(
            "Data as of (extracted)",
            f"{meta.extracted:%B %-d, %Y}" if meta.extracted else "not stated",
        ),
        MetaRow(
            "Counted in",
            " / ".join(u.noun for u in units_of(dataset)),
        ),
        MetaRow("Rows last published", friendly_date(dataset.rows_updated_at)),
        MetaRow("Description last changed", friendly_date(dataset.updated_at)),
        MetaRow("Created", friendly_date(dataset.created_at)),
        MetaRow("Updates", str(meta.cadence)),
        # Links are checked again here: a value stored before the checks shows as text.
        MetaRow("Licence", meta.license or meta.license_url, safe_link(meta.license_url)),
        MetaRow(
            "Attribution",
            meta.attribution or meta.attribution_url,
            safe_link(meta.attribution_url),
        ),
        MetaRow("Source", meta.source_url, safe_link(meta.source_url)),
        MetaRow(
            "Contact", meta.contact_name or meta.contact_email, safe_mailto(meta.contact_email)
        ),
        MetaRow("Dataset id and version", f"{dataset.id}, version {dataset.version}"),
    ]
    return [r for r in rows if r.value]


def first_sentence(text: str) -> str:
    """A description's first sentence, for a shared link when there is no summary."""
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def hotspot_cell(params: dict[str, str]) -> float | None:
    """The hotspot grid's cell size in metres, when the page asks for hotspots."""
    text = params.get(VIEW_PREFIX + "hotspots", "")
    try:
        return float(text) if text else None
    except ValueError:
        return 250.0


def rates_links(dataset: Dataset, params: dict[str, str], residents: bool) -> list[Link]:
    """Where the data record residency: the same rates for residents only, or for all."""
    link = dataset.meta.benchmark
    if link is None or not link.residents_where:
        return []
    other = {k: v for k, v in params.items() if k != VIEW_PREFIX + "residents"}
    if residents:
        return [Link("Show the rates for everyone arrested", page_url(dataset.id, other))]
    return [
        Link(
            "Show the rates for residents only",
            page_url(dataset.id, {**other, VIEW_PREFIX + "residents": "true"}),
        )
    ]


def rates(
    portal: Portal,
    request: Request,
    dataset: Dataset,
    where: str | None,
    unit: Unit | None = None,
    residents: bool = False,
) -> RateTable | None:
    """Rates against the dataset's population benchmark, if it names one the reader may see."""
    link = dataset.meta.benchmark
    if link is None:
        return None
    try:
        population = visible_dataset(
            portal.store, viewer_of(request, portal.store), link.dataset, audit_read=False
        )
    except DatasetNotFound:
        return None
    if not benchmark_seen(portal.store, dataset, portal.settings):
        return None  # a column the rates are counted by is hidden from this reader
    return rate_table(portal.store, dataset, population, portal.settings, where, unit, residents)


def snippets(site: str, dataset_id: str, export: dict[str, str]) -> list[Link]:
    """The rows shown, fetched by a program: sodapy and pandas, ready to paste."""
    host = site.split("://", 1)[-1]
    scheme = site.split("://", 1)[0]
    args = "".join(f", {k.lstrip('$')}={v!r}" for k, v in export.items() if k[:2] != "$$")
    # A request option ($$version of an older version) is no keyword of sodapy's: sent as is.
    options = {k: v for k, v in export.items() if k[:2] == "$$"}
    args += f", **{options!r}" if options else ""
    adapter = (
        ""
        if scheme == "https"
        else ',\n    session_adapter={"prefix": "http://", '
        '"adapter": requests.adapters.HTTPAdapter()}'
    )
    sodapy = (
        "import requests\nfrom sodapy import Socrata\n\n"
        f"client = Socrata(\n    {host!r},\n    None{adapter},\n)\n"
        f"rows = client.get_all({dataset_id!r}{args})"
    )
    query = urlencode({"accessType": "DOWNLOAD", **export})
    pandas = (
        "import pandas as pd\n\n"
        f'frame = pd.read_csv("{site}/api/views/{dataset_id}/rows.csv?{query}")'
    )
    return [Link("Python, sodapy", sodapy), Link("Python, pandas", pandas)]
