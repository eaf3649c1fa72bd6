"""What the edge does for every request before and after the routes: cross-site writes are
refused, and every answer carries the security headers a browser needs.

Both are plain ASGI middleware, so they see streamed answers without buffering them.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from blotter.access import Viewer
from blotter.errors import BlotterError, PermissionDenied

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Pages only staff see: never framed, so no other site can dress a click on them.
STAFF_PREFIXES = ("/manage", "/login", "/logout")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, lower case, default ports left out;
    "" for anything else (``null``, a bad port)."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        return ""
    if not parts.scheme or not parts.hostname:
        return ""
    scheme = parts.scheme.lower()
    shown = "" if port in (None, _DEFAULT_PORTS.get(scheme)) else f":{port}"
    return f"{scheme}://{parts.hostname}{shown}"


def same_host(origin: str, host_header: str) -> bool:
    """Whether an origin names the host the request was sent to. A proxy may add the default
    port to ``Host`` (``data.example.gov:443``) where the browser's origin leaves it out."""
    sent = urlsplit(origin)
    try:
        host = urlsplit(f"//{host_header}")
        host_port = host.port
        sent_port = sent.port or _DEFAULT_PORTS.get(sent.scheme)
    except ValueError:  # a port that is not a number
        return False
    if not host.hostname or host.hostname != sent.hostname:
        return False
    if host_port is None:  # the client used its scheme's default port
        return sent.port is None
    return host_port == sent_port


class CrossSiteWrites:
    """A write (any method but GET, HEAD, OPTIONS) that a browser says comes from another
    site is refused with 403, whatever its content type.

    Browsers send ``Origin`` on every cross-origin POST and ``Sec-Fetch-Site`` on every
    request; scripts (sodapy, RSocrata, curl) send neither and are let through, as are
    writes from this portal's own pages. The request's ``Host`` is the browser's own idea of
    where it is sending, so a page elsewhere cannot forge it; the configured public address
    counts as this site too (behind a proxy that rewrites ``Host``)."""

    def __init__(
        self,
        app: ASGIApp,
        public_origin: str,
        error_response: Callable[[Request, BlotterError], Response],
    ) -> None:
        self.app = app
        self.public_origin = public_origin
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            reason = self._refusal(Headers(scope=scope))
            if reason:
                request = Request(scope, receive)
                err = PermissionDenied(reason, origin=request.headers.get("origin"))
                await self.error_response(request, err)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, headers: Headers) -> str:
        if headers.get("sec-fetch-site", "").lower() == "cross-site":
            return "Writes are not accepted from pages of another site."
        origin = headers.get("origin")
        if origin is None:
            return ""
        sent = origin_of(origin)
        if sent and (same_host(sent, headers.get("host", "")) or sent == self.public_origin):
            return ""
        # "null" (a sandboxed frame, a file) or another site's address.
        return f"Writes are not accepted from pages of another site ({origin[:100]})."


def content_security_policy(*, staff: bool, image_origins: tuple[str, ...] = ()) -> str:
    """The pages' policy: scripts, styles, data and forms from this portal only, nothing
    inline and no eval; no plugins, no <base> rewriting. Leaflet and Vega position what they
    draw through the DOM (``element.style``), which the policy allows; ``charts.js`` asks
    Vega for its interpreter and for no <style> elements."""
    images = " ".join(("'self'", "data:", "blob:", *image_origins))
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src {images}",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'" if staff else "",
    ]
    return "; ".join(d for d in directives if d)


class SecurityHeaders:
    """Headers on every answer: ``nosniff`` and a referrer policy everywhere, the content
    security policy on HTML, no framing of staff pages, and ``private, no-store`` on any
    answer to a request that named an account (``auth.viewer_of`` keeps who asked in the
    request's state), unless the route said otherwise: such an answer may hold internal
    data (metadata, a diff, a version list), and a proxy caching by address would hand it to
    the public."""

    def __init__(self, app: ASGIApp, image_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.public_policy = content_security_policy(staff=False, image_origins=image_origins)
        self.staff_policy = content_security_policy(staff=True, image_origins=image_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        staff = str(scope.get("path", "")).startswith(STAFF_PREFIXES)
        state = scope.setdefault("state", {})  # shared with the request's, which names the viewer

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                viewer = state.get("viewer")
                if isinstance(viewer, Viewer) and viewer.user is not None:
                    headers.setdefault("Cache-Control", "private, no-store")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                if headers.get("content-type", "").startswith("text/html"):
                    policy = self.staff_policy if staff else self.public_policy
                    headers["Content-Security-Policy"] = policy
                if staff:
                    headers["X-Frame-Options"] = "DENY"
            await send(message)

        await self.app(scope, receive, send_with_headers)
