"""File → clean typed Arrow batches → one atomic publish.

A single pass: rows are read, cleaned, typed and batched as they stream. Every problem
is collected; if there was any, the batch generator raises ``ValidationFailed`` once the
file is exhausted, which rolls the store's transaction back: nothing is published.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa

from blotter.errors import DatasetNotFound, IngestError, ValidationFailed
from blotter.ingest.clean import CellError, Cleaner, Problem, parse_point
from blotter.ingest.infer import columns_of_dataset, infer_columns
from blotter.ingest.readers import Table, open_table
from blotter.ingest.spec import ColumnSpec, DatasetSpec
from blotter.model import Column, ColumnType, Dataset, DatasetMeta
from blotter.schema import physical_names
from blotter.store.base import Store

BATCH_ROWS = 10_000
MAX_LISTED_PROBLEMS = 1000
INFER_SAMPLE_ROWS = 2000

_ARROW = {
    ColumnType.TEXT: pa.string(),
    ColumnType.NUMBER: pa.float64(),
    ColumnType.CHECKBOX: pa.bool_(),
    ColumnType.FLOATING_TIMESTAMP: pa.timestamp("us"),
    ColumnType.POINT: pa.float64(),
}

Progress = Callable[[int], None]


@dataclass
class LoadResult:
    """What a load published, and notes for the publisher (e.g. the encoding guessed)."""

    dataset_id: str
    version: int
    row_count: int
    notes: list[str] = field(default_factory=list)


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
            if len(cells) > width and any(c is not None and c.strip() for c in cells[width:]):
                self._note(
                    Problem(
                        number,
                        "(whole row)",
                        None,
                        f"the row has {len(cells)} cells but the header row has {width}; "
                        "a value may hold an unquoted delimiter",
                    )
                )
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
            if spec.derive_from:
                text = plan.cleaner.text(cleaned.get(spec.derive_from))
            else:
                text = plan.cleaner.text(raw)
            cleaned[spec.field] = text
            value = plan.cleaner.convert(text)
        except CellError as err:
            cleaned[spec.field] = None
            if spec.derive_from:
                # The cell at fault is the origin's: name its header and value.
                origin = self.plan_of[spec.derive_from]
                where = origin.spec.source or origin.spec.field
                self._note(
                    Problem(
                        number,
                        where,
                        _cell(cells, origin.index),
                        f"{err} (deriving '{spec.field}')",
                    )
                )
            else:
                self._note(Problem(number, spec.source or spec.field, raw, str(err)))
        return [value, raw] if spec.keep_raw else [value]

    def _point(self, plan: _Plan, number: int, cells: list[str | None]) -> list[float | None]:
        """(lon, lat) of one row; a problem names the header of the coordinate at fault."""
        spec = plan.spec
        lat, lon = _cell(cells, plan.lat_index), _cell(cells, plan.lon_index)
        try:
            point = parse_point(lat, lon)
        except CellError as err:
            header, cell = (
                (spec.longitude, lon) if err.part == "longitude" else (spec.latitude, lat)
            )
            self._note(Problem(number, header or spec.field, cell, str(err)))
            return [None, None]
        return list(point) if point else [None, None]

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Arrow batches of the physical columns; raises ValidationFailed at the end."""
        names = [n for c in self.columns for n in physical_names(c)]
        types = [_ARROW[c.type] for c in self.columns for _ in physical_names(c)]
        rows = self.rows()
        while chunk := list(itertools.islice(rows, BATCH_ROWS)):
            columns = list(zip(*chunk, strict=True))
            yield pa.record_batch(
                [pa.array(col, type=t) for col, t in zip(columns, types, strict=True)],
                names=names,
            )
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
                f"{self.path.name}{listed}; nothing was published.",
                [p.as_dict() for p in self.problems],
                total=self.problem_total,
            )


def _cell(cells: list[str | None], index: int | None) -> str | None:
    if index is None or index >= len(cells):
        return None
    return cells[index]


def _locate(table: Table, header: str, path: Path, spec: ColumnSpec, spec_file: Path | None) -> int:
    """The position of ``header`` in the file: exact after trimming, else ignoring case."""
    wanted = header.strip()
    for i, found in enumerate(table.headers):
        if found == wanted:
            return i
    folded = [h.casefold() for h in table.headers]
    if wanted.casefold() in folded:
        return folded.index(wanted.casefold())
    where = f"Dataset file {spec_file.name}: c" if spec_file else "C"
    raise IngestError(
        f"{where}olumn '{spec.field}' reads header '{header}', which {path.name} does not have. "
        f"Its headers are: {', '.join(repr(h) for h in table.headers)}.",
        file=str(spec_file or path),
        data_file=str(path),
        column=spec.field,
        header=header,
    )


def prepare(
    path: Path,
    spec: DatasetSpec | None = None,
    *,
    name: str | None = None,
    progress: Progress | None = None,
    existing: Dataset | None = None,
) -> PreparedLoad:
    """Open ``path`` and plan its columns: from the dataset file, from the existing
    dataset's columns (a new version), or by inference (a quick new dataset)."""
    table = open_table(path, spec.reader if spec else None)
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
    for column in column_specs:
        plan = _Plan(column, Cleaner(column))
        if column.type is ColumnType.POINT:
            plan.lat_index = _locate(table, column.latitude or "", path, column, spec_file)
            plan.lon_index = _locate(table, column.longitude or "", path, column, spec_file)
        elif column.source is not None and not column.derive_from:
            plan.index = _locate(table, column.source, path, column, spec_file)
        plans.append(plan)
    columns = [c for spec_ in column_specs for c in spec_.columns()]
    return PreparedLoad(
        path=path,
        meta=meta,
        columns=columns,
        spec_id=spec.id if spec else None,
        table=table,
        plans=plans,
        progress=progress,
    )


def keep_access(prepared: PreparedLoad, existing: Dataset) -> None:
    """A new version never loosens access: who may see the dataset, its owner and row
    identifier stay as set in the portal, and a column once internal stays internal."""
    hidden = {c.field_name for c in existing.columns if c.internal}
    prepared.columns = [
        c.model_copy(update={"internal": True}) if c.field_name in hidden else c
        for c in prepared.columns
    ]
    prepared.meta = prepared.meta.model_copy(
        update={
            "visibility": existing.meta.visibility,
            "owner": existing.meta.owner,
            "row_identifier": existing.meta.row_identifier,
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
) -> LoadResult:
    """Publish ``path`` as a new version of ``dataset_id``, or as a new dataset.

    With a dataset file, its metadata replaces the dataset's unless ``update_metadata`` is
    off (an import profile maps columns; the dataset's description stays the publisher's).
    ``meta_updates`` set fields of a new dataset's metadata before it exists (e.g. its owner
    and visibility, so it is never public for a moment)."""
    existing = store.get_dataset(dataset_id) if dataset_id is not None else None
    prepared = prepare(path, spec, name=name, progress=progress, existing=existing)
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
        version = store.publish(dataset_id, prepared.columns, prepared.batches(), source=path.name)
    except BaseException:
        if created:  # a new dataset whose first load failed leaves no empty shell behind
            store.delete_dataset(dataset_id)
        raise
    if spec is not None and not created and update_metadata:
        store.update_metadata(dataset_id, prepared.meta)
    return LoadResult(
        dataset_id=dataset_id,
        version=version.number,
        row_count=version.row_count,
        notes=prepared.notes,
    )
