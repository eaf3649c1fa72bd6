"""The engine's SQL of a compiled query: every string literal a bind parameter, the tables
swapped for the version's, and the shared compiled tree left exactly as it was."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlglot import exp

from blotter.errors import SoQLError
from blotter.ingest.spec import load_spec_file
from blotter.model import Dataset
from blotter.queries.params import parse_request
from blotter.soql.compiler import compile_query
from blotter.soql.parser import parse_params
from blotter.store.common import DATASET_TABLE
from blotter.store.pgsql import Psycopg
from blotter.store.polygons import DuckDBWithPolygons
from blotter.store.search_index import narrowed
from blotter.store.sqlparams import bind_string_literals, write_bound
from tests.paths import SAMPLES
from tests.soql.tables import FORCE

HOSTILE = "x' OR 1=1; DROP TABLE _dataset; --"
DIALECTS = [DuckDBWithPolygons, Psycopg]


def _version_table(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Table) and node.name == DATASET_TABLE:
        return exp.table_("ds_force_v3", quoted=True)
    return node


def _sample(spec_name: str) -> Dataset:
    """A sample dataset as its dataset file declares it (no store needed to compile)."""
    spec = load_spec_file(SAMPLES / spec_name)
    columns = [column for declared in spec.columns for column in declared.columns()]
    when = datetime(2024, 1, 1)
    return Dataset(id=spec.id, meta=spec, columns=columns, created_at=when, updated_at=when)


def _compiled(params: dict[str, str]) -> exp.Select:
    return narrowed(compile_query(parse_params(params), FORCE).select, None)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.__name__)
def test_user_text_is_bound_never_written_and_the_tree_is_left_as_it_was(
    dialect: type,
) -> None:
    escaped = HOSTILE.replace("'", "''")
    select = _compiled(
        {
            "$select": "offense, count(*) AS n",
            "$where": f"offense = '{escaped}' OR offense = '{escaped}' "
            "OR occurred > '2016-01-01' OR offense = '2016-01-01 00:00:00'",
            "$group": "offense",
            "$order": "n DESC",
        }
    )
    before = select.sql()
    literals = [node for node in select.walk() if isinstance(node, exp.Literal)]
    sql, params = write_bound(select, dialect, _version_table)
    assert HOSTILE not in sql and "DROP" not in sql
    # Equal text in the same context shares one parameter; a cast's text has its own, as
    # PostgreSQL types each parameter once.
    assert list(params.values()).count(HOSTILE) == 1
    assert list(params.values()).count("2016-01-01 00:00:00") == 2
    assert '"ds_force_v3"' in sql and DATASET_TABLE not in sql
    # What the copy-first way writes, the same text and parameters.
    bound, copied = bind_string_literals(select, _version_table)
    assert (sql, params) == (bound.sql(dialect=dialect, copy=False), copied)
    # The compiled tree is shared between requests: unchanged, literals and all.
    assert select.sql() == before
    assert [node for node in select.walk() if isinstance(node, exp.Literal)] == literals
    assert all(node.parent is not None for node in literals)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.__name__)
def test_an_unsorted_query_drops_its_order_by_but_the_tree_keeps_it(dialect: type) -> None:
    select = _compiled({"$order": "occurred DESC", "$where": "offense = 'Assault'"})
    sql, params = write_bound(select, dialect, _version_table, unsorted=True)
    assert "ORDER BY" not in sql and list(params.values()) == ["Assault"]
    assert "ORDER BY" in write_bound(select, dialect, _version_table)[0]
    assert select.args.get("order") is not None


def test_a_literal_a_generator_writes_itself_is_still_bound() -> None:
    """A generator that reads a literal's text instead of passing it to the dispatcher
    (sqlglot's DuckDB writes a collation's name this way) is caught: the tree is then written
    from a bound copy, so the text never reaches the SQL."""
    select = exp.select(
        exp.Collate(this=exp.column("offense"), expression=exp.Literal.string(HOSTILE))
    ).from_(DATASET_TABLE)
    inlined = select.sql(dialect=DuckDBWithPolygons)
    assert "drop" in inlined.lower()  # what writing it as it is would do
    sql, params = write_bound(select, DuckDBWithPolygons, _version_table)
    assert "drop" not in sql.lower() and list(params.values()) == [HOSTILE]
    assert '"ds_force_v3"' in sql


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.__name__)
def test_every_conformance_question_is_written_as_the_copy_first_way_writes_it(
    dialect: type,
) -> None:
    """Every question of the SoQL conformance table (each function, clause and filter):
    written as the generator meets the tree, it is the same SQL and parameters as written
    from a copy whose literals were replaced first, so no generator writes a literal's text
    besides its placeholder."""
    from tests.soql.test_conformance import CASES, STATEMENTS

    datasets = {d.id: d for d in map(_sample, ("use_of_force.yaml", "calls_for_service.yaml"))}
    written = 0
    asked = [(n, d, p) for n, d, p, _ in CASES]
    asked += [(n, d, {"$query": text}) for n, d, text, _ in STATEMENTS]
    for name, dataset_id, params in asked:
        query, filters = parse_request(params)
        try:
            compiled = compile_query(query, datasets[dataset_id], filters=filters)
        except SoQLError:
            continue  # a case of a refused question
        select = narrowed(compiled.select, None)
        bound, copied = bind_string_literals(select, _version_table)
        expected = (bound.sql(dialect=dialect, copy=False), copied)
        assert write_bound(select, dialect, _version_table) == expected, name
        written += 1
    assert written >= 0.9 * len(asked)  # nearly every question is one the compiler accepts
