"""The rows a polygon filter matches, kept by DuckDB: the ids of the current version's rows
inside one polygon, tested once and kept in an attached in-memory database.

An area page asks the store several questions with the same ``within_polygon`` filter, and
each tested every point of the area's box against the polygon's edges again (seven tenths
of a second at 1M rows for a central area). The ids of the rows inside are written once per
(version table, dataset creation, point columns, polygon) into a table of
``blotter_members``; a query whose ``WHERE`` holds the test as one of its ``AND`` terms, on
the current version's own table, reads ``_id IN (SELECT _id FROM that table)`` instead. In
a ``WHERE``, a row whose test is false or null is left out either way, so the rows are the
same; a test under ``NOT``, ``OR``, in a result column or a ``HAVING`` keeps its own
evaluation. Sets are evicted least recently used past :data:`MOST_SETS` sets or
:data:`MOST_IDS` ids in all; a query that finds its set evicted meanwhile rebuilds it and
tries again (:data:`TRIES` times), then runs with the plain test.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb
from sqlglot import exp

from blotter.model import Dataset
from blotter.schema import DATASET_TABLE, ROW_ID, PolygonTest, version_table
from blotter.store.common import SqlMemo
from blotter.store.duckdb_watchdog import run_watched
from blotter.store.polygons import DuckDBWithPolygons
from blotter.store.search_index import search_words

SCHEMA = "blotter_members"  # the attached in-memory database
MOST_SETS = 32
MOST_IDS = 10_000_000  # 8 bytes each: at most ~80 MB
MOST_RECIPES = 4096  # polygons (of any caller's WKT) a written query may name
TRIES = 3
_PREFIX = "m_"

Result = TypeVar("Result")
Written = tuple[str, Any]  # SQL and its parameters
Write = Callable[[Dataset, exp.Select], Written]


@dataclass(frozen=True)
class _Recipe:
    table: str  # the version table
    test: PolygonTest


class PolygonMembers:
    """The kept sets of one DuckDB database, and the rewrite of queries to read them."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._lock = threading.Lock()
        self._attached = False
        # The sets written queries may name, the least recently named first, and their ids.
        self._recipes: OrderedDict[str, _Recipe] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._kept: OrderedDict[str, int] = OrderedDict()  # built sets, oldest first: ids
        self._sql: SqlMemo[tuple[list[str], Written] | None] = SqlMemo()

    def start(
        self,
        dataset: Dataset,
        select: exp.Select,
        writes: tuple[Write, Write],
        run: Callable[[str, Any], Result],
        timeout_s: float | None = None,
    ) -> Result:
        """``run(sql, params)`` of ``select`` on ``dataset`` as it can be read now, reading
        kept sets where it may (the current version's own table, no ``$q``: its words are
        read from the version's word index); ``writes``: how a tree with sets is written, how
        the query with its tests. A set is built within ``timeout_s``, as the query runs."""
        write, plain = writes
        if dataset.history_table is not None or not dataset.version:
            return run(*plain(dataset, select))

        def written() -> tuple[list[str], Written] | None:
            # Asked once per query and version (the memo's miss), not once per request: the
            # walk for ``$q``'s words cost a twentieth of a point lookup's time.
            if search_words(select):
                return None
            tree, names = self.rewritten(dataset, select, timeout_s)
            return None if tree is select else (names, write(dataset, tree))

        found = self._sql.sql(dataset, select, written)
        if found is None:
            return run(*plain(dataset, select))
        names, (sql, params) = found
        return self.run(
            names, lambda: run(sql, params), lambda: run(*plain(dataset, select)), timeout_s
        )

    def rewritten(
        self, dataset: Dataset, select: exp.Select, timeout_s: float | None = None
    ) -> tuple[exp.Select, list[str]]:
        """``select`` (a compiled query on the current version of ``dataset``) with each
        polygon test that is an ``AND`` term of a ``WHERE`` on the dataset's own rows
        reading its kept set (built now: ``FALSE`` for a set of no row), and the names of
        the sets it reads; ``select`` itself when no test is such a term."""
        table = version_table(dataset.id, dataset.version)
        targets = [
            term
            for node in select.find_all(exp.Select)
            if _reads_dataset(node)
            for term in _and_terms(node.args.get("where"))
            if isinstance(term, PolygonTest)
        ]
        if not targets:
            return select, []
        names = [self._name(dataset, table, term) for term in targets]
        self._ready(names, timeout_s)
        copied = select.copy()
        # The copy's nodes in the original's walk order; by identity: sqlglot's nodes
        # compare equal by structure, and the same test may stand under a NOT elsewhere.
        place = {id(node): i for i, node in enumerate(select.walk())}
        copies = list(copied.walk())
        reads: list[str] = []
        for term, name in zip(targets, names, strict=True):
            empty = self._sizes.get(name) == 0
            copies[place[id(term)]].replace(exp.false() if empty else _member_of(name))
            reads += [] if empty else [name]
        return copied, reads

    def _name(self, dataset: Dataset, table: str, test: PolygonTest) -> str:
        lon, lat = (test.args[k].sql(dialect="duckdb") for k in ("lon", "lat"))
        key = repr((table, str(dataset.created_at), lon, lat, test.args["rings"]))
        name = _PREFIX + hashlib.sha256(key.encode()).hexdigest()[:24]
        with self._lock:
            self._recipes[name] = _Recipe(table, test.copy())
            self._recipes.move_to_end(name)
            while len(self._recipes) > MOST_RECIPES:
                self._sizes.pop(self._recipes.popitem(last=False)[0], None)
        return name

    def run(
        self,
        names: list[str],
        query: Callable[[], Result],
        plain: Callable[[], Result],
        timeout_s: float | None = None,
    ) -> Result:
        """``query()`` once the sets it reads are built; rebuilt and run again when one was
        evicted meanwhile, ``plain()`` (the query with its tests) after :data:`TRIES`."""
        for _ in range(TRIES):
            try:
                self._ready(names, timeout_s)
            except _Forgotten:  # named long ago: the query with its tests
                break
            try:
                return query()
            except duckdb.CatalogException as err:
                gone = [n for n in names if n in str(err)]
                if not gone:
                    raise
                with self._lock:  # dropped meanwhile: built again on the next try
                    for name in gone:
                        self._kept.pop(name, None)
        return plain()

    def _ready(self, names: list[str], timeout_s: float | None) -> None:
        with self._lock:
            if not self._attached:
                self._con.execute(f"ATTACH ':memory:' AS {SCHEMA}")
                self._attached = True
            for name in names:
                if name in self._kept:
                    self._kept.move_to_end(name)
                else:
                    self._build(name, timeout_s)

    def _build(self, name: str, timeout_s: float | None) -> None:
        recipe = self._recipes.get(name)
        if recipe is None:
            raise _Forgotten(name)
        rows = (
            exp.select(exp.column(ROW_ID))
            .from_(exp.table_(recipe.table, quoted=True))
            .where(recipe.test.copy())
        )
        target = exp.table_(name, db=SCHEMA, quoted=True).sql(dialect="duckdb")
        cur = self._con.cursor()
        create = f"CREATE OR REPLACE TABLE {target} AS {rows.sql(dialect=DuckDBWithPolygons)}"
        run_watched(cur, create, {}, timeout_s)  # the cursor closed if it fails
        try:
            counted = cur.execute(f"SELECT count(*) FROM {target}").fetchone()  # noqa: S608 - ours
        finally:
            cur.close()
        self._kept[name] = self._sizes[name] = counted[0] if counted else 0
        while len(self._kept) > 1 and (
            len(self._kept) > MOST_SETS or sum(self._kept.values()) > MOST_IDS
        ):
            oldest, _ = self._kept.popitem(last=False)
            dropped = exp.table_(oldest, db=SCHEMA, quoted=True).sql(dialect="duckdb")
            cur = self._con.cursor()
            try:
                cur.execute(f"DROP TABLE IF EXISTS {dropped}")
            except duckdb.Error:  # still read by a query: replaced when built again
                pass
            finally:
                cur.close()

    def kept(self) -> list[str]:
        """The sets built now, oldest first (for tests and the curious)."""
        with self._lock:
            return list(self._kept)


class _Forgotten(Exception):
    """A set whose polygon is no longer among the recipes."""


def _reads_dataset(select: exp.Select) -> bool:
    source = select.args.get("from") or select.args.get("from_")
    return (
        source is not None
        and isinstance(source.this, exp.Table)
        and source.this.name == DATASET_TABLE
        and not source.this.args.get("db")
        and not select.args.get("joins")
    )


def _and_terms(where: exp.Expression | None) -> Iterator[exp.Expression]:
    """The terms of a ``WHERE``'s top ``AND`` chain (parentheses looked through)."""
    if where is None:
        return
    stack = [where.this if isinstance(where, exp.Where) else where]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Paren):
            stack.append(node.this)
        elif isinstance(node, exp.And):
            stack.extend((node.expression, node.this))
        else:
            yield node


def _member_of(name: str) -> exp.Expression:
    ids = exp.select(exp.column(ROW_ID)).from_(exp.table_(name, db=SCHEMA, quoted=True))
    return exp.In(this=exp.column(ROW_ID), query=exp.Subquery(this=ids))
