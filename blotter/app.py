"""``create_app(settings)``: the ASGI application, API and pages together."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from blotter.accounts import check_token
from blotter.analysis.hotspots import preload as preload_hotspots
from blotter.api.analysis import router as analysis_router
from blotter.api.bounds import Bounds
from blotter.api.catalog import router as catalog_router
from blotter.api.health import router as health_router
from blotter.api.history import router as history_router
from blotter.api.publish import router as publish_router
from blotter.api.server_timing import ServerTiming
from blotter.api.soda import router as soda_router
from blotter.api.soda3 import router as soda3_router
from blotter.api.throttle import Throttle
from blotter.credentials import CredentialGuard
from blotter.errors import BlotterError, InvalidRequest, NotFound
from blotter.management import remove_stale_uploads
from blotter.maplayers import load_layers
from blotter.portal import Portal
from blotter.security import CrossSiteWrites, SecurityHeaders, origin_of
from blotter.settings import Settings
from blotter.store import Store, open_store
from blotter.web.chart_drawing import warm_up as warm_up_drawing
from blotter.web.drawing_process import start_drawing_process
from blotter.web.first_view import StoredAfterWrites
from blotter.web.maps import LEAFLET_DIR
from blotter.web.pages import STATIC_DIR, error_page
from blotter.web.pages import router as web_router
from blotter.web.rendering import compile_templates
from blotter.web.signin import login_url

_API_PREFIXES = ("/resource/", "/api/", "/healthz", "/readyz")


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """Build the portal. A store it opens itself is closed when the app shuts down; a store
    passed in belongs to the caller."""
    settings = settings or Settings()
    # A map layer named in the settings that is missing or broken stops the start, in words.
    load_layers(settings)
    owned = store is None
    portal = Portal(
        settings=settings,
        store=store or open_store(settings),
    )
    stored_after_writes = StoredAfterWrites(portal)
    portal.after_write = stored_after_writes

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Files left by previews never published, or by a server killed mid-publish.
        remove_stale_uploads(portal)
        stored_after_writes.start()
        if owned and settings.preload_statistics:
            # A server of its own (`blotter serve`): the first hotspot map would wait for its
            # statistics libraries, so they are imported before the first request. Not on a
            # thread beside requests: two threads importing one package (narwhals, under
            # altair and SciPy) can meet Python's import-deadlock check. The drawing process
            # starts its engine meanwhile, in a process of its own.
            start_drawing_process()
            preload_hotspots()
            # The first page would otherwise start vl-convert's engine and compile its
            # templates (about 1 s on a busy machine): done once, before the first request.
            warm_up_drawing()
            compile_templates()
            # What start-up loaded (schemas, templates, libraries) lives as long as the
            # process: out of the collector's way, a page that builds many objects (a
            # hotspot grid's cells) no longer pays full collections that walk all of it.
            gc.freeze()
        yield
        stored_after_writes.close()  # before the store closes under it
        if owned:
            portal.store.close()

    app = FastAPI(
        title=settings.site_name,
        summary="Open public-safety data with a Socrata-compatible API.",
        lifespan=lifespan,
        # FastAPI's interactive docs load their assets from a CDN; the /api page needs none.
        docs_url=None,
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.portal = portal
    app.state.credential_guard = CredentialGuard.from_settings(settings)
    # Browsers call the SODA API from other sites' pages, as with Socrata.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["*"],
        expose_headers=["X-SODA2-Fields", "X-SODA2-Types", "ETag", "Last-Modified"],
    )
    app.add_middleware(
        Throttle,
        anonymous_per_minute=settings.throttle_anonymous_per_minute,
        token_per_minute=settings.throttle_token_per_minute,
        tokens=frozenset(settings.app_tokens),
        account_token=lambda token: check_token(portal.store, token) is not None,
        answer=_early_answer,
    )
    app.add_middleware(
        Bounds,
        max_url_bytes=settings.max_url_bytes,
        body_limit=lambda path: _body_limit(settings, path),
        answer=_early_answer,
    )
    # Outermost of ours: a portal error raised in a middleware (the throttle asking the
    # database about a token) is answered like one raised in a route.
    app.add_middleware(_MiddlewareErrors)
    # The last added runs first: every answer (throttled and refused ones too) gets the
    # headers, and a refused write reaches neither the throttle nor a route.
    app.add_middleware(
        CrossSiteWrites,
        public_origin=origin_of(settings.base_url),
        error_response=_error_response,
    )
    app.add_middleware(SecurityHeaders, image_origins=_tile_origins(settings))
    # Outermost: its time covers every layer, its count every store query of the answer.
    app.add_middleware(ServerTiming)
    app.include_router(health_router)
    app.include_router(publish_router)
    app.include_router(analysis_router)
    app.include_router(history_router)
    app.include_router(soda_router)
    app.include_router(soda3_router)
    app.include_router(catalog_router)
    app.include_router(web_router)
    # Leaflet is served from its Python package: no asset ever comes from a CDN.
    app.mount("/static/leaflet", StaticFiles(directory=LEAFLET_DIR), name="leaflet")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(BlotterError)
    async def blotter_error(request: Request, err: BlotterError) -> Response:
        return _error_response(request, err)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> Response:
        # A bug: still the portal's body, never a plain-text 500. The server logs the error
        # itself after this answer is sent.
        if isinstance(err, BlotterError):
            return _error_response(request, err)
        return _error_response(request, BlotterError("Something went wrong on our side."))

    @app.exception_handler(404)
    async def unknown_path(request: Request, _: Exception) -> Response:
        return _error_response(request, NotFound(f"Nothing is at {request.url.path}."))

    @app.exception_handler(422)
    async def bad_parameters(request: Request, err: Exception) -> Response:
        return _error_response(request, InvalidRequest(f"Invalid request: {err}"))

    return app


class _MiddlewareErrors:
    """Answers a portal error raised outside the routes, before the response has started,
    with the portal's body (after it has started, the error cuts the stream as it must)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except BlotterError as err:
            if started:
                raise
            await _error_response(Request(scope), err)(scope, receive, send)


# The sign-in and sign-out forms, which anyone may post: a name, a password and a token.
_SIGN_IN_BYTES = 64 << 10


def _body_limit(settings: Settings, path: str) -> tuple[int, str]:
    """The largest body a path takes, and what to do instead (``api.bounds``)."""
    if path in ("/login", "/logout"):
        # Read before any account is known: not the publisher API's megabytes.
        return _SIGN_IN_BYTES, "A sign-in sends only a name and a password."
    if path == "/manage/upload" or (path.startswith("/api/views/") and path.endswith("/upload")):
        # The file itself is held to the limit as it is saved; this leaves room for the
        # form's other fields and framing.
        return (settings.max_upload_mb + 1) << 20, (
            f"Files up to {settings.max_upload_mb} MB can be uploaded."
        )
    if path.startswith("/api/v3/"):
        return settings.max_query_body_kb << 10, "A SODA3 body holds a query, not data."
    return settings.max_write_mb << 20, (
        "Send rows in smaller batches, or upload a file with POST /api/views/{id}/upload."
    )


async def _early_answer(scope: Scope, receive: Receive, send: Send, err: BlotterError) -> None:
    """An error found before any route runs (a bound, the throttle), answered as the portal
    answers errors but without working out who asks, so a refusal stays cheap."""
    request = Request(scope, receive)
    api = _is_api(request)
    response = _json_error(err) if api else error_page(request, err, anonymous=True)
    await response(scope, receive, send)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(_API_PREFIXES) or request.url.path.endswith(".json")


def _json_error(err: BlotterError) -> Response:
    """The one place an error becomes the SODA JSON body, with the error's own headers."""
    headers = err.headers
    if err.status == 401:  # scripts then know to send Basic credentials
        headers["WWW-Authenticate"] = 'Basic realm="Blotter", charset="UTF-8"'
    return JSONResponse(
        err.to_dict(),
        status_code=err.status,
        headers=headers,
        media_type="application/json; charset=utf-8",
    )


def _tile_origins(settings: Settings) -> tuple[str, ...]:
    """Where map tiles come from, for the pages' image policy (``{s}`` is any subdomain)."""
    origin = origin_of(settings.tile_url.replace("{s}", "*"))
    return (origin,) if origin else ()


def _error_response(request: Request, err: BlotterError) -> Response:
    """Where every error raised in a route or a middleware is answered: SODA JSON for the
    API (``_json_error``), a page otherwise (``web.pages.error_page``)."""
    if _is_api(request):
        return _json_error(err)
    if err.status == 401 and request.method == "GET":
        # A page that needs an account sends the visitor to sign in, then back.
        return RedirectResponse(login_url(request.url.path), status_code=303)
    return error_page(request, err)
