"""The storage interface every engine implements.

The layers above talk only to :class:`Store`. An engine keeps datasets, their metadata and
immutable versions; ``publish`` makes a new version visible atomically, and queries run
against the version a reader was handed, so a concurrent publish never changes a page
in the middle of a read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import pyarrow as pa
from sqlglot import exp

from blotter.errors import DatasetNotFound, ValidationFailed
from blotter.model import (
    ChangeCounts,
    Column,
    Dataset,
    DatasetMeta,
    Version,
    VersionDiff,
)
from blotter.privacy import PrivacyRules
from blotter.quality import QualityReport, QualityRules
from blotter.schema import ROW_ID
from blotter.store.protect import (
    protect_batches,
    protect_staged,
    raw_copies_internal,
    unjudged_rows,
)
from blotter.store.quality import (
    Checker,
    category_fields,
    check_staged,
    checked,
    completeness,
    distinct_values,
)
from blotter.store.reprotect import staged_again
from blotter.store.retention import Pruned, Retention
from blotter.store.rollup_tables import Rollup
from blotter.store.staff_records import StaffRecords


@dataclass
class RowStream:
    """Rows of one query, fetched lazily so exports run in constant memory."""

    rows: Iterator[tuple[Any, ...]]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return self.rows


class CsvCell(StrEnum):
    """How one output of a query is written as a CSV field."""

    VALUE = "value"  # one result column, written as its type says
    ROW_ID = "row_id"  # one integer column, written row-N
    POINT = "point"  # two double columns (longitude, latitude), written POINT (lon lat)
    FIXED_TIMESTAMP = "fixed_timestamp"  # a timestamp written with a Z (:created_at)


# What :meth:`Store.execute_csv` yields: CSV lines, or a row of raw values the engine could
# not write exactly, for the caller to format.
CsvPiece = bytes | tuple[Any, ...]


class Store(StaffRecords, ABC):
    """Datasets, metadata and versions on one database engine."""

    engine: str  # a sqlglot dialect name: "duckdb" or "postgres"
    # Whether a publish builds the new version's rollup (``BLOTTER_ROLLUPS``; see
    # ``store/rollup_tables.py``).
    build_rollups: bool = True

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def schema_status(self) -> tuple[int, int]:
        """(the schema version the database has, the one this code expects), read from the
        database (every one the store uses); StoreUnavailable when it cannot be reached."""

    # --- catalog ---------------------------------------------------------------------

    @abstractmethod
    def list_datasets(self) -> list[Dataset]:
        """Every dataset, as served now."""

    @abstractmethod
    def get_dataset(self, dataset_id: str) -> Dataset:
        """One dataset as served now; raises DatasetNotFound."""

    @abstractmethod
    def create_dataset(
        self, meta: DatasetMeta, columns: list[Column], dataset_id: str | None = None
    ) -> Dataset:
        """Register a dataset with no rows yet; a fresh id is made when none is given."""

    @abstractmethod
    def update_metadata(self, dataset_id: str, meta: DatasetMeta) -> Dataset: ...

    @abstractmethod
    def delete_dataset(self, dataset_id: str) -> None: ...

    # --- versions --------------------------------------------------------------------

    def publish(
        self,
        dataset_id: str,
        columns: list[Column],
        batches: Iterable[pa.RecordBatch],
        *,
        source: str = "",
        data_as_of: datetime | None = None,
        privacy: PrivacyRules | None = None,
        quality: QualityRules | None = None,
        first_row: int = 2,
        note: str = "",
        main_date: str | None = None,
    ) -> Version:
        """Write every batch as a new version and switch readers to it in one transaction.

        Batches hold the physical columns of ``columns`` (see ``blotter.schema``), without
        system fields. If iterating the batches raises, nothing changes. The dataset's
        quality checks run on every row first (an error raises ValidationFailed naming rows
        from ``first_row``: 2 for a file with a header), then its privacy rules change them
        (``privacy`` and ``quality``: the rules a dataset file is about to store). The
        version counts what the rules changed and carries the quality report, which is kept.

        A replace keeps identities: when the dataset has a row identifier, a new row whose
        identifier matches a served row keeps its ``:id`` and ``:created_at`` (and
        ``:updated_at`` when no field changed); without one, a row identical in every field
        to a served one keeps all three (duplicates matched one to one, in order). Other
        rows take fresh ids. ``note`` is the publisher's note, kept with the version.

        Fresh ids are given in the order of the main timestamp (``main_date``, the one a
        dataset file is about to store, else the dataset's; see ``store/ordering.py``), nulls
        last, ties in file order, so the table's ``_id`` order is nearly time order.
        """
        meta = self._meta_of(dataset_id)
        if privacy is not None:
            meta = meta.model_copy(update={"privacy": privacy})
        if quality is not None:
            meta = meta.model_copy(update={"quality": quality})
        columns = raw_copies_internal(meta.privacy, columns)
        checker = Checker(meta, columns, first_row, full_rows=True)
        before = self._categories(dataset_id, meta, columns)
        counts: Counter[str] = Counter()
        stream = protect_batches(meta.privacy, columns, checked(checker, batches, source), counts)
        version = self._publish(
            dataset_id,
            columns,
            stream,
            source=source,
            data_as_of=data_as_of,
            note=note,
            main_date=main_date or meta.main_date,
        )
        report = self._keep_quality(dataset_id, version, checker, before, meta, columns)
        return version.model_copy(update={"privacy": dict(counts), "quality": report})

    def apply_changes(
        self,
        dataset_id: str,
        key: str,
        staged: pa.Table,
        *,
        source: str = "",
        first_row: int = 1,
        note: str = "",
    ) -> tuple[Version, ChangeCounts]:
        """Upsert and delete rows as a new version, in one transaction.

        ``staged`` holds ``__seq`` (payload order), ``__delete``, ``__key`` (the value of the
        physical column ``key``: the row identifier, or ``_id``) and the physical columns of
        the dataset's current columns. Rows are matched on ``key``; unmatched upserts are
        appended. The new version is written in ``:id`` order, like every version. The
        dataset's quality checks run on the staged rows (row numbers from ``first_row``),
        then its privacy rules change them.
        """
        dataset = self.get_dataset(dataset_id)
        checker = Checker(dataset.meta, dataset.columns, first_row, full_rows=False)
        check_staged(checker, staged, first_row)
        checker.finish(source)
        before = self._categories(dataset_id, dataset.meta, dataset.columns)
        unjudged = unjudged_rows(dataset.meta.privacy, dataset.columns, staged, key)
        for problem in unjudged:
            problem["row"] = int(str(problem["row"])) + first_row - 1
        if unjudged:
            raise ValidationFailed(
                f"{len(unjudged)} row(s) of {source or 'the write'} cannot be judged by the "
                "dataset's privacy rules; nothing was published.",
                problems=unjudged[:100],
                total=len(unjudged),
            )
        counts: Counter[str] = Counter()
        staged = protect_staged(dataset.meta.privacy, dataset.columns, staged, counts)
        version, changes = self._apply_changes(dataset_id, key, staged, source=source, note=note)
        report = self._keep_quality(
            dataset_id, version, checker, before, dataset.meta, dataset.columns
        )
        return version.model_copy(update={"privacy": dict(counts), "quality": report}), changes

    def protect_published(
        self, dataset_id: str, old: PrivacyRules, new: PrivacyRules, *, source: str, note: str
    ) -> tuple[Version, ChangeCounts]:
        """The served rows, published under ``old``, written again under ``new`` as a new
        version (``store/reprotect.py``): rows keep their ``:id`` and the fields no rule
        changed; a row a rule now leaves out is deleted. No check runs again; the report is
        made afresh (earlier ones may name values ``new`` withholds). ``new`` is not stored."""
        dataset = self.get_dataset(dataset_id)
        counts: Counter[str] = Counter()
        staged = staged_again(self.execute, dataset, old, new, counts)
        version, changes = self._apply_changes(dataset_id, ROW_ID, staged, source=source, note=note)
        meta = dataset.meta.model_copy(update={"privacy": new})
        checker = Checker(meta, dataset.columns, 1, full_rows=True)
        report = self._keep_quality(dataset_id, version, checker, None, meta, dataset.columns)
        privacy = {k: n for k, n in counts.items() if n}
        return version.model_copy(update={"privacy": privacy, "quality": report}), changes

    def privacy_changes(
        self, dataset_id: str, old: PrivacyRules, new: PrivacyRules
    ) -> tuple[int, int]:
        """How many served rows :meth:`protect_published` would change, and leave out;
        nothing is written (``blotter versions reapply-privacy --dry-run``, and no empty
        version when there is nothing to protect)."""
        staged = staged_again(self.execute, self.get_dataset(dataset_id), old, new, Counter())
        left_out = sum(1 for gone in staged.column("__delete").to_pylist() if gone)
        return staged.num_rows - left_out, left_out

    def _meta_of(self, dataset_id: str) -> DatasetMeta:
        try:
            return self.get_dataset(dataset_id).meta
        except DatasetNotFound:
            return DatasetMeta(name=dataset_id)  # the engine answers for the missing dataset

    def _categories(
        self, dataset_id: str, meta: DatasetMeta, columns: list[Column]
    ) -> dict[str, set[str]] | None:
        """The served values of category columns, to tell a write's new ones (None: no
        rows yet, so nothing is new)."""
        try:
            dataset = self.get_dataset(dataset_id)
        except DatasetNotFound:
            return None
        if not dataset.version:
            return None
        return distinct_values(self.execute, dataset, category_fields(meta, columns))

    def _keep_quality(
        self,
        dataset_id: str,
        version: Version,
        checker: Checker,
        before: dict[str, set[str]] | None,
        meta: DatasetMeta,
        columns: list[Column],
    ) -> dict[str, Any]:
        """Complete the write's quality report from the new version, and keep it."""
        report = checker.report or QualityReport()
        dataset = self.get_dataset(dataset_id)
        report.version = version.number
        report.rows, report.completeness = completeness(self.execute, dataset)
        if before is not None:
            after = distinct_values(self.execute, dataset, category_fields(meta, columns))
            report.new_categories = {
                f: sorted(after[f] - before[f])[:20]
                for f in after
                if f in before and after[f] - before[f]
            }
        kept = report.model_dump()
        self.save_quality(dataset_id, version.number, version.created_at, kept)
        return kept

    @abstractmethod
    def save_quality(
        self, dataset_id: str, version: int, at: datetime, report: dict[str, Any]
    ) -> None:
        """Keep the quality report of one version."""

    @abstractmethod
    def latest_quality(self, dataset_id: str) -> dict[str, Any] | None:
        """The newest version's quality report, or None."""

    @abstractmethod
    def save_answers(self, dataset_id: str, version: int, created_at: datetime, text: str) -> None:
        """Keep a version's stored answers (``queries/stored_answers.py``)."""

    @abstractmethod
    def stored_answers(self, dataset_id: str, version: int, created_at: datetime) -> str | None:
        """A version's stored answers, or None (none kept, or a dataset made again)."""

    @abstractmethod
    def keep_checksum(
        self, dataset_id: str, created_at: datetime, version: int, sha256: str, at: datetime
    ) -> None:
        """Record that the public was given ``sha256`` as a version's checksum (``created_at``
        is the dataset's); a checksum already recorded keeps its first time."""

    @abstractmethod
    def checksums_given(
        self, dataset_id: str, created_at: datetime, version: int
    ) -> list[tuple[str, datetime]]:
        """Every checksum recorded for a version, with when each was first given, oldest
        first."""

    @abstractmethod
    def _publish(
        self,
        dataset_id: str,
        columns: list[Column],
        batches: Iterable[pa.RecordBatch],
        *,
        source: str = "",
        data_as_of: datetime | None = None,
        note: str = "",
        main_date: str | None = None,
    ) -> Version:
        """The engine's write of a new version (see :meth:`publish`), rules already applied."""

    @abstractmethod
    def _apply_changes(
        self, dataset_id: str, key: str, staged: pa.Table, *, source: str = "", note: str = ""
    ) -> tuple[Version, ChangeCounts]:
        """The engine's row-level write (see :meth:`apply_changes`), rules already applied."""

    @abstractmethod
    def update_columns(self, dataset_id: str, columns: list[Column]) -> Dataset:
        """Edit the data dictionary (names, descriptions, internal flags) of the same fields
        and types; the served rows do not change."""

    @abstractmethod
    def versions(self, dataset_id: str) -> list[Version]:
        """Every version, newest first, pruned ones included (``pruned``)."""

    @abstractmethod
    def dataset_at(self, dataset_id: str, number: int) -> Dataset:
        """The dataset as it was served while version ``number`` was current: today's
        metadata and data dictionary (descriptions, internal flags) over that version's
        fields, row count and ``version=number``, so :meth:`execute`, :meth:`execute_csv`
        and :meth:`engine_sql` read exactly that version's rows. DatasetNotFound,
        VersionNotFound for a number the dataset never had, VersionGone for a version the
        retention setting removed."""

    @abstractmethod
    def prune_versions(
        self,
        retention: Retention,
        *,
        dataset_id: str | None = None,
        dry_run: bool = False,
        reason: str = "",
    ) -> list[Pruned]:
        """Apply the retention setting to one dataset or every one: mark the versions it
        does not keep as pruned (they stay listed; reading them raises VersionGone) and
        delete the history rows no kept version reads. The newest version is always kept.
        A dry run changes nothing and says what would be removed. ``reason`` is kept with
        each version pruned (empty: the retention setting's)."""

    @abstractmethod
    def version_diff(
        self, dataset: Dataset, from_number: int, to_number: int, *, limit: int, offset: int
    ) -> VersionDiff:
        """What changed from version ``from_number`` to ``to_number``, rows matched by
        ``:id``: counts, and one page (``limit``, ``offset``) of the rows added, removed and
        changed in ``:id`` order, each change field by field (before, after).

        ``dataset`` is the dataset as the reader may see it (access-trimmed): only its
        fields are compared and returned (and fields since dropped from the data dictionary,
        unless the version that had them marked them internal). The counts are over those
        fields too: a row whose only change is in a field the reader may not see is not
        counted as changed and not listed, so for the public ``changed`` can be smaller
        than the version's stored ``rows_changed`` (which compares every field). Added and
        removed rows are the same for every reader. VersionNotFound, VersionGone."""

    # --- reads -----------------------------------------------------------------------

    @abstractmethod
    def execute(
        self, dataset: Dataset, select: exp.Select, *, timeout_s: float | None = None
    ) -> RowStream:
        """Run a compiled query against the version ``dataset`` was read at."""

    def rollup(self, dataset: Dataset) -> Rollup | None:
        """The rollup of the version ``dataset`` was read at (``store/rollup_tables.py``),
        which :meth:`execute` reads for a query naming ``_rollup``; None when the version
        has none (published before rollups or with them off, nothing declared, or read from
        its history table)."""
        return None

    @abstractmethod
    def engine_sql(self, dataset: Dataset, select: exp.Select) -> tuple[str, Any]:
        """The SQL text and parameters :meth:`execute` runs for ``select`` (the benchmark
        times them straight on the engine)."""

    def execute_csv(
        self,
        dataset: Dataset,
        select: exp.Select,
        cells: Sequence[CsvCell],
        *,
        timeout_s: float | None = None,
    ) -> Iterator[CsvPiece] | None:
        """Run a compiled query with its rows written as CSV lines by the engine (see
        ``store/csvsql.py``), in chunks of about a megabyte, without a header.

        None when a result column has a type the engine cannot write exactly as the Python
        serializer does: the caller then runs :meth:`execute` and formats the rows itself.
        """
        return None
