"""The stack's floor (``bench/floors.py``): FastAPI served by uvicorn, as Blotter is, with
nothing of Blotter's: a bare answer, and the point lookup read straight from DuckDB and
written as JSON. Blotter's routes are synchronous (run on a worker thread), so these are."""

from __future__ import annotations

import os
import threading
from typing import Any

import duckdb
from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()
_con = duckdb.connect(os.environ["BENCH_FLOOR_DB"], read_only=True)
_local = threading.local()


def _cursor() -> duckdb.DuckDBPyConnection:
    # One cursor per worker thread, kept (as Blotter keeps its read cursors).
    cur: duckdb.DuckDBPyConnection | None = getattr(_local, "cur", None)
    if cur is None:
        cur = _local.cur = _con.cursor()
    return cur


@app.get("/bare")
def bare() -> JSONResponse:
    return JSONResponse({"ok": True})


@app.get("/lookup")
def lookup(id: int) -> JSONResponse:
    cur = _cursor()
    rows = cur.execute("SELECT * FROM incidents WHERE id = ?", [id]).fetchall()
    names = [d[0] for d in cur.description or []]
    records: list[dict[str, Any]] = [
        {
            name: None if value is None else str(value)
            for name, value in zip(names, row, strict=True)
        }
        for row in rows
    ]
    return JSONResponse(records)
