"""Dataset metadata in the shape of Socrata's ``/api/views/{id}.json``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from blotter.model import Dataset
from blotter.quality import visible

# Socrata's renderTypeName for each dataTypeName.
_RENDER = {
    "text": "text",
    "number": "number",
    "checkbox": "checkbox",
    "floating_timestamp": "calendar_date",
    "point": "point",
}


def epoch(value: datetime | None) -> int | None:
    """Seconds since the epoch, as Socrata's metadata gives times; stored times are UTC."""
    if value is None:
        return None
    return int(value.replace(tzinfo=UTC).timestamp())


def view_json(dataset: Dataset, *, staff: bool = False) -> dict[str, Any]:
    """Socrata's view JSON of ``dataset`` (as its reader may see it); ``staff``: the reader
    has an account, and is told which account owns the dataset."""
    meta = dataset.meta
    # ``dataset`` is the reader's: its columns are the ones they may see (staff: all).
    privacy = meta.privacy.for_reader({c.field_name for c in dataset.columns})
    return {
        "id": dataset.id,
        "name": meta.name,
        "description": meta.description,
        "category": meta.category or None,
        "tags": meta.tags,
        "attribution": meta.attribution or None,
        "attributionLink": meta.attribution_url or None,
        "license": {"name": meta.license, "termsLink": meta.license_url or None},
        "licenseId": meta.license or None,
        "createdAt": epoch(dataset.created_at),
        "publicationDate": epoch(dataset.rows_updated_at),
        "rowsUpdatedAt": epoch(dataset.rows_updated_at),
        "viewLastModified": epoch(dataset.updated_at),
        "dataAsOf": epoch(dataset.data_as_of),
        "displayType": "table",
        "viewType": "tabular",
        "assetType": "dataset",
        "publicationStage": "published",
        "provenance": "official",
        "metadata": {
            "custom_fields": {
                "Dataset Information": {"Agency": meta.agency},
                "Update": {
                    "Update Frequency": str(meta.cadence),
                    # The period the data cover and the day they were extracted, as declared.
                    "Period Start": meta.coverage.start.isoformat() if meta.coverage else "",
                    "Period End": meta.coverage.end.isoformat() if meta.coverage else "",
                    "Data Extracted": meta.extracted.isoformat() if meta.extracted else "",
                },
                "Contact": {"Name": meta.contact_name, "Email": meta.contact_email},
                "Provenance": {"Source": meta.source_url, "Sample data": str(meta.sample).lower()},
            },
            # A row identifier the reader may not see is not named to them (staff hid it).
            "rowIdentifier": meta.row_identifier
            if meta.row_identifier and dataset.column(meta.row_identifier) is not None
            else ":id",
        },
        "columns": [
            {
                "id": position,
                "name": column.name,
                "fieldName": column.field_name,
                "dataTypeName": str(column.type),
                "renderTypeName": _RENDER[str(column.type)],
                "description": column.description,
                "position": position,
                # Socrata flags columns the public cannot see as hidden; only staff get them.
                **({"flags": ["hidden"]} if column.internal else {}),
            }
            for position, column in enumerate(dataset.columns, start=1)
        ],
        "grants": [{"inherited": False, "type": "viewer", "flags": ["public"]}]
        if meta.visibility == "public"
        else [],
        "blotter": {
            "visibility": str(meta.visibility),
            # An account's name is staff's to know: the public history names the agency
            # (unless name_publishers), and sign-in never tells whether a name is an account.
            "owner": (meta.owner or None) if staff else None,
            "version": dataset.version,
            "rowCount": dataset.row_count,
            "sample": meta.sample,
            # The rules every write obeys, as set and in plain words, naming only the columns
            # listed above: a rule's internal column is "an unpublished column" to the public.
            "privacy": privacy.model_dump(mode="json", exclude={"raw_copies", "carriers"}),
            "privacyRules": privacy.describe(),
        },
    }


def visible_report(dataset: Dataset, report: dict[str, Any] | None) -> dict[str, Any] | None:
    """A quality report about the columns ``dataset`` shows (see ``quality.visible``)."""
    if report is None:
        return None
    fields = {c.field_name for c in dataset.columns}
    return visible(report, fields, dataset.meta.privacy.protected())
