"""The one way a SoQL error is made with its position: the clause, the line and column
where the fault is, said in the message and carried as data for the error body."""

from __future__ import annotations

from blotter.errors import SoQLError
from blotter.soql.ast import Pos


def positioned(
    cls: type[SoQLError],
    message: str,
    clause: str,
    pos: Pos | None,
    query: str | None = None,
) -> SoQLError:
    """``cls`` saying ``message`` about ``clause`` at ``pos``; None when no text holds the
    fault (a limit that came from the settings, not the request)."""
    if pos is None:
        return cls(message, clause=clause, query=query)
    return cls(
        f"{message} (in {clause} at line {pos.line}, column {pos.column})",
        clause=clause,
        query=query,
        line=pos.line,
        column=pos.column,
    )


def pos_at(text: str, offset: int) -> Pos:
    """The line and column (1-based) of ``offset`` in ``text``."""
    before = text[:offset]
    return Pos(before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1)
