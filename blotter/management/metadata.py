"""A dataset's description, shared by the publisher API and the staff pages: create one
(Socrata's view JSON), edit its metadata and data dictionary, set its row identifier."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlglot import exp

from blotter.access import Viewer, audit, managed_dataset, require_account
from blotter.errors import InvalidRequest, PermissionDenied
from blotter.management.tighten import RulesApplied, store_stricter_rules
from blotter.model import Column, ColumnType, Dataset, DatasetMeta, Role, Visibility
from blotter.privacy import rule_problems, stricter
from blotter.quality import check_problems
from blotter.schema import DATASET_TABLE
from blotter.store.base import Store
from blotter.store.protect import raw_copies_internal

# Only administrators move a dataset between agencies or owners.
_ADMIN_ONLY = {"agency", "owner"}
_SOCRATA_KEYS = {
    "attributionLink": "attribution_url",
    "licenseId": "license",
}


@dataclass
class MetadataChange:
    """Metadata fields (DatasetMeta names) and data-dictionary edits to apply together."""

    fields: dict[str, Any] = field(default_factory=dict)
    columns: list[dict[str, Any]] | None = None

    @classmethod
    def from_socrata(cls, payload: dict[str, Any]) -> MetadataChange:
        """From Socrata's view JSON (what sodapy's ``update_metadata`` sends) or our names."""
        fields: dict[str, Any] = {}
        for key, value in payload.items():
            if key in ("columns", "metadata", "id"):
                continue
            if key == "license" and isinstance(value, dict):
                value = value.get("name", "")
            fields[_SOCRATA_KEYS.get(key, key)] = value
        metadata = payload.get("metadata")
        if isinstance(metadata, dict) and "rowIdentifier" in metadata:
            identifier = metadata["rowIdentifier"]
            fields["row_identifier"] = None if identifier in (None, "", ":id") else identifier
        columns = payload.get("columns")
        if columns is not None and not isinstance(columns, list):
            raise InvalidRequest("'columns' must be a list of column objects.")
        edits = None
        if columns is not None:
            edits = []
            for i, col in enumerate(columns, start=1):
                if not isinstance(col, dict) or not (col.get("fieldName") or col.get("field_name")):
                    raise InvalidRequest(f"Column {i} needs its fieldName.", column=i)
                edit = {
                    "field_name": col.get("fieldName") or col.get("field_name"),
                    **{k: col[k] for k in ("name", "description", "internal") if k in col},
                }
                if col.get("dataTypeName") or col.get("type"):
                    edit["type"] = col.get("dataTypeName") or col.get("type")
                if "flags" in col and "internal" not in col:
                    edit["internal"] = "hidden" in (col.get("flags") or [])
                edits.append(edit)
        return cls(fields=fields, columns=edits)


@dataclass
class Edited:
    """A dataset after an edit, and what stricter privacy rules did to its published rows
    (None: the rules were not made stricter, or nothing is published yet)."""

    dataset: Dataset
    applied: RulesApplied | None = None


def apply_metadata_change(
    store: Store, viewer: Viewer, dataset_id: str, change: MetadataChange
) -> Edited:
    """Apply an edit. Privacy rules made stricter on a dataset with published rows apply
    to them at once (``tighten.py``); loosened ones apply from the next write on."""
    dataset = managed_dataset(store, viewer, dataset_id)
    unknown = sorted(set(change.fields) - set(DatasetMeta.model_fields))
    if unknown:
        raise InvalidRequest(f"Unknown metadata field(s): {', '.join(unknown)}.", fields=unknown)
    if set(change.fields) & _ADMIN_ONLY and not viewer.is_admin:
        changed = {
            k
            for k in set(change.fields) & _ADMIN_ONLY
            if change.fields[k] != getattr(dataset.meta, k)
        }
        if changed:
            raise PermissionDenied(
                f"Only administrators may change {', '.join(sorted(changed))}.",
                fields=sorted(changed),
            )
    try:
        meta = DatasetMeta.model_validate({**dataset.meta.model_dump(), **change.fields})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"Metadata field '{where}': {first['msg']}.", field=where) from None
    if meta.row_identifier != dataset.meta.row_identifier and meta.row_identifier:
        check_row_identifier(store, dataset, meta.row_identifier)
    if "privacy" in change.fields:
        # Raw copies and carriers come from dataset files, never from an edit; a rule names
        # real columns.
        recorded = dataset.meta.privacy
        meta.privacy = meta.privacy.model_copy(
            update={"raw_copies": recorded.raw_copies, "carriers": recorded.carriers}
        )
        problems = rule_problems(meta.privacy, {c.field_name: str(c.type) for c in dataset.columns})
        if problems:
            raise InvalidRequest(
                "Privacy rules: " + "; ".join(problems) + ".", field="privacy", problems=problems
            )
    if "quality" in change.fields:
        problems = check_problems(
            meta.quality, {c.field_name: str(c.type) for c in dataset.columns}
        )
        if problems:
            raise InvalidRequest(
                "Quality checks: " + "; ".join(problems) + ".", field="quality", problems=problems
            )
    changed_fields = sorted(
        k for k in change.fields if getattr(meta, k) != getattr(dataset.meta, k)
    )
    columns = None
    if change.columns is not None:
        # Checked before anything is stored, against the rules as edited: a raw copy of a
        # field they protect stays internal.
        ruled = raw_copies_internal(meta.privacy, dataset.columns)
        columns = _edited_columns(
            dataset.model_copy(update={"meta": meta, "columns": ruled}), change.columns
        )
    applied = None
    old_rules = dataset.meta.privacy
    if "privacy" in changed_fields and dataset.version and stricter(old_rules, meta.privacy):
        applied = store_stricter_rules(store, viewer, dataset, meta)
    elif changed_fields:
        store.update_metadata(dataset_id, meta)
    if changed_fields:
        audit(
            store,
            viewer,
            "dataset.metadata",
            dataset_id,
            changed={k: str(getattr(meta, k)) for k in changed_fields},
        )
    current = store.get_dataset(dataset_id).columns
    if columns is not None and columns != current:
        store.update_columns(dataset_id, columns)
        audit(
            store,
            viewer,
            "dataset.dictionary",
            dataset_id,
            internal=[c.field_name for c in columns if c.internal],
            public=_publicly_changed(current, columns),
        )
    return Edited(store.get_dataset(dataset_id), applied)


def _publicly_changed(before: list[Column], after: list[Column]) -> list[str]:
    """The display names of the columns whose public face an edit changed: shown or hidden,
    or renamed or described while public. An edit of internal columns alone changes none, so
    the public feed does not announce it."""
    was = {c.field_name: c for c in before}
    return [
        (c.name if not c.internal else was[c.field_name].name)
        for c in after
        if c != was[c.field_name] and not (c.internal and was[c.field_name].internal)
    ]


def _edited_columns(dataset: Dataset, edits: list[dict[str, Any]]) -> list[Column]:
    by_field = {c.field_name: c for c in dataset.columns}
    # Copies of protected fields hold what the rules withhold (as at a publish).
    raw = dataset.meta.privacy.unprotected_copies()
    columns = list(dataset.columns)
    for edit in edits:
        name = edit["field_name"]
        if name not in by_field:
            raise InvalidRequest(f"Dataset {dataset.id} has no column '{name}'.", column=name)
        if "type" in edit and str(edit["type"]) != str(by_field[name].type):
            raise InvalidRequest(
                f"Column '{name}' is {by_field[name].type}: a column's type changes only with "
                "a new file.",
                column=name,
            )
        updates = {k: v for k, v in edit.items() if k in ("name", "description", "internal")}
        if name in raw and "internal" in updates and not updates["internal"]:
            raise InvalidRequest(
                f"Column '{name}' holds what '{raw[name]}' holds before the dataset's privacy "
                "rules (its value as recorded, the same cells of the file, or values derived "
                f"from them): it stays internal while a rule protects '{raw[name]}'.",
                column=name,
            )
        if "name" in updates and not str(updates["name"]).strip():
            raise InvalidRequest(f"Column '{name}' needs a display name.", column=name)
        try:
            edited = Column.model_validate({**by_field[name].model_dump(), **updates})
        except ValidationError as err:
            raise InvalidRequest(
                f"Column '{name}': {err.errors()[0]['msg']}.", column=name
            ) from None
        columns[columns.index(by_field[name])] = edited
    return columns


def check_row_identifier(store: Store, dataset: Dataset, field_name: str) -> None:
    """A row identifier must be a non-point column whose values are present and unique."""
    column = dataset.column(field_name)
    if column is None:
        raise InvalidRequest(
            f"The row identifier '{field_name}' is not a column of {dataset.id}.",
            column=field_name,
        )
    if column.type is ColumnType.POINT:
        raise InvalidRequest("A point column cannot identify rows.", column=field_name)
    col = exp.column(field_name, quoted=True)
    select = exp.select(
        exp.Count(this=exp.Star()),
        exp.Count(this=col),
        exp.Count(this=exp.Distinct(expressions=[col])),
    ).from_(DATASET_TABLE)
    total, present, distinct = next(iter(store.execute(dataset, select)))
    if present != total or distinct != total:
        raise InvalidRequest(
            f"'{field_name}' cannot identify rows: of {total} rows, {total - present} have no "
            f"value and {present - distinct} repeat another row's value.",
            column=field_name,
        )


def create_dataset(store: Store, viewer: Viewer, payload: dict[str, Any]) -> Dataset:
    """An empty dataset from Socrata's create payload; private until its publisher opens it."""
    user = require_account(viewer)
    if user.role not in (Role.ADMIN, Role.PUBLISHER) or not viewer.allows("admin"):
        raise PermissionDenied(
            "Only publishers and administrators create datasets (a token needs the admin scope)."
        )
    change = MetadataChange.from_socrata(payload)
    columns = []
    for i, col in enumerate(payload.get("columns") or [], start=1):
        try:
            columns.append(
                Column(
                    field_name=col.get("fieldName") or col.get("field_name"),
                    name=col.get("name") or col.get("fieldName"),
                    type=col.get("dataTypeName") or col.get("type") or "text",
                    description=col.get("description", ""),
                    internal=bool(col.get("internal")),
                )
            )
        except (ValidationError, AttributeError) as err:
            raise InvalidRequest(f"Column {i}: {err}", column=i) from None
    fields = {
        "visibility": Visibility.PRIVATE,
        **change.fields,
        "owner": user.name,
    }
    if user.role is Role.PUBLISHER:
        fields["agency"] = user.agency
    fields.pop("row_identifier", None)  # set once rows exist to check it against
    try:
        meta = DatasetMeta.model_validate(fields)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise InvalidRequest(f"Metadata field '{where}': {first['msg']}.", field=where) from None
    dataset = store.create_dataset(meta, columns)
    identifier = change.fields.get("row_identifier")
    if identifier:
        if dataset.column(identifier) is None:
            store.delete_dataset(dataset.id)
            raise InvalidRequest(f"The row identifier '{identifier}' is not one of the columns.")
        dataset = store.update_metadata(
            dataset.id, meta.model_copy(update={"row_identifier": identifier})
        )
    return dataset
