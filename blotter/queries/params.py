"""A request's SoQL text: ``$``-clauses apart from ``column=value`` filters, parsed into our
AST; conditions joined so that a client's text cannot escape its parentheses."""

from __future__ import annotations

from collections.abc import Mapping

from blotter.errors import SoQLError
from blotter.soql.ast import Query
from blotter.soql.parser import parse_clause, parse_params, parse_statement

# Parameters SODA clients send that carry no query.
_IGNORED = {"$$app_token", "$$exclude_system_fields", "accessType", "$$read_from_nbe", "$$version"}
_CLAUSES = {"$select", "$where", "$order", "$group", "$having", "$limit", "$offset", "$q"}


def split_params(params: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Separate SoQL clauses (``$where``…) from simple ``column=value`` filters."""
    clauses: dict[str, str] = {}
    filters: dict[str, str] = {}
    for key, value in params.items():
        # "$$" parameters are Socrata's request options ($$app_token, $$bom, $$version…), not
        # SoQL; the API layer reads the ones it honours.
        if key in _IGNORED or key.startswith("$$"):
            continue
        if key.startswith("$"):
            if key not in _CLAUSES and key != "$query":
                raise SoQLError(
                    f"Unknown parameter '{key}'. SoQL parameters are "
                    f"{', '.join(sorted(_CLAUSES | {'$query'}))}.",
                    clause=key,
                )
            # Socrata reads an empty parameter as an absent one: clients such as
            # OpenPoliceData send `$where=` on every unfiltered request.
            if value.strip():
                clauses[key] = value
        else:
            filters[key] = value
    if "$query" in clauses and len(clauses) > 1:
        others = ", ".join(sorted(k for k in clauses if k != "$query"))
        raise SoQLError(
            f"$query holds a whole statement and cannot be combined with {others}.",
            clause="$query",
        )
    return clauses, filters


def all_of(*clauses: str | None) -> str | None:
    """SoQL conditions joined with AND (None when there are none). Each must parse alone
    first, so a client's `a) OR (b` cannot escape its parentheses and drop the others."""
    present = [c for c in clauses if c is not None and c.strip()]
    for clause in present:
        parse_clause("$where", clause)
    return " AND ".join(f"({c})" for c in present) or None


def and_where(where: str | None, condition: str) -> str:
    """A client's ``$where`` narrowed by our own condition, as SoQL text. The client's text
    must parse alone first: joined as raw text, `a) OR (b` would escape the parentheses and
    drop the condition."""
    if where is None or not where.strip():
        return condition
    parse_clause("$where", where)
    return f"({where}) AND {condition}"


def parse_request(params: Mapping[str, str]) -> tuple[Query, dict[str, str]]:
    """A request's SoQL as our AST, and its ``column=value`` filters."""
    clauses, filters = split_params(params)
    query = parse_statement(clauses["$query"]) if "$query" in clauses else parse_params(clauses)
    return query, filters
