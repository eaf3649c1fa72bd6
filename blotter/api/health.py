"""Health checks for proxies and orchestrators: ``/healthz`` (the process answers) and
``/readyz`` (the database answers, with the schema this code expects).

Neither is throttled nor needs credentials; both answer HEAD as well as GET.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from blotter.errors import SchemaMismatch
from blotter.portal import portal_of

router = APIRouter()
_NO_STORE = {"Cache-Control": "no-store"}


@router.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
async def healthz() -> JSONResponse:
    """Alive: the process serves requests. Never touches the database, so a database outage
    does not get every worker restarted."""
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


@router.api_route("/readyz", methods=["GET", "HEAD"], include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """Ready: the database answers and its schema is the one this code expects; otherwise a
    503 with the portal's error body (``store.unavailable`` or ``store.schema-mismatch``)."""
    portal = portal_of(request)
    applied, expected = await anyio.to_thread.run_sync(portal.store.schema_status)
    if applied != expected:
        raise SchemaMismatch(
            f"The database's schema is at version {applied}; this server expects {expected}.",
            schema_version=applied,
            expected_schema_version=expected,
            retry_after_s=5,
        )
    body = {"status": "ready", "engine": portal.store.engine, "schema_version": applied}
    return JSONResponse(body, headers=_NO_STORE)
