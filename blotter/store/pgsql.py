"""PostgreSQL's SQL as psycopg runs it, written by sqlglot.

The catalog's statements are written once, in DuckDB's SQL with ``?`` placeholders; sqlglot
writes each one for PostgreSQL through the dialect below. With bind parameters psycopg reads
``%`` as the start of a placeholder, so the dialect writes a literal one (the modulo operator,
or one inside a string or a name) as ``%%``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.generators.postgres import PostgresGenerator

from blotter.schema import PolygonTest
from blotter.store.polygons import polygon_sql


class _PsycopgGenerator(PostgresGenerator):
    MOD_OPERATOR = "%%"
    TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
        **PostgresGenerator.TRANSFORMS,
        PolygonTest: polygon_sql,
    }

    def escape_str(self, text: str, *args: Any, **kwargs: Any) -> str:
        return super().escape_str(text.replace("%", "%%"), *args, **kwargs)

    def identifier_sql(self, expression: exp.Identifier) -> str:
        if "%" in expression.name:
            expression = exp.Identifier(
                this=expression.name.replace("%", "%%"), quoted=expression.quoted
            )
        return super().identifier_sql(expression)


class Psycopg(Postgres):
    """PostgreSQL with psycopg's placeholders (``%s``, ``%(name)s``) and ``%`` doubled."""

    Generator = _PsycopgGenerator


@lru_cache(maxsize=512)
def postgres_sql(statement: str) -> str:
    """A constant statement written for DuckDB, as psycopg runs it on PostgreSQL (each
    statement is written once, then remembered)."""
    return sqlglot.transpile(statement, read="duckdb", write=Psycopg)[0]
