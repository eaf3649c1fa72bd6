"""What publishers do to datasets, shared by the publisher API and the management pages:
create, edit metadata and the data dictionary, publish rows or files, import profiles.

Every function checks the viewer's right first and writes an audit entry after.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError
from sqlglot import exp

from blotter.access import Viewer, audit, managed_dataset, require_account, writable_dataset
from blotter.dryrun import ChangeReport, compare, records, served_rows
from blotter.errors import (
    ConfirmationNeeded,
    IngestError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ValidationFailed,
)
from blotter.ingest.bounds import ReadLimits
from blotter.ingest.pipeline import PreparedLoad, keep_access, load_file, prepare, rules_for
from blotter.ingest.rows import stage_changes
from blotter.ingest.spec import DatasetSpec, parse_spec
from blotter.model import Column, ColumnType, Dataset, DatasetMeta, Role, Version, Visibility
from blotter.portal import Portal
from blotter.privacy import rule_problems
from blotter.quality import check_problems
from blotter.schema import DATASET_TABLE, ROW_ID, physical_names
from blotter.store.base import Store
from blotter.store.changes import STAGED_HEAD
from blotter.store.common import now
from blotter.store.protect import protect_batch
from blotter.store.quality import Checker, checked

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
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


def apply_metadata_change(
    store: Store, viewer: Viewer, dataset_id: str, change: MetadataChange
) -> Dataset:
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
        # Raw copies come from dataset files, never from an edit; a rule names real columns.
        meta.privacy = meta.privacy.model_copy(
            update={"raw_copies": dataset.meta.privacy.raw_copies}
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
    if changed_fields:
        store.update_metadata(dataset_id, meta)
        audit(
            store,
            viewer,
            "dataset.metadata",
            dataset_id,
            changed={k: str(getattr(meta, k)) for k in changed_fields},
        )
    if change.columns is not None:
        columns = _edited_columns(dataset, change.columns)
        if columns != dataset.columns:
            store.update_columns(dataset_id, columns)
            audit(
                store,
                viewer,
                "dataset.dictionary",
                dataset_id,
                internal=[c.field_name for c in columns if c.internal],
            )
    return store.get_dataset(dataset_id)


def _edited_columns(dataset: Dataset, edits: list[dict[str, Any]]) -> list[Column]:
    by_field = {c.field_name: c for c in dataset.columns}
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


def delete_row(
    store: Store, dataset: Dataset, value: str, *, source: str, note: str = ""
) -> Version:
    """Delete the row that ``value`` names (row identifier, else ``:id``) as a new version;
    NotFound, with nothing written, when no row has it."""
    key = dataset.meta.row_identifier or ":id"
    staged = stage_changes(dataset, [{key: value, ":deleted": True}])
    typed = staged.table.column("__key")[0].as_py()
    column = exp.column(staged.key, quoted=True)
    literal = exp.Literal.string(typed) if isinstance(typed, str) else exp.Literal.number(typed)
    select = exp.select(exp.Count(this=exp.Star())).from_(DATASET_TABLE)
    (found,) = next(
        iter(store.execute(dataset, select.where(exp.EQ(this=column, expression=literal))))
    )
    if not found:
        raise NotFound(f"Dataset {dataset.id} has no row '{value}'.", row=value)
    version, _ = store.apply_changes(dataset.id, staged.key, staged.table, source=source, note=note)
    return version


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


def publish_records(
    store: Store, dataset: Dataset, records: list[dict[str, Any]], *, source: str, note: str = ""
) -> Version:
    """Replace every row with ``records`` (rows marked deleted are left out)."""
    staged = stage_changes(dataset, records)
    kept = staged.table.filter(pc.invert(staged.table.column("__delete")))
    names = [n for c in dataset.columns for n in physical_names(c)]
    batch = kept.select(names)
    return store.publish(
        dataset.id,
        dataset.columns,
        batch.to_batches() or [],
        source=source,
        first_row=1,
        note=note,
    )


# --- files: upload, preview, publish ------------------------------------------------


def uploads_dir(portal: Portal) -> Path:
    path = portal.settings.data_dir / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def save_upload(portal: Portal, chunks: AsyncIterator[bytes], filename: str) -> Path:
    """Stream an upload to disk in constant memory; 413 beyond the configured size."""
    limit = portal.settings.max_upload_mb * 1024 * 1024
    safe = _SAFE_NAME.sub("_", Path(filename).name)[-80:] or "upload.csv"
    if not safe.lower().endswith((".csv", ".xlsx", ".txt")):
        raise InvalidRequest(
            f"'{filename}' is not a CSV or XLSX file (the name must end in .csv or .xlsx).",
            file=filename,
        )
    target = uploads_dir(portal) / f"{secrets.token_hex(8)}-{safe}"
    size = 0
    try:
        async with await anyio.open_file(target, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(
                        f"The file is larger than {portal.settings.max_upload_mb} MB.",
                        file=filename,
                    )
                await out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise InvalidRequest(f"'{filename}' is empty.", file=filename)
    return target


@contextmanager
def named_as_sent(path: Path) -> Iterator[None]:
    """Errors about a saved upload name the file as the publisher sent it, never where the
    server saved it (its folder and the token before the name)."""
    try:
        yield
    except IngestError as err:
        sent = path.name.split("-", 1)[-1]
        for where in (str(path), path.name):
            err.message = err.message.replace(where, sent)
        err.args = (err.message,)
        err.data = {k: sent if v == str(path) else v for k, v in err.data.items()}
        raise


def staged_upload(portal: Portal, token: str) -> Path:
    """A saved upload named by the token a preview page holds."""
    if not re.fullmatch(r"[0-9a-f]{16}-[A-Za-z0-9._-]{1,80}", token):
        raise InvalidRequest("That upload is not known; upload the file again.")
    path = uploads_dir(portal) / token
    if not path.exists():
        raise InvalidRequest("That upload has expired; upload the file again.")
    return path


def profile_spec(store: Store, name: str) -> DatasetSpec:
    text = store.get_profile(name)
    if text is None:
        known = ", ".join(n for n, _, _ in store.list_profiles()) or "none yet"
        raise InvalidRequest(f"There is no import profile '{name}' (profiles: {known}).")
    return parse_spec(text, f"profile '{name}'", default_name=name)


def save_profile(store: Store, viewer: Viewer, name: str, yaml_text: str) -> DatasetSpec:
    """Check and save an import profile: a dataset file's columns and cleaning, by name."""
    user = require_account(viewer)
    if user.role not in (Role.ADMIN, Role.PUBLISHER):
        raise PermissionDenied("Only publishers and administrators save import profiles.")
    if not PROFILE_NAME.match(name):
        raise InvalidRequest(
            f"'{name}' is not a profile name: lowercase letters, digits, '-' and '_'."
        )
    spec = parse_spec(yaml_text, f"profile '{name}'", default_name=name)
    if not spec.columns:
        raise InvalidRequest(f"Profile '{name}' maps no columns.")
    store.save_profile(name, yaml_text, viewer.name, now())
    audit(store, viewer, "profile.save", name=name)
    return spec


@dataclass
class Preview:
    """What a file would publish: the columns, the first rows (privacy rules applied), the
    problems of the rows checked (all of them when ``complete``; else the first
    ``row_count``), and what it would change in the dataset."""

    prepared: PreparedLoad
    rows: list[list[Any]]
    row_count: int
    problems: list[dict[str, Any]]
    problem_total: int
    report: ChangeReport
    complete: bool = True


class Cancelled(Exception):
    """The preview's work was stopped because nobody waits for it any more."""


def preview_file(
    store: Store,
    path: Path,
    dataset: Dataset | None,
    spec: DatasetSpec | None,
    rows: int = 20,
    *,
    mode: str = "upsert",
    check_rows: int | None = None,
    limits: ReadLimits | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Preview:
    """Read the file as a publish would, keeping the first rows, and compare what it would
    publish with the rows served now. Nothing is written. With ``check_rows`` (the upload
    page) only about that many rows are read (a batch past them at most) and nothing is
    compared; the whole file is checked when it is published. ``cancelled`` is asked
    between batches: the client may have left."""
    prepared = prepare(path, spec, existing=dataset, limits=limits, label=upload_name(path))
    if dataset is not None:
        keep_access(prepared, dataset)
    rules = rules_for(prepared, dataset, dataset is None)
    meta = dataset.meta if dataset is not None else prepared.meta
    checker = Checker(meta, prepared.columns, 2, full_rows=True)
    counts: Counter[str] = Counter()
    first: list[list[Any]] = []
    incoming: list[dict[str, Any]] = []
    count = 0
    problems: list[dict[str, Any]] = []
    total = 0
    complete = True
    batches = prepared.batches()
    try:
        for raw in checked(checker, batches, prepared.label):
            if cancelled():
                raise Cancelled
            batch = protect_batch(rules, prepared.columns, raw, counts)
            if len(first) < rows:
                first += [list(r.values()) for r in batch.slice(0, rows - len(first)).to_pylist()]
            count += batch.num_rows
            if dataset is not None:
                incoming += records(prepared.columns, batch)
            if check_rows is not None and count >= check_rows:
                complete = False
                break
    except ValidationFailed as err:
        problems, total = err.problems, err.total
    finally:
        batches.close()  # closes the file and any reader thread
    if not complete:  # stopped early: the problems found so far, the file's and the checks'
        found = [p for p in checker.listed() if p["level"] != "warning"]
        problems = [p.as_dict() for p in prepared.problems] + found
        total = prepared.problem_total + len(found)
    warnings = [p for p in checker.listed() if p["level"] == "warning"]
    report = ChangeReport(
        mode, problems=problems, problem_total=total, privacy=dict(counts), warnings=warnings
    )
    if dataset is not None and complete:
        compare(served_rows(store, dataset), incoming, dataset.meta.row_identifier, mode, report)
    else:
        report.rows = report.added = count
    return Preview(prepared, first, count, problems, total, report, complete)


def upload_name(path: Path) -> str:
    """The name the publisher gave a saved upload (saved as ``<token>-<name>``)."""
    if re.fullmatch(r"[0-9a-f]{16}-.+", path.name):
        return path.name.split("-", 1)[1]
    return path.name


def publish_file(
    store: Store,
    viewer: Viewer,
    dataset_id: str,
    path: Path,
    *,
    spec: DatasetSpec | None,
    mode: str,
    limits: ReadLimits | None = None,
    confirm: int | None = None,
    guard: bool = True,
    note: str = "",
) -> dict[str, Any]:
    """Publish a saved file as a new version: ``replace`` every row or ``upsert`` them.

    A replace that would remove more than a fifth of the published rows needs ``confirm``
    to be that number (``guard`` off: the operator's own command line)."""
    dataset = writable_dataset(store, viewer, dataset_id)
    if mode == "replace":
        if guard and dataset.row_count:
            report = preview_file(store, path, dataset, _retargeted(spec, dataset_id), 0, mode=mode)
            if report.problem_total == 0 and report.report.needs_confirmation():
                removed = report.report.removed
                if confirm != removed:
                    raise ConfirmationNeeded(
                        f"Replacing the rows of {dataset_id} with {upload_name(path)} would "
                        f"remove {removed:,} of its {dataset.row_count:,} published rows. "
                        f"Confirm with confirm={removed} if that is what you want, or add "
                        "and update rows instead (mode=upsert).",
                        removed=removed,
                        published=dataset.row_count,
                        file=upload_name(path),
                    )
        result = load_file(
            store,
            path,
            spec=_retargeted(spec, dataset_id),
            dataset_id=dataset_id,
            update_metadata=False,
            limits=limits,
            label=upload_name(path),
            note=note,
        )
        outcome = {
            "version": result.version,
            "rows": result.row_count,
            "notes": result.notes,
            "privacy": result.privacy,
            "quality": _warnings(result.quality),
        }
    elif mode == "upsert":
        outcome = _upsert_file(store, dataset, path, spec, limits, note)
    else:
        raise InvalidRequest(f"Unknown mode '{mode}': use replace or upsert.", mode=mode)
    audit(
        store,
        viewer,
        "dataset.publish",
        dataset_id,
        file=upload_name(path),
        mode=mode,
        **{k: v for k, v in outcome.items() if k != "notes"},
    )
    return {"dataset": dataset_id, "mode": mode, **outcome}


def _retargeted(spec: DatasetSpec | None, dataset_id: str) -> DatasetSpec | None:
    # A profile names the columns and cleaning; the dataset is the one being published to.
    return spec.model_copy(update={"id": dataset_id}) if spec else None


def _upsert_file(
    store: Store,
    dataset: Dataset,
    path: Path,
    spec: DatasetSpec | None,
    limits: ReadLimits | None,
    note: str = "",
) -> dict[str, Any]:
    prepared = prepare(path, spec, existing=dataset, limits=limits, label=upload_name(path))
    keep_access(prepared, dataset)
    if [(c.field_name, c.type) for c in prepared.columns] != [
        (c.field_name, c.type) for c in dataset.columns
    ]:
        raise InvalidRequest(
            "Adding rows needs the file's columns to be the dataset's; publish with "
            "'replace every row' to change the columns."
        )
    table = pa.Table.from_batches(list(prepared.batches()))
    key = dataset.meta.row_identifier
    n = table.num_rows
    head = [
        pa.array(range(1, n + 1), pa.int64()),
        pa.array([False] * n, pa.bool_()),
        table.column(key) if key else pa.nulls(n, pa.int64()),
        pa.array(["1" * table.num_columns] * n, pa.string()),
    ]
    staged = pa.Table.from_arrays(
        [*head, *table.columns], names=[*STAGED_HEAD, *table.column_names]
    )
    version, counts = store.apply_changes(
        dataset.id, key or ROW_ID, staged, source=upload_name(path), first_row=2, note=note
    )
    return {
        "version": version.number,
        "rows": version.row_count,
        **counts.model_dump(),
        "privacy": version.privacy,
        "quality": _warnings(version.quality),
    }


def _warnings(report: dict[str, Any]) -> dict[str, Any]:
    """What a publish answer says of its quality report (the rest: quality.json)."""
    return {k: report.get(k) for k in ("warning_total", "rows_per_check", "warnings")}


async def upload_file(
    portal: Portal,
    viewer: Viewer,
    dataset_id: str,
    chunks: AsyncIterator[bytes],
    *,
    filename: str,
    profile: str | None,
    mode: str | None,
    confirm: int | None = None,
    dry_run: bool = False,
    note: str = "",
) -> dict[str, Any]:
    """The API's one-step upload: save, then publish (validation refuses bad files whole),
    or with ``dry_run`` only report what publishing would change."""
    dataset = writable_dataset(portal.store, viewer, dataset_id)
    mode = mode or default_mode(dataset)
    spec = profile_spec(portal.store, profile) if profile else None
    path = await save_upload(portal, chunks, filename)
    limits = ReadLimits.from_settings(portal.settings)
    try:
        with named_as_sent(path):
            if dry_run:
                preview = await anyio.to_thread.run_sync(
                    lambda: preview_file(
                        portal.store,
                        path,
                        dataset,
                        _retargeted(spec, dataset_id),
                        0,
                        mode=mode,
                        limits=limits,
                    )
                )
                return {"dataset": dataset_id, "file": filename, **preview.report.as_json()}
            return await anyio.to_thread.run_sync(
                lambda: publish_file(
                    portal.store,
                    viewer,
                    dataset_id,
                    path,
                    spec=spec,
                    mode=mode,
                    limits=limits,
                    confirm=confirm,
                    note=note,
                )
            )
    finally:
        path.unlink(missing_ok=True)


def default_mode(dataset: Dataset) -> str:
    """Adding and updating rows where rows have an identifier; never replacing by default.
    Without one, adding would duplicate a month sent twice, so the publisher must choose."""
    if dataset.meta.row_identifier:
        return "upsert"
    raise InvalidRequest(
        f"Dataset {dataset.id} has no row identifier: say mode=upsert (add the file's rows) "
        "or mode=replace (replace every row with them).",
        mode=None,
    )


def remove_stale_uploads(portal: Portal) -> int:
    """Remove uploads older than their lifetime: previews never published, and files left
    by a server stopped mid-publish. Returns how many were removed."""
    oldest = time.time() - portal.settings.upload_lifetime_h * 3600
    removed = 0
    for path in uploads_dir(portal).iterdir():
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # removed meanwhile by another worker
            continue
    return removed


__all__ = [
    "Cancelled",
    "MetadataChange",
    "Preview",
    "apply_metadata_change",
    "create_dataset",
    "named_as_sent",
    "preview_file",
    "profile_spec",
    "publish_file",
    "publish_records",
    "save_profile",
    "save_upload",
    "upload_file",
]
