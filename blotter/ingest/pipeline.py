"""File → clean typed Arrow batches → one atomic publish.

A single pass: rows are read, cleaned, typed and batched as they stream. Every problem
is collected; if there was any, the batch generator raises ``ValidationFailed`` once the
file is exhausted, which rolls the store's transaction back: nothing is published.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from blotter.errors import DatasetNotFound, ValidationFailed
from blotter.ingest import columnar
from blotter.ingest.bounds import ReadLimits
from blotter.ingest.clean import CellError, Cleaner, Problem, parse_point
from blotter.ingest.headers import locate_header, missing_headers
from blotter.ingest.infer import columns_of_dataset, infer_columns
from blotter.ingest.read_ahead import cleaned_in_order, read_ahead
from blotter.ingest.readers import Table, open_table
from blotter.ingest.spec import ColumnSpec, DatasetSpec, ReaderOptions
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.privacy import PrivacyRules, stricter, withdrawn_reason
from blotter.quality import QualityRules
from blotter.schema import physical_names
from blotter.store.base import Store
from blotter.store.retention import Retention

BATCH_ROWS = 10_000
MAX_LISTED_PROBLEMS = 1000
INFER_SAMPLE_ROWS = 2000

_ARROW = columnar.ARROW_TYPES

Progress = Callable[[int], None]


@dataclass
class LoadResult:
    """What a load published, and notes for the publisher (e.g. the encoding guessed)."""

    dataset_id: str
    version: int
    row_count: int
    notes: list[str] = field(default_factory=list)
    privacy: dict[str, int] = field(default_factory=dict)  # what the privacy rules changed
    quality: dict[str, Any] = field(default_factory=dict)  # the quality report
    # Earlier versions withdrawn because the file's privacy rules are stricter than those
    # they were published under, and why.
    withdrawn: list[int] = field(default_factory=list)
    withdrawn_reason: str = ""


@dataclass
class _Plan:
    """One column's recipe: where its cells come from and how they are cleaned."""

    spec: ColumnSpec
    cleaner: Cleaner
    index: int | None = None  # source column position
    lat_index: int | None = None
    lon_index: int | None = None


@dataclass
class PreparedLoad:
    """A file ready to publish: metadata, columns, and a one-shot stream of batches."""

    path: Path
    meta: DatasetMeta
    columns: list[Column]
    spec_id: str | None
    table: Table
    plans: list[_Plan]
    rows_read: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_total: int = 0
    progress: Progress | None = None
    reader: ReaderOptions = field(default_factory=ReaderOptions)
    columnar: bool = True  # False: always row by row (the tests compare the two paths)
    limits: ReadLimits = field(default_factory=ReadLimits)
    label: str = ""  # the file's name as its publisher chose it (uploads are saved renamed)
    row_by_row_from: int | None = None  # the first record read row by row, if any was

    @cached_property
    def plan_of(self) -> dict[str, _Plan]:
        return {p.spec.field: p for p in self.plans}

    @property
    def notes(self) -> list[str]:
        """Things worth telling the publisher that are not problems (e.g. the encoding)."""
        return self.table.notes

    def _note(self, problem: Problem) -> None:
        self.problem_total += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(problem)

    def rows(self) -> Iterator[list[Any]]:
        """Each row's physical values, in column order; problems are noted, not raised."""
        width = len(self.table.headers)
        for number, cells in self.table.rows:
            self.rows_read += 1
            if self.rows_read > self.limits.max_rows:
                raise self.limits.too_many_rows(self.path)
            if len(cells) > width and any(c is not None and c.strip() for c in cells[width:]):
                why = f"the row has {len(cells)} cells but the header row has {width}"
                why += "; a value may hold an unquoted delimiter"
                self._note(Problem(number, "(whole row)", None, why))
            values: list[Any] = []
            cleaned: dict[str, str | None] = {}  # field → cleaned text, for derived columns
            for plan in self.plans:
                values.extend(self._values(plan, number, cells, cleaned))
            yield values
            if self.progress and self.rows_read % BATCH_ROWS == 0:
                self.progress(self.rows_read)

    def _values(
        self, plan: _Plan, number: int, cells: list[str | None], cleaned: dict[str, str | None]
    ) -> list[Any]:
        """The physical values one column gives for one row (two for a point)."""
        spec = plan.spec
        if spec.type is ColumnType.POINT:
            return self._point(plan, number, cells)
        raw = _cell(cells, plan.index)
        value: Any = None
        try:
            origin = cleaned.get(spec.derive_from) if spec.derive_from else raw
            cleaned[spec.field] = text = plan.cleaner.text(origin)
            value = plan.cleaner.convert(text)
        except CellError as err:
            cleaned[spec.field] = None
            self._note(self._problem(plan, number, lambda i: _cell(cells, i), str(err)))
        return [value, raw] if spec.keep_raw else [value]

    def _problem(
        self, plan: _Plan, number: int, cell: Callable[[int | None], str | None], reason: str
    ) -> Problem:
        """The problem of one failed cell; ``cell(index)`` gives the row's source cells."""
        spec = plan.spec
        if spec.derive_from:
            # The cell at fault is the origin's: name its header and value.
            origin = self.plan_of[spec.derive_from]
            where = origin.spec.source or origin.spec.field
            return Problem(number, where, cell(origin.index), f"{reason} (deriving '{spec.field}')")
        return Problem(number, spec.source or spec.field, cell(plan.index), reason)

    def _point(self, plan: _Plan, number: int, cells: list[str | None]) -> list[float | None]:
        values, problem = _point_of(
            plan, number, _cell(cells, plan.lat_index), _cell(cells, plan.lon_index)
        )
        if problem:
            self._note(problem)
        return values

    def batches(self) -> Generator[pa.RecordBatch, None, None]:
        """Arrow batches of the physical columns; raises ValidationFailed at the end."""
        names = [n for c in self.columns for n in physical_names(c)]
        resume_at: int | None = 0
        if self._columnar_fits():
            resume_at = yield from self._columnar_batches(names)
            if resume_at is not None:
                self._resume_rows(resume_at)  # the columnar path closed the row reader
        if resume_at is not None:
            self.row_by_row_from = resume_at
            yield from self._row_batches(names)
        if self.progress:
            self.progress(self.rows_read)
        if self.problem_total:
            listed = (
                ""
                if self.problem_total <= len(self.problems)
                else f" (the first {len(self.problems)} are listed)"
            )
            raise ValidationFailed(
                f"{self.problem_total} problem{'s' if self.problem_total != 1 else ''} in "
                f"{self.label or self.path.name}{listed}; nothing was published.",
                [p.as_dict() for p in self.problems],
                total=self.problem_total,
            )

    def _row_batches(self, names: list[str]) -> Iterator[pa.RecordBatch]:
        """The row-by-row path: XLSX, other encodings, and whatever Arrow cannot vouch for."""
        types = [_ARROW[c.type] for c in self.columns for _ in physical_names(c)]
        rows = self.rows()
        while chunk := list(itertools.islice(rows, BATCH_ROWS)):
            columns = list(zip(*chunk, strict=True))
            yield pa.record_batch(
                [pa.array(col, type=t) for col, t in zip(columns, types, strict=True)],
                names=names,
            )

    def _columnar_fits(self) -> bool:
        return (
            self.columnar
            and bool(self.table.headers)
            and columnar.utf8_file(self.table.encoding)
            and columnar.header_lines_are_records(self.path, self.reader.header_row)
        )

    def _columnar_batches(self, names: list[str]) -> Generator[pa.RecordBatch, None, int | None]:
        """The column-at-a-time path; returns how many records it took if it had to stop
        (the row-by-row path goes on from there), None when it read the whole file."""
        close = getattr(self.table.rows, "close", None)
        if close:
            close()  # the row reader's file handle: Arrow reads the file itself
        raws = columnar.raw_batches(self.path, self.reader, len(self.table.headers))
        consumed = 0
        try:
            # Batches cleaned side by side, their problems noted and rows counted in order.
            for read, (batch, problems, kept) in cleaned_in_order(
                raws, lambda raw, at: self._columnar_batch(raw, at, names)
            ):
                for problem in problems:
                    self._note(problem)
                self._count_rows(kept)
                consumed += read
                if batch.num_rows:
                    yield batch
        except columnar.Irregular:  # every record before it was handed over
            return consumed
        return None

    def _resume_rows(self, consumed: int) -> None:
        """Read row by row from the first record the columnar path did not take."""
        table = open_table(self.path, self.reader, self.limits)
        last = self.reader.header_row + consumed
        table.rows = itertools.dropwhile(lambda row: row[0] <= last, table.rows)
        self.table.rows = table.rows

    def _columnar_batch(
        self, raw: pa.RecordBatch, consumed: int, names: list[str]
    ) -> tuple[pa.RecordBatch, list[Problem], int]:
        """One Arrow batch of raw records cleaned a column at a time, its problems in row
        order and its rows (blank ones skipped); it changes nothing of the load's, so
        batches are cleaned side by side (``cleaned_in_order``)."""
        columns = list(raw.columns)
        blank = columnar.blank_rows(columns)
        kept = pc.indices_nonzero(pc.invert(blank))
        if len(kept) < raw.num_rows:
            columns = [c.take(kept) for c in columns]
        first = self.reader.header_row + 1 + consumed

        def number(position: int) -> int:  # as a spreadsheet numbers the row
            return first + int(kept[position].as_py())

        found: list[tuple[int, int, Problem]] = []

        def cell_at(position: int) -> Callable[[int | None], str | None]:
            return lambda i: None if i is None else (columns[i][position].as_py() or None)

        arrays: list[pa.Array] = []
        cleaned: dict[str, pa.Array] = {}  # field → cleaned text, for derived columns
        for order, plan in enumerate(self.plans):
            spec = plan.spec
            if spec.type is ColumnType.POINT:

                def parse(p: int, plan: _Plan = plan, order: int = order) -> list[float | None]:
                    lat, lon = cell_at(p)(plan.lat_index), cell_at(p)(plan.lon_index)
                    values, problem = _point_of(plan, number(p), lat, lon)
                    if problem:
                        found.append((p, order, problem))
                    return values

                lat_index, lon_index = plan.lat_index or 0, plan.lon_index or 0
                arrays.extend(columnar.points(columns[lat_index], columns[lon_index], parse))
                continue
            raw_cells = columnar.nulled(columns[plan.index or 0]) if not spec.derive_from else None
            cells = cleaned[spec.derive_from] if spec.derive_from else raw_cells
            result = columnar.clean_column(plan, cells)
            cleaned[spec.field] = result.text
            for p, reason in result.failures:
                found.append((p, order, self._problem(plan, number(p), cell_at(p), reason)))
            arrays.append(result.values)
            if spec.keep_raw:
                arrays.append(raw_cells)
        problems = [problem for _, _, problem in sorted(found, key=lambda f: (f[0], f[1]))]
        return pa.record_batch(arrays, names=names), problems, len(kept)

    def _count_rows(self, count: int) -> None:
        """Add rows read, calling progress at each multiple of BATCH_ROWS as rows() does."""
        before, self.rows_read = self.rows_read, self.rows_read + count
        if self.rows_read > self.limits.max_rows:
            raise self.limits.too_many_rows(self.path)
        if self.progress:
            first = (before // BATCH_ROWS + 1) * BATCH_ROWS
            for done in range(first, self.rows_read + 1, BATCH_ROWS):
                self.progress(done)


def _point_of(
    plan: _Plan, number: int, lat: str | None, lon: str | None
) -> tuple[list[float | None], Problem | None]:
    """(lon, lat) of one row; a problem names the header of the coordinate at fault."""
    spec = plan.spec
    try:
        point = parse_point(lat, lon)
    except CellError as err:
        header, cell = (spec.longitude, lon) if err.part == "longitude" else (spec.latitude, lat)
        return [None, None], Problem(number, header or spec.field, cell, str(err))
    return (list(point) if point else [None, None]), None


def _cell(cells: list[str | None], index: int | None) -> str | None:
    if index is None or index >= len(cells):
        return None
    return cells[index]


def prepare(
    path: Path,
    spec: DatasetSpec | None = None,
    *,
    name: str | None = None,
    progress: Progress | None = None,
    existing: Dataset | None = None,
    limits: ReadLimits | None = None,
    label: str | None = None,
) -> PreparedLoad:
    """Open ``path`` and plan its columns: from the dataset file, from the existing
    dataset's columns (a new version), or by inference (a quick new dataset). ``label`` is
    the file's name in messages (an upload is saved under another)."""
    limits = limits or ReadLimits()
    label = label or path.name
    table = open_table(path, spec.reader if spec else None, limits)
    if existing is not None and (spec is None or not spec.columns):
        column_specs = columns_of_dataset(existing, table.headers)
        meta = existing.meta
    elif spec is None or not spec.columns:
        sample: list[list[str | None]] = []
        first_rows: list[tuple[int, list[str | None]]] = []
        for number, cells in itertools.islice(table.rows, INFER_SAMPLE_ROWS):
            sample.append(cells)
            first_rows.append((number, cells))
        table.rows = itertools.chain(first_rows, table.rows)
        column_specs = infer_columns(table.headers, sample)
        meta = spec.meta() if spec else DatasetMeta(name=name or path.stem.replace("_", " "))
    else:
        column_specs = spec.columns
        meta = spec.meta()
    if name:
        meta = meta.model_copy(update={"name": name})
    spec_file = spec.file if spec else None
    plans: list[_Plan] = []
    missing: list[tuple[ColumnSpec, str]] = []

    def find(column: ColumnSpec, header: str) -> int | None:
        found = locate_header(table, header)
        if found is None:
            missing.append((column, header))
        return found

    for column in column_specs:
        plan = _Plan(column, Cleaner(column))
        if column.type is ColumnType.POINT:
            plan.lat_index = find(column, column.latitude or "")
            plan.lon_index = find(column, column.longitude or "")
        elif column.source is not None and not column.derive_from:
            plan.index = find(column, column.source)
        plans.append(plan)
    if missing:
        raise missing_headers(missing, table, label, spec_file)
    columns = [c for spec_ in column_specs for c in spec_.columns()]
    return PreparedLoad(
        path=path,
        meta=meta,
        columns=columns,
        spec_id=spec.id if spec else None,
        table=table,
        plans=plans,
        progress=progress,
        reader=spec.reader if spec else ReaderOptions(),
        limits=limits,
        label=label,
    )


def keep_access(prepared: PreparedLoad, existing: Dataset) -> None:
    """A new version never loosens access: who may see the dataset, its owner and row
    identifier stay as set in the portal, and a column once internal stays internal."""
    hidden = {c.field_name for c in existing.columns if c.internal}
    prepared.columns = [
        c.model_copy(update={"internal": True}) if c.field_name in hidden else c
        for c in prepared.columns
    ]
    # Rules and checks set in the portal hold until a dataset file declares its own.
    privacy = prepared.meta.privacy
    if privacy.is_empty():
        privacy = existing.meta.privacy.with_copies_of(privacy)
    quality = prepared.meta.quality
    if quality == QualityRules():
        quality = existing.meta.quality
    prepared.meta = prepared.meta.model_copy(
        update={
            "visibility": existing.meta.visibility,
            "owner": existing.meta.owner,
            "row_identifier": existing.meta.row_identifier,
            "privacy": privacy,
            "quality": quality,
        }
    )


def load_file(
    store: Store,
    path: Path,
    *,
    spec: DatasetSpec | None = None,
    dataset_id: str | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    update_metadata: bool = True,
    meta_updates: dict[str, Any] | None = None,
    limits: ReadLimits | None = None,
    label: str | None = None,
    note: str = "",
) -> LoadResult:
    """Publish ``path`` as a new version of ``dataset_id``, or as a new dataset; ``note`` is
    the publisher's note on the version, kept in its history.

    With a dataset file, its metadata replaces the dataset's unless ``update_metadata`` is
    off (an import profile maps columns; the dataset's description stays the publisher's).
    ``meta_updates`` set fields of a new dataset's metadata before it exists (e.g. its owner
    and visibility, so it is never public for a moment)."""
    existing = store.get_dataset(dataset_id) if dataset_id is not None else None
    prepared = prepare(
        path, spec, name=name, progress=progress, existing=existing, limits=limits, label=label
    )
    if existing is not None:
        keep_access(prepared, existing)
    elif meta_updates:
        prepared.meta = prepared.meta.model_copy(update=meta_updates)
    created = False
    if dataset_id is None:
        dataset_id = prepared.spec_id
        try:
            if dataset_id is None:
                raise DatasetNotFound("")
            store.get_dataset(dataset_id)
        except DatasetNotFound:
            dataset_id = store.create_dataset(prepared.meta, prepared.columns, dataset_id).id
            created = True
    try:
        version = store.publish(
            dataset_id,
            prepared.columns,
            read_ahead(prepared.batches()),
            source=prepared.label,
            privacy=rules_for(prepared, existing, spec is not None and update_metadata),
            quality=prepared.meta.quality if spec is not None and update_metadata else None,
            note=note,
            main_date=prepared.meta.main_date if spec is not None and update_metadata else None,
        )
    except BaseException:
        if created:  # a new dataset whose first load failed leaves no empty shell behind
            store.delete_dataset(dataset_id)
        raise
    withdrawn: list[int] = []
    reason = withdrawn_reason(date.today())
    if spec is not None and not created and update_metadata:
        store.update_metadata(dataset_id, prepared.meta)
        if existing is not None and stricter(existing.meta.privacy, prepared.meta.privacy):
            # The new version was written under the stricter rules; no earlier one may
            # still be read.
            (pruned,) = store.prune_versions(
                Retention(last=1), dataset_id=dataset_id, reason=reason
            )
            withdrawn = pruned.versions
    return LoadResult(
        dataset_id=dataset_id,
        version=version.number,
        row_count=version.row_count,
        notes=prepared.notes,
        privacy=version.privacy,
        quality=version.quality,
        withdrawn=withdrawn,
        withdrawn_reason=reason if withdrawn else "",
    )


def rules_for(prepared: PreparedLoad, existing: Dataset | None, from_file: bool) -> PrivacyRules:
    """The rules a load publishes under: the dataset file's when it sets the dataset's
    metadata (or creates it), else the dataset's own; either way with the raw copies this
    file's columns keep, so an "(as recorded)" twin never reveals a protected field."""
    rules = prepared.meta.privacy if from_file or existing is None else existing.meta.privacy
    raw = {p.spec.keep_raw: p.spec.field for p in prepared.plans if p.spec.keep_raw}
    file = PrivacyRules(raw_copies=raw, carriers=prepared.meta.privacy.carriers)
    return rules.with_copies_of(file)
