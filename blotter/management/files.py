"""A file published as a new version: previewed first (what it would change), then
replacing every row or adding and updating them; the API's one-step upload."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pyarrow as pa

from blotter.access import Viewer, audit, writable_dataset
from blotter.dryrun import ChangeReport, compare, records, served_rows
from blotter.errors import ConfirmationNeeded, InvalidRequest, ValidationFailed
from blotter.ingest.bounds import ReadLimits
from blotter.ingest.pipeline import PreparedLoad, keep_access, load_file, prepare, rules_for
from blotter.ingest.spec import DatasetSpec
from blotter.management.profiles import profile_spec
from blotter.management.uploads import named_as_sent, save_upload, upload_name
from blotter.model import Dataset
from blotter.portal import Portal
from blotter.schema import ROW_ID
from blotter.store.base import Store
from blotter.store.changes import STAGED_HEAD
from blotter.store.protect import protect_batch
from blotter.store.quality import Checker, checked


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
