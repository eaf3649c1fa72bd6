"""Catalog endpoints clients use to find datasets.

- ``/api/catalog/v1``: Socrata's Discovery API (sodapy's ``datasets()`` reads it).
- ``/data.json``: the DCAT-US 1.1 catalog Socrata portals publish (RSocrata's ``ls.socrata``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from blotter.access import ANONYMOUS, visible_datasets
from blotter.auth import viewer_of
from blotter.catalog import CatalogQuery, search
from blotter.errors import InvalidRequest
from blotter.model import Dataset, safe_link, safe_mailto
from blotter.portal import portal_of

router = APIRouter()

_JSON = "application/json; charset=utf-8"
_ONLY = {"dataset", "datasets"}


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _int_param(request: Request, name: str, default: int, most: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > most:
        raise InvalidRequest(
            f"'{name}' must be a whole number from 0 to {most}, not '{raw}'.", parameter=name
        )
    return int(raw)


def _base(request: Request) -> str:
    """The configured public address: a request's Host header is the client's to forge."""
    portal = portal_of(request)
    return portal.settings.base_url


def discovery_result(dataset: Dataset, base: str, domain: str) -> dict[str, Any]:
    meta = dataset.meta
    return {
        "resource": {
            "name": meta.name,
            "id": dataset.id,
            "parent_fxf": [],
            "description": meta.description,
            "attribution": meta.attribution or None,
            "attribution_link": safe_link(meta.attribution_url),
            "contact_email": meta.contact_email or None,
            "type": "dataset",
            "updatedAt": _iso(dataset.updated_at),
            "createdAt": _iso(dataset.created_at),
            "metadata_updated_at": _iso(dataset.updated_at),
            "data_updated_at": _iso(dataset.rows_updated_at),
            "publication_date": _iso(dataset.rows_updated_at),
            "columns_name": [c.name for c in dataset.columns],
            "columns_field_name": [c.field_name for c in dataset.columns],
            "columns_datatype": [str(c.type).replace("_", " ").title() for c in dataset.columns],
            "columns_description": [c.description for c in dataset.columns],
            "columns_format": [{} for _ in dataset.columns],
            "download_count": 0,
            "provenance": "official",
            "lens_view_type": "tabular",
            "lens_display_type": "table",
            "blob_mime_type": None,
            "hide_from_data_json": False,
        },
        "classification": {
            "categories": [],
            "tags": [],
            "domain_category": meta.category or None,
            "domain_tags": meta.tags,
            "domain_metadata": [
                {"key": "Dataset-Information_Agency", "value": meta.agency},
                {"key": "Update_Update-Frequency", "value": str(meta.cadence)},
            ],
        },
        "metadata": {"domain": domain, "license": meta.license or None},
        "permalink": f"{base}/d/{dataset.id}",
        "link": f"{base}/datasets/{dataset.id}",
        "owner": {"id": "blotter", "display_name": meta.agency or "Publisher"},
    }


@router.get("/api/catalog/v1")
def discovery(request: Request) -> JSONResponse:
    """Socrata's Discovery API: search by words, categories, tags and ids; paged."""
    portal = portal_of(request)
    params = request.query_params
    only = {v for raw in params.getlist("only") for v in raw.split(",") if v}
    if only - _ONLY:
        raise InvalidRequest(
            f"'only' may be 'dataset'; Blotter holds no {', '.join(sorted(only - _ONLY))}.",
            parameter="only",
        )
    query = CatalogQuery(
        q=params.get("q", ""),
        categories=params.getlist("categories"),
        tags=params.getlist("tags"),
        ids=[v for raw in params.getlist("ids") for v in raw.split(",") if v],
    )
    found = search(visible_datasets(portal.store, viewer_of(request, portal.store)), query)
    if params.get("attribution"):
        found = [d for d in found if d.meta.attribution == params["attribution"]]
    if params.get("license"):
        found = [d for d in found if d.meta.license == params["license"]]
    order = params.get("order", "relevance").split()[0]
    if order.startswith("name"):
        found.sort(key=lambda d: d.meta.name.casefold())
    elif order.startswith(("updatedAt", "updated_at", "createdAt")):
        found.sort(key=lambda d: d.updated_at, reverse=True)
    offset = _int_param(request, "offset", 0, 10_000_000)
    limit = _int_param(request, "limit", 100, 10_000)
    base = _base(request)
    domain = urlsplit(base).netloc
    page = found[offset : offset + limit]
    return JSONResponse(
        {
            "results": [discovery_result(d, base, domain) for d in page],
            "resultSetSize": len(found),
            "timings": {},
            "warnings": [],
        },
        media_type=_JSON,
    )


def dcat_dataset(dataset: Dataset, base: str) -> dict[str, Any]:
    meta = dataset.meta
    exports = f"{base}/api/views/{dataset.id}/rows"
    entry: dict[str, Any] = {
        "@type": "dcat:Dataset",
        "identifier": f"{base}/api/views/{dataset.id}",
        "landingPage": f"{base}/datasets/{dataset.id}",
        "title": meta.name,
        "description": meta.description,
        "keyword": meta.tags or ["public safety"],
        "issued": _iso(dataset.created_at),
        "modified": _iso(dataset.rows_updated_at or dataset.updated_at),
        "publisher": {"@type": "org:Organization", "name": meta.agency or "Publisher"},
        "contactPoint": {
            "@type": "vcard:Contact",
            "fn": meta.contact_name or meta.agency or "Publisher",
            "hasEmail": safe_mailto(meta.contact_email),
        },
        "accessLevel": "public",
        "accrualPeriodicity": str(meta.cadence),
        "theme": [meta.category] if meta.category else [],
        "distribution": [
            {
                "@type": "dcat:Distribution",
                "downloadURL": f"{exports}.csv?accessType=DOWNLOAD",
                "mediaType": "text/csv",
            },
            {
                "@type": "dcat:Distribution",
                "downloadURL": f"{exports}.json?accessType=DOWNLOAD",
                "mediaType": "application/json",
            },
        ],
    }
    # Harvesters show these as links: only web addresses, as on our own pages.
    if safe_link(meta.license_url) or meta.license:
        entry["license"] = safe_link(meta.license_url) or meta.license
    if safe_link(meta.source_url):
        entry["references"] = [meta.source_url]
    return entry


@router.get("/data.json")
def data_json(request: Request) -> JSONResponse:
    """The DCAT-US 1.1 catalog of every dataset."""
    portal = portal_of(request)
    base = _base(request)
    return JSONResponse(
        {
            "@context": "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld",
            "@id": f"{base}/data.json",
            "@type": "dcat:Catalog",
            "conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
            "describedBy": "https://project-open-data.cio.gov/v1.1/schema/catalog.json",
            # The public catalog: what anyone may read, whoever asks.
            "dataset": [dcat_dataset(d, base) for d in visible_datasets(portal.store, ANONYMOUS)],
        },
        media_type=_JSON,
    )
