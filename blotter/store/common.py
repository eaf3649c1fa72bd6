"""Pieces every SQL engine's store shares: row decoding, column JSON, batch checks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import pyarrow as pa
from sqlglot import exp
from sqlglot.dialects.dialect import DialectType

from blotter.errors import InvalidRequest, QueryTimeout, QueryValueError, SoQLError
from blotter.model import STORED, ApiToken, Column, ColumnType, Dataset, DatasetMeta, Version
from blotter.schema import (
    CREATED_AT,
    DATASET_TABLE,
    FROM_VERSION,
    ROW_ID,
    TO_VERSION,
    UPDATED_AT,
    physical_names,
    version_table,
)
from blotter.store.rollup_tables import at_rollup
from blotter.store.sqlparams import write_bound

# Datasets as served: each with its current version's columns and count, in the order
# ``dataset_from_row`` reads them. Constant text: callers add only bound parameters.
DATASET_QUERY = (
    "SELECT d.id, d.meta, d.created_at, d.updated_at, d.data_as_of, d.current_version, "
    "d.columns, v.columns, v.row_count, v.created_at FROM blotter_datasets d "
    "LEFT JOIN blotter_versions v ON v.dataset_id = d.id AND v.number = d.current_version"
)


def now() -> datetime:
    """Floating timestamps throughout: the portal stores and shows UTC wall time."""
    return datetime.now(UTC).replace(tzinfo=None)


def dataset_from_row(row: tuple[Any, ...]) -> Dataset:
    (ds_id, meta, created, updated, as_of, version, declared, served, count, published) = row
    declared = json.loads(declared) if isinstance(declared, str) else declared
    served = json.loads(served) if isinstance(served, str) else served
    if served is None:
        columns = declared
    else:
        # The version fixes each column's field and type; the data dictionary (names,
        # descriptions, internal flags) is the dataset's and may be edited without one.
        dictionary = {c["field_name"]: c for c in declared}
        columns = [
            {**c, **_descriptive(dictionary.get(c["field_name"]), c["type"])} for c in served
        ]
    if not isinstance(meta, str):
        meta = json.dumps(meta)
    return Dataset(
        id=ds_id,
        meta=DatasetMeta.model_validate_json(meta, context=STORED),
        columns=[Column.model_validate(c) for c in columns],
        created_at=created,
        updated_at=updated,
        data_as_of=as_of,
        version=version,
        row_count=count or 0,
        rows_updated_at=published,
    )


def _descriptive(declared: dict[str, Any] | None, served_type: str) -> dict[str, Any]:
    if declared is None:
        return {}
    if declared.get("type") != served_type:
        # Retyped since: its words are not this field's, but a field the dictionary hides
        # is hidden in every version holding it, whatever its type there.
        return {"internal": True} if declared.get("internal") else {}
    return {k: declared[k] for k in ("name", "description", "internal") if k in declared}


# A dataset's versions, in the order ``versions_from_rows`` reads them (one bound parameter,
# the dataset id; callers add only constant text).
VERSIONS_QUERY = (
    "SELECT number, row_count, created_at, source, rows_added, rows_changed, rows_removed, "
    "note, agency, pruned, pruned_reason FROM blotter_versions WHERE dataset_id = ?"
)


def versions_from_rows(dataset_id: str, rows: list[tuple[Any, ...]]) -> list[Version]:
    """Versions from rows of ``VERSIONS_QUERY``."""
    return [
        Version(
            dataset_id=dataset_id,
            number=n,
            row_count=c,
            created_at=t,
            source=s,
            rows_added=added or 0,
            rows_changed=changed or 0,
            rows_removed=removed or 0,
            note=note or "",
            agency=agency or "",
            pruned=bool(pruned),
            pruned_reason=reason or "",
        )
        for n, c, t, s, added, changed, removed, note, agency, pruned, reason in rows
    ]


TOKEN_FIELDS = "id, user_name, label, scopes, created_at, last_used_at, revoked_at"


def token_from_row(row: tuple[Any, ...]) -> ApiToken:
    token_id, user_name, label, scopes, created, used, revoked = row
    if isinstance(scopes, str):
        scopes = json.loads(scopes)
    return ApiToken(
        id=token_id,
        user_name=user_name,
        label=label,
        scopes=scopes,
        created_at=created,
        last_used_at=used,
        revoked_at=revoked,
    )


def columns_json(columns: list[Column]) -> str:
    return json.dumps([c.model_dump(mode="json") for c in columns])


def lookup_field(row_identifier: str | None, columns: list[Column]) -> str | None:
    """The field a new version's lookups index: the declared row identifier, when the
    version has it as one physical column (a point is two, and cannot identify rows)."""
    if row_identifier and any(
        c.field_name == row_identifier and c.type is not ColumnType.POINT for c in columns
    ):
        return row_identifier
    return None


def physical_layout(
    columns: list[Column], sql_types: dict[ColumnType, str]
) -> list[tuple[str, str]]:
    """(physical name, SQL type) of every physical column, in order."""
    return [(name, sql_types[col.type]) for col in columns for name in physical_names(col)]


def check_batch(batch: pa.RecordBatch, names: list[str]) -> None:
    if batch.schema.names != names:
        raise InvalidRequest(f"A batch has columns {batch.schema.names}, expected {names}.")


Written = TypeVar("Written")


class SqlMemo(Generic[Written]):
    """Engine SQL of compiled queries, by query object and version. The read path compiles
    each request once (``queries.CompiledCache``) and hands the same tree again for the same
    request; writing it as SQL again would cost a fifth of a millisecond each time. The SQL
    may hold what the version's rows gave (``$q``'s candidate ids), so the version is named
    with its dataset's creation too: a dataset made again under its id starts over at 1."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: dict[tuple[str, datetime, int, str, int], tuple[exp.Select, Written]] = {}
        self._lock = threading.Lock()

    def sql(self, dataset: Dataset, select: exp.Select, write: Callable[[], Written]) -> Written:
        key = (
            dataset.id,
            dataset.created_at,
            dataset.version,
            dataset.history_table or "",
            id(select),
        )
        kept = self._entries.get(key)
        # The tree is kept with its SQL, so its id cannot be reused by another tree meanwhile.
        if kept is not None and kept[0] is select:
            return kept[1]
        written = write()
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.pop(next(iter(self._entries)))  # the oldest entry
            self._entries[key] = (select, written)
        return written


def engine_sql(
    dataset: Dataset, select: exp.Select, dialect: DialectType, *, unsorted: bool = False
) -> tuple[str, dict[str, Any]]:
    """The SQL text and bind parameters of a compiled query against a dataset's version,
    written in one pass over the tree, which is left as it was: string literals bound, the
    placeholder tables swapped for the version's rows and its rollup
    (``store/sqlparams.py``). ``unsorted`` drops the ORDER BY (the rows come in its order
    anyway)."""
    if dataset.history_table:
        rows = version_rows(dataset)

        def tables(node: exp.Expression) -> exp.Expression:
            node = at_rollup(node, None)  # RollupGone: a history table has no rollup
            if isinstance(node, exp.Table) and node.name == DATASET_TABLE:
                return rows.subquery(DATASET_TABLE)  # named as it was
            return node

    else:
        table = version_table(dataset.id, dataset.version)

        def tables(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Table) and node.name == DATASET_TABLE:
                return exp.table_(table, quoted=True)
            return at_rollup(node, table)

    return write_bound(select, dialect, tables, unsorted=unsorted)


def version_rows(dataset: Dataset) -> exp.Select:
    """The rows of a version that is no longer current, from its history table: those whose
    versions ``[_from_version, _to_version)`` include it, with that version's fields."""
    number = exp.Literal.number(dataset.version)
    names = [ROW_ID, CREATED_AT, UPDATED_AT] + [
        n for c in dataset.columns for n in physical_names(c)
    ]
    return (
        exp.select(*(exp.column(n, quoted=True) for n in names))
        .from_(exp.table_(str(dataset.history_table), quoted=True))
        .where(
            exp.and_(
                exp.LTE(this=exp.column(FROM_VERSION), expression=number),
                exp.or_(
                    exp.column(TO_VERSION).is_(exp.null()),
                    exp.GT(this=exp.column(TO_VERSION), expression=number.copy()),
                ),
            )
        )
    )


def timeout_error(timeout_s: float | None) -> QueryTimeout:
    return QueryTimeout(
        f"The query ran longer than {timeout_s or 0:g} s and was stopped. "
        "Narrow it with $where or $limit.",
        timeout_s=timeout_s,
    )


# What a query the engine refused tells the client, in our words: engine messages name
# internal tables and types and change between versions.
def out_of_range() -> SoQLError:
    return QueryValueError(
        "Number out of range: a value or a calculation in the query ($select, $where, "
        "$having or $order) is too large for a number."
    )


def not_convertible() -> SoQLError:
    return QueryValueError(
        "A value could not be converted: the query casts or compares a value that is not of "
        "the type it needs (for example text that is not a number)."
    )


def not_runnable() -> SoQLError:
    return QueryValueError("The query could not be run on this data.")


def not_as_written() -> SoQLError:
    # The compiler should have refused it; still the client's query, so a 400.
    return SoQLError("The query cannot be answered as written; simplify the expression.")


def check_dictionary(dataset: Dataset, columns: list[Column]) -> None:
    """A data-dictionary edit keeps every field and its type; changing those takes a publish."""
    before = [(c.field_name, c.type) for c in dataset.columns]
    after = [(c.field_name, c.type) for c in columns]
    if before != after:
        raise InvalidRequest(
            "The data dictionary can rename, describe and mark columns internal, but the "
            "fields and their types are fixed by the data: publish a new file to change them.",
            dataset_id=dataset.id,
        )
