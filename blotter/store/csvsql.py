"""CSV lines written by the engine: the SQL that formats a query's result as Socrata's CSV.

The Python serializer (``blotter.api.serialize``) is the reference: numbers without a
spurious '.0', timestamps with milliseconds, checkboxes true/false, points ``POINT (lon lat)``,
``:id`` as ``row-N``, nulls empty, fields quoted as Python's csv module quotes them. Each
rule here writes the same bytes in SQL, so a large export is formatted by the engine instead
of value by value in Python. A result column of a type without a rule here (the caller then
uses the Python path), or a value an engine cannot write exactly (``risky``: the caller
formats that row in Python), never reaches a client written differently.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from enum import StrEnum

from sqlglot import exp

from blotter.store.base import CsvCell


class Kind(StrEnum):
    """What a result column holds, as far as writing it goes."""

    TEXT = "text"
    INTEGER = "integer"
    DOUBLE = "double"
    REAL = "real"  # single precision: Python widens it to a double first
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"


_DUCKDB_KINDS = {
    "VARCHAR": Kind.TEXT,
    "DOUBLE": Kind.DOUBLE,
    "FLOAT": Kind.REAL,
    "BOOLEAN": Kind.BOOLEAN,
    "TIMESTAMP": Kind.TIMESTAMP,
    "DATE": Kind.TIMESTAMP,
    **{
        name: Kind.INTEGER
        for name in [
            "TINYINT",
            "SMALLINT",
            "INTEGER",
            "BIGINT",
            "HUGEINT",
            "UTINYINT",
            "USMALLINT",
            "UINTEGER",
            "UBIGINT",
            "UHUGEINT",
        ]
    },
}
_POSTGRES_KINDS = {
    "text": Kind.TEXT,
    "varchar": Kind.TEXT,
    "float8": Kind.DOUBLE,
    "float4": Kind.REAL,
    "numeric": Kind.DECIMAL,
    "bool": Kind.BOOLEAN,
    "timestamp": Kind.TIMESTAMP,
    "date": Kind.TIMESTAMP,
    "int2": Kind.INTEGER,
    "int4": Kind.INTEGER,
    "int8": Kind.INTEGER,
}
# DuckDB writes a DECIMAL exactly as Python's str(Decimal) only while the scale keeps it out
# of Decimal's exponent notation (more than six zeros after the point).
_DECIMAL = re.compile(r"DECIMAL\(\d+,([0-6])\)")


def duckdb_kind(type_name: str) -> Kind | None:
    if _DECIMAL.fullmatch(type_name):
        return Kind.DECIMAL
    return _DUCKDB_KINDS.get(type_name)


def postgres_kind(type_name: str) -> Kind | None:
    return _POSTGRES_KINDS.get(type_name)


def _python_quotes() -> list[str]:
    """The characters that make Python's csv writer quote a field (CR only in some versions)."""
    quoted = []
    for char in ',"\r\n':
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow([f"a{char}b"])
        if out.getvalue().startswith('"'):
            quoted.append(char)
    return quoted


QUOTED_CHARS = _python_quotes()


def _any(*tests: exp.Expression) -> exp.Expression:
    return _joined(exp.Or, tests)


def _all(*tests: exp.Expression) -> exp.Expression:
    return _joined(exp.And, tests)


def _joined(op: type[exp.Or | exp.And], tests: Sequence[exp.Expression]) -> exp.Expression:
    joined: exp.Expression = exp.paren(tests[0])
    for test in tests[1:]:
        joined = op(this=joined, expression=exp.paren(test))
    return joined


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _text(value: str) -> exp.Expression:
    # Our own constants only (separators, quotes, formats): never a user's value.
    return exp.Literal.string(value)


def _char(code: int) -> exp.Expression:
    return _fn("chr", exp.Literal.number(code))


def _as_text(value: exp.Expression) -> exp.Expression:
    return exp.cast(value, "text")


def _quoted(value: exp.Expression) -> exp.Expression:
    """The field as Python's csv writer quotes it: in quotes, inner quotes doubled, only
    when it holds a separator, a quote or a line break."""
    needs = _any(
        *(
            exp.GT(this=_fn("strpos", value, _char(ord(c))), expression=exp.Literal.number(0))
            for c in QUOTED_CHARS
        )
    )
    doubled = _fn("replace", value, _text('"'), _text('""'))
    return exp.Case(
        ifs=[exp.If(this=needs, true=_fn("concat", _text('"'), doubled, _text('"')))], default=value
    )


def _integral(value: exp.Expression) -> exp.Expression:
    """True for a double Python writes as an integer (`blotter.formatting.format_number`)."""
    return _all(
        exp.EQ(this=value, expression=_fn("trunc", value)),
        exp.LT(this=exp.Abs(this=value), expression=exp.Literal.number("1e16")),
    )


def _number(value: exp.Expression, *, exact: bool = False) -> exp.Expression:
    """A double as Python's format_number writes it: integers without '.0', the rest as
    repr (both engines' shortest round-trip text; PostgreSQL's differs beyond 1e15, see
    ``risky``). Python writes a NaN 'nan' whatever its sign; DuckDB writes '-nan'.

    ``exact`` (PostgreSQL's COPY, which has no row left raw for Python): infinities as
    Python writes them, and a fraction between 1e15 and 1e16, which PostgreSQL writes with
    an exponent, positional: its shortest digits are then always 17, 16 before the point."""
    whole = _as_text(exp.cast(value, "bigint"))
    nan = exp.EQ(this=value, expression=exp.cast(_text("NaN"), "double"))
    ifs = [exp.If(this=nan, true=_text("nan")), exp.If(this=_integral(value), true=whole)]
    if exact:
        ifs += [
            exp.If(this=_equals_double(value, "Infinity"), true=_text("inf")),
            exp.If(this=_equals_double(value, "-Infinity"), true=_text("-inf")),
            exp.If(
                this=_all(
                    exp.GTE(this=exp.Abs(this=value), expression=exp.Literal.number("1e15")),
                    exp.LT(this=exp.Abs(this=value), expression=exp.Literal.number("1e16")),
                ),
                true=_positional(value),
            ),
        ]
    return exp.Case(ifs=ifs, default=_as_text(value))


def _equals_double(value: exp.Expression, text: str) -> exp.Expression:
    return exp.EQ(this=value, expression=exp.cast(_text(text), "double"))


def _positional(value: exp.Expression) -> exp.Expression:
    """PostgreSQL's 'd.dddddddddddddddde+15' of a fraction below 1e16 written as Python's
    repr writes it: the 17 digits with the point after the 16th."""
    mantissa = _fn("split_part", _as_text(value), _text("e"), exp.Literal.number(1))
    digits = _fn("replace", _fn("replace", mantissa, _text("-"), _text("")), _text("."), _text(""))
    sign = exp.Case(
        ifs=[exp.If(this=exp.LT(this=value, expression=exp.Literal.number(0)), true=_text("-"))],
        default=_text(""),
    )
    return _fn(
        "concat",
        sign,
        _fn("substr", digits, exp.Literal.number(1), exp.Literal.number(16)),
        _text("."),
        _fn("substr", digits, exp.Literal.number(17)),
    )


def _timestamp(value: exp.Expression, dialect: str) -> exp.Expression:
    """'YYYY-MM-DDTHH:MM:SS.mmm', milliseconds truncated; the year unpadded, as Python's
    strftime writes it. A year of four digits (one formatting call, the costliest part of
    an export's line) or else the year and the rest apart (both engines pad it to four)."""
    if dialect == "duckdb":
        whole = _fn("strftime", value, _text("%Y-%m-%dT%H:%M:%S.%g"))
        rest = _fn("strftime", value, _text("-%m-%dT%H:%M:%S.%g"))
    else:
        whole = _fn("to_char", value, _text('YYYY-MM-DD"T"HH24:MI:SS.MS'))
        rest = _fn("to_char", value, _text('-MM-DD"T"HH24:MI:SS.MS'))
    four_digits = _all(
        exp.GTE(this=value, expression=exp.cast(_text("1000-01-01"), "timestamp")),
        exp.LT(this=value, expression=exp.cast(_text("10000-01-01"), "timestamp")),
    )
    year = _as_text(exp.Extract(this=exp.var("year"), expression=value))
    # A null is written empty either way (concat writes it as nothing).
    return exp.Case(ifs=[exp.If(this=four_digits, true=whole)], default=_fn("concat", year, rest))


def _value(kind: Kind, value: exp.Expression, dialect: str, copy: bool) -> exp.Expression:
    match kind:
        case Kind.TEXT:
            return value if copy else _quoted(value)
        case Kind.DOUBLE:
            return _number(value, exact=copy)
        case Kind.REAL:
            return _number(exp.cast(value, "double"), exact=copy)
        case Kind.BOOLEAN:
            return exp.Case(
                ifs=[
                    exp.If(this=exp.EQ(this=value, expression=exp.true()), true=_text("true")),
                    exp.If(this=exp.EQ(this=value, expression=exp.false()), true=_text("false")),
                ]
            )
        case Kind.TIMESTAMP:
            return _timestamp(value, dialect)
    return _as_text(value)  # integers and decimals


def _point(lon: exp.Expression, lat: exp.Expression, copy: bool) -> exp.Expression:
    missing = _any(exp.Is(this=lon, expression=exp.Null()), exp.Is(this=lat, expression=exp.Null()))
    lon_text, lat_text = _number(lon, exact=copy), _number(lat, exact=copy)
    text = _fn("concat", _text("POINT ("), lon_text, _text(" "), lat_text, _text(")"))
    return exp.Case(ifs=[exp.If(this=missing, true=exp.Null())], default=text)


def result_columns(count: int) -> list[str]:
    """Names the formatting query gives the compiled query's result columns."""
    return [f"c{i}" for i in range(count)]


def cell_fields(
    cells: Sequence[CsvCell], kinds: Sequence[Kind | None], dialect: str, *, copy: bool = False
) -> list[exp.Expression] | None:
    """One text expression per output, or None when some column has no exact rule.
    ``copy``: fields for PostgreSQL's ``COPY … (FORMAT csv)`` (``copy_fields``), unquoted
    and with every number written exactly."""
    columns = [exp.column(name) for name in result_columns(len(kinds))]
    fields: list[exp.Expression] = []
    at = 0
    for cell in cells:
        if cell is CsvCell.POINT:
            if any(k not in (Kind.DOUBLE, Kind.REAL) for k in kinds[at : at + 2]):
                return None
            lon, lat = (exp.cast(c, "double") for c in columns[at : at + 2])
            fields.append(_point(lon, lat, copy))
            at += 2
            continue
        kind = kinds[at]
        if kind is None or (cell is CsvCell.ROW_ID and kind is not Kind.INTEGER):
            return None
        if cell is CsvCell.FIXED_TIMESTAMP and kind is not Kind.TIMESTAMP:
            return None
        field = _value(kind, columns[at], dialect, copy)
        if cell is CsvCell.ROW_ID:
            field = _fn("concat", _text("row-"), field)
        elif cell is CsvCell.FIXED_TIMESTAMP:
            # The Z only after a value: a null stays an empty field.
            missing = exp.Is(this=columns[at], expression=exp.Null())
            field = exp.Case(
                ifs=[exp.If(this=missing, true=exp.Null())],
                default=_fn("concat", field, _text("Z")),
            )
        fields.append(field)
        at += 1
    return fields


def line(fields: Sequence[exp.Expression]) -> exp.Expression:
    """The fields joined into one CSV line (concat writes a null as nothing). Python's csv
    writer quotes a line of one empty field, so that it is not a blank line."""
    if len(fields) == 1:
        empty = exp.EQ(this=exp.func("coalesce", fields[0], _text("")), expression=_text(""))
        only = exp.Case(ifs=[exp.If(this=empty, true=_text('""'))], default=fields[0])
        return _fn("concat", only, _char(10))
    parts: list[exp.Expression] = []
    for field in fields:
        parts.extend((field, _text(",")))
    parts[-1] = _char(10)
    return _fn("concat", *parts)


def copy_fields(
    cells: Sequence[CsvCell], kinds: Sequence[Kind | None]
) -> list[exp.Expression] | None:
    """The fields of PostgreSQL's ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` whose output is
    the Python serializer's lines, or None when only the line query can write them.

    COPY quotes a field as Python's csv writer does (a separator, a quote or a line break;
    a carriage return too, which ``python_quoting`` undoes where Python does not), except an
    empty string (quoted, not to read as a null) and, alone on its line, ``\\.``: so every
    field's empty text becomes a null, written empty as Python writes both, and a line of
    one field is left to the line query. A decimal Python may write with an exponent, too.
    """
    if len(cells) < 2 or Kind.DECIMAL in kinds:
        return None
    fields = cell_fields(cells, kinds, "postgres", copy=True)
    if fields is None:
        return None
    return [_fn("nullif", field, _text("")) for field in fields]


def beyond_1e16(kinds: Sequence[Kind | None]) -> exp.Expression | None:
    """True for a row holding a finite double of 1e16 or more, which PostgreSQL may write
    with more digits than Python (its shortest text never ends on the halfway point Python's
    does): ``copy_fields`` writes a result only when no row holds one. None: no doubles."""
    tests: list[exp.Expression] = []
    for name, kind in zip(result_columns(len(kinds)), kinds, strict=True):
        if kind in (Kind.DOUBLE, Kind.REAL):
            size = exp.Abs(this=exp.cast(exp.column(name), "double"))
            tests.append(
                _all(
                    exp.GTE(this=size, expression=exp.Literal.number("1e16")),
                    exp.LT(this=size, expression=exp.cast(_text("Infinity"), "double")),
                )
            )
    return _any(*tests) if tests else None


def python_quoting(lines: bytes) -> bytes:
    """Whole CSV lines as COPY wrote them, quoted as Python's csv writer quotes: COPY also
    quotes a field holding a carriage return, which this Python does not (rare: the lines
    are only read and written again when they hold one)."""
    if "\r" in QUOTED_CHARS or b"\r" not in lines:
        return lines
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(csv.reader(io.StringIO(lines.decode(), newline="")))
    return out.getvalue().encode()


def risky(kinds: Sequence[Kind | None]) -> exp.Expression | None:
    """PostgreSQL: true for a row holding a number its text output writes unlike Python
    (doubles of 1e15 and more, NaN and infinities; decimals Python writes with an
    exponent), which the caller then formats in Python."""
    tests: list[exp.Expression] = []
    for name, kind in zip(result_columns(len(kinds)), kinds, strict=True):
        value: exp.Expression = exp.column(name)
        if kind in (Kind.DOUBLE, Kind.REAL):
            value = exp.cast(value, "double")
            plain = exp.LT(this=exp.Abs(this=value), expression=exp.Literal.number("1e15"))
            tests.append(exp.Not(this=exp.paren(_any(plain, _integral(value)))))
        elif kind is Kind.DECIMAL:
            tiny = exp.LT(this=exp.Abs(this=value), expression=exp.Literal.number("0.000001"))
            tests.append(_all(exp.NEQ(this=value, expression=exp.Literal.number(0)), tiny))
    return _any(*tests) if tests else None
