"""One error family for the whole portal.

Every error carries a stable ``code`` slug (Socrata's where one exists), a message a
person can act on, an HTTP status and a ``data`` dict saying where the problem is.
The edges (API, web, CLI) turn these into responses in exactly one place each.
"""

from __future__ import annotations

from typing import Any, ClassVar


class BlotterError(Exception):
    """Root of every error the portal reports to a user."""

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data: dict[str, Any] = {k: v for k, v in data.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        """The SODA error body: ``{"code", "error", "message", "data"}``."""
        return {"code": self.code, "error": True, "message": self.message, "data": self.data}

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers every answer carrying this error gets, page or JSON: ``Retry-After``
        when the error says how long to wait."""
        retry = self.data.get("retry_after_s")
        return {"Retry-After": str(retry)} if isinstance(retry, int) else {}


class NotFound(BlotterError):
    code = "not_found"
    status = 404


class DatasetNotFound(NotFound):
    def __init__(self, dataset_id: str) -> None:
        super().__init__(f"Dataset '{dataset_id}' does not exist.", dataset_id=dataset_id)


class VersionNotFound(NotFound):
    """A version number a dataset never had."""

    code = "version.not-found"

    def __init__(self, dataset_id: str, number: int, newest: int) -> None:
        super().__init__(
            f"Dataset '{dataset_id}' has no version {number}: its versions are numbered 1 to "
            f"{newest}."
            if newest
            else f"Dataset '{dataset_id}' has no version {number}: nothing has been published yet.",
            dataset_id=dataset_id,
            version=number,
            newest=newest,
        )


class VersionGone(BlotterError):
    """A version the retention setting removed, or one withdrawn (``reason``: published
    before the dataset's privacy rules were tightened): it was published, but its rows are
    gone."""

    code = "version.gone"
    status = 410

    def __init__(self, dataset_id: str, number: int, kept: str, reason: str = "") -> None:
        why = (
            f"was withdrawn ({reason}); the portal keeps {kept}"
            if reason
            else f"was removed by the portal's retention setting, which keeps {kept}"
        )
        super().__init__(
            f"Version {number} of dataset '{dataset_id}' {why}; read a kept version or the "
            "newest instead.",
            dataset_id=dataset_id,
            version=number,
            kept=kept,
            **({"reason": reason} if reason else {}),
        )


class InvalidRequest(BlotterError):
    """A request the client can fix: bad parameter, bad metadata, bad id."""

    code = "invalid_request"
    status = 400


class AuthenticationRequired(BlotterError):
    code = "authentication_required"
    status = 401


class PermissionDenied(BlotterError):
    code = "permission_denied"
    status = 403


class Conflict(BlotterError):
    code = "conflict"
    status = 409


class ConfirmationNeeded(BlotterError):
    """A replace that would remove more than a fifth of the published rows, unconfirmed."""

    code = "publish.confirm-removal"
    status = 409


class PayloadTooLarge(BlotterError):
    code = "request.too-large"
    status = 413


class UriTooLong(BlotterError):
    code = "request.uri-too-long"
    status = 414


class TooManyRequests(BlotterError):
    """Past the caller's request budget (``api.throttle``)."""

    code = "too_many_requests"
    status = 429


class AccountLocked(BlotterError):
    """Too many wrong passwords in a row for one account name (``auth.sign_in``)."""

    code = "auth.locked"
    status = 429


class TooManyFailures(BlotterError):
    """An address sent too many wrong passwords: refused before any hash is computed
    (``credentials.CredentialGuard``)."""

    code = "auth.too-many-failures"
    status = 429


class UnsupportedMediaType(BlotterError):
    code = "request.unsupported-media-type"
    status = 415


class MapLayerInvalid(BlotterError):
    """A map layer named in the settings is missing or not usable GeoJSON: the portal's
    configuration, reported when it starts (and as a 503 if the file breaks later)."""

    code = "map.layer-invalid"
    status = 503


class StoreBusy(BlotterError):
    """The embedded database file is held by another process."""

    code = "store.locked"
    status = 503


class StoreUnavailable(BlotterError):
    """The database server cannot be reached."""

    code = "store.unavailable"
    status = 503


class StoreSaturated(BlotterError):
    """The database answers, but every connection this server process may open has been
    answering other requests for as long as a request waits for one."""

    code = "store.busy"
    status = 503


class StoreShortOfResources(BlotterError):
    """The database server answers, but ran short of memory, disk or another of its limits
    for this request (PostgreSQL's SQLSTATE class 53)."""

    code = "store.short-of-resources"
    status = 503


class StoreConflict(BlotterError):
    """Another transaction held what this one needed (a deadlock, a serialization failure,
    a lock not granted in time): it was rolled back whole, and asking again can succeed."""

    code = "store.conflict"
    status = 503


class StoreOutOfMemory(BlotterError):
    """The embedded database needed more memory than it may use: for a write (nothing of it
    was kept), or for a read (with the other questions it was answering at that moment)."""

    code = "store.out-of-memory"
    status = 503

    def __init__(self, limit: str, *, reading: bool = False) -> None:
        if reading:
            message = (
                f"The embedded database needed more than the {limit} of memory it may use "
                "(BLOTTER_DUCKDB_MEMORY_MB) to answer this question beside the others it was "
                "answering. Ask again in a moment; if it keeps failing, ask for fewer rows or "
                "columns, or the portal's operator to raise BLOTTER_DUCKDB_MEMORY_MB."
            )
        else:
            message = (
                f"The embedded database needed more than the {limit} of memory it may use "
                "(BLOTTER_DUCKDB_MEMORY_MB), so nothing was published and what was published "
                "before is unchanged. Raise BLOTTER_DUCKDB_MEMORY_MB, or serve from PostgreSQL."
            )
        super().__init__(message, limit=limit, retry_after_s=5 if reading else None)


class SchemaMismatch(BlotterError):
    """The database's schema is not the one this server's code expects (mid-upgrade)."""

    code = "store.schema-mismatch"
    status = 503


class DrawingTimedOut(BlotterError):
    """A chart's drawing ran past its time limit (``web/drawing_process.LIMIT_S``) and was
    stopped with its process."""

    code = "chart.drawing-timeout"
    status = 503

    def __init__(self, limit_s: float) -> None:
        super().__init__(
            f"The chart took longer than {limit_s:g} seconds to draw and was stopped. "
            "Ask again in a moment; its figures are in the data table beside it.",
            limit_s=limit_s,
            retry_after_s=5,
        )


class QueryTimeout(BlotterError):
    code = "query.execution.timeout"
    status = 408


# --- SoQL ---------------------------------------------------------------------------


class SoQLError(BlotterError):
    """A query the client sent that cannot be run; says which clause and where."""

    code = "query.compiler.malformed"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        clause: str | None = None,
        query: str | None = None,
        line: int | None = None,
        column: int | None = None,
        **data: Any,
    ) -> None:
        position = {"line": line, "column": column} if line is not None else None
        super().__init__(message, clause=clause, query=query, position=position, **data)
        self.clause = clause
        self.line = line
        self.column = column


class NoSuchColumn(SoQLError):
    code = "query.soql.no-such-column"


class NoSuchFunction(SoQLError):
    code = "query.soql.no-such-function"


class TypeMismatch(SoQLError):
    code = "query.soql.type-mismatch"


class QueryTooLarge(SoQLError):
    """A query past one of the caps on the work a request may ask for (docs/api.md)."""

    code = "query.soql.too-large"


class QueryValueError(SoQLError):
    """A query the engine could not run on this data: a number out of range, a value that
    does not convert. Said in our words: engine text never reaches the client."""

    code = "query.execution.invalid-value"


# --- Ingest -------------------------------------------------------------------------


class IngestError(BlotterError):
    """A file or dataset definition that cannot be loaded at all."""

    code = "ingest.invalid"
    status = 422


class FileTooLarge(IngestError):
    """A file past a configured bound (rows, unpacked size): refused before it is read on."""

    code = "ingest.too-large"
    status = 413


class ValidationFailed(IngestError):
    """Rows failed validation; nothing was published. ``problems`` lists every one."""

    code = "ingest.validation-failed"

    def __init__(self, message: str, problems: list[dict[str, Any]], total: int) -> None:
        super().__init__(message, problems=problems, total_problems=total)
        self.problems = problems
        self.total = total


def all_error_classes() -> list[type[BlotterError]]:
    """Every error class, for the test that pins their shape and the docs that list codes."""
    seen: list[type[BlotterError]] = []
    stack: list[type[BlotterError]] = [BlotterError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
