"""Staff pages that publish a file: upload, preview what it would publish and change, then
publish it as a new version (or a new dataset)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from blotter.access import Viewer, audit, require_account, writable_dataset
from blotter.errors import InvalidRequest, PermissionDenied
from blotter.ingest.bounds import ReadLimits
from blotter.ingest.pipeline import load_file
from blotter.management import (
    Cancelled,
    named_as_sent,
    preview_file,
    profile_spec,
    publish_file,
    remove_stale_uploads,
    save_upload,
    staged_upload,
)
from blotter.model import Dataset, Role, Visibility
from blotter.privacy import count_words
from blotter.web.rendering import display, portal_of, render
from blotter.web.staff_forms import form_text, read_form, see_other, staff_viewer

router = APIRouter(include_in_schema=False)


@dataclass
class UploadPage:
    title: str
    dataset: Dataset | None
    profiles: list[str]


@dataclass
class PreviewPage:
    title: str
    dataset: Dataset | None
    token: str
    filename: str
    profile: str
    mode: str
    name: str
    columns: list[Any]
    rows: list[list[str]]
    row_count: int
    problems: list[dict[str, Any]]
    problem_total: int
    notes: list[str]
    complete: bool = True  # False: only the first row_count rows were checked
    changes: str = ""  # what publishing would change, in words
    privacy: list[str] = field(default_factory=list)  # what the privacy rules change
    confirm_removed: int | None = None  # a replace this large must be confirmed
    published: int = 0
    warnings: list[dict[str, Any]] = field(default_factory=list)  # published, worth a look


@router.get("/manage/upload")
def upload_form(request: Request, dataset: str = "") -> Response:
    viewer = staff_viewer(request)
    store = portal_of(request).store
    target = writable_dataset(store, viewer, dataset) if dataset else None
    if target is None:
        _require_publisher(viewer)
    profiles = [n for n, _, _ in store.list_profiles()]
    title = f"Publish to {target.meta.name}" if target else "New dataset from a file"
    return render(request, "upload.html", UploadPage(title, target, profiles))


def _require_publisher(viewer: Viewer) -> None:
    user = require_account(viewer)
    if user.role not in (Role.ADMIN, Role.PUBLISHER):
        raise PermissionDenied("Only publishers and administrators publish datasets.")


@router.post("/manage/upload")
async def upload(request: Request) -> Response:
    viewer = staff_viewer(request)
    portal = portal_of(request)
    form = await read_form(request)
    dataset_id = form_text(form, "dataset")
    target = writable_dataset(portal.store, viewer, dataset_id) if dataset_id else None
    if target is None:
        _require_publisher(viewer)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidRequest("Choose a CSV or XLSX file to upload.")
    profile = form_text(form, "profile")
    spec = profile_spec(portal.store, profile) if profile else None
    await anyio.to_thread.run_sync(remove_stale_uploads, portal)
    path = await save_upload(portal, _chunks(upload), upload.filename)
    mode = form_text(form, "mode") or ("upsert" if target and target.meta.row_identifier else "")
    if target is not None and mode not in ("upsert", "replace"):
        path.unlink(missing_ok=True)
        raise InvalidRequest("Choose what the file holds: new and changed rows, or every row.")
    limits = ReadLimits.from_settings(portal.settings)
    check_rows = portal.settings.preview_check_rows
    try:
        with named_as_sent(path):
            preview = await _while_connected(
                request,
                lambda cancelled: preview_file(
                    portal.store,
                    path,
                    target,
                    spec,
                    mode=mode or "replace",
                    check_rows=check_rows,
                    limits=limits,
                    cancelled=cancelled,
                ),
            )
    except Cancelled:
        path.unlink(missing_ok=True)
        return Response(status_code=499)  # nobody is there to read it
    except BaseException:
        path.unlink(missing_ok=True)  # a file that cannot be previewed cannot be published
        raise
    if preview.problem_total:
        path.unlink(missing_ok=True)  # the page offers no publish: nothing will ask for it
    columns = preview.prepared.columns
    report = preview.report
    page = PreviewPage(
        title=f"Preview: {upload.filename}",
        dataset=target,
        token=path.name,
        filename=upload.filename,
        profile=profile,
        mode=mode,
        name=form_text(form, "name"),
        columns=columns,
        rows=[_shown_row(columns, row) for row in preview.rows],
        row_count=preview.row_count,
        problems=preview.problems,
        problem_total=preview.problem_total,
        complete=preview.complete,
        notes=preview.prepared.notes,
        changes=report.words() if target is not None and preview.complete else "",
        privacy=count_words(report.privacy),
        confirm_removed=report.removed if report.needs_confirmation() else None,
        published=report.published,
        warnings=report.warnings,
    )
    return render(request, "preview.html", page, status=422 if preview.problem_total else 200)


_T = TypeVar("_T")


async def _while_connected(request: Request, work: Callable[[Callable[[], bool]], _T]) -> _T:
    """Run ``work(cancelled)`` on a thread while watching the client: once it has gone,
    ``cancelled()`` turns true (the work stops at its next check) and Cancelled is raised."""
    gone = threading.Event()

    async def watch() -> None:
        while not await request.is_disconnected():
            await anyio.sleep(0.2)
        gone.set()

    results: list[_T] = []
    failures: list[Exception] = []  # raised here, not from the group (which would wrap it)
    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            results.append(await anyio.to_thread.run_sync(lambda: work(gone.is_set)))
        except Exception as err:
            failures.append(err)
        group.cancel_scope.cancel()
    if failures:
        raise failures[0]
    if gone.is_set() or await request.is_disconnected():
        raise Cancelled
    return results[0]


async def _chunks(upload: UploadFile, size: int = 1 << 20) -> Any:
    while chunk := await upload.read(size):
        yield chunk


def _shown_row(columns: list[Any], physical: list[Any]) -> list[str]:
    """Physical values (points are two numbers) as the page shows each column."""
    out, i = [], 0
    for column in columns:
        if column.type == "point":
            lon, lat = physical[i], physical[i + 1]
            out.append(display(column.type, (lon, lat)) if lon is not None else "")
            i += 2
        else:
            out.append(display(column.type, physical[i]))
            i += 1
    return out


@router.post("/manage/publish")
async def publish(request: Request) -> Response:
    viewer = staff_viewer(request)
    portal = portal_of(request)
    form = await read_form(request)
    path = staged_upload(portal, form_text(form, "token"))
    profile = form_text(form, "profile")
    spec = profile_spec(portal.store, profile) if profile else None
    dataset_id = form_text(form, "dataset")
    limits = ReadLimits.from_settings(portal.settings)
    try:
        outcome: dict[str, Any] = {}
        with named_as_sent(path):
            if dataset_id:
                mode = form_text(form, "mode")
                confirm = form_text(form, "confirm")
                outcome = await anyio.to_thread.run_sync(
                    lambda: publish_file(
                        portal.store,
                        viewer,
                        dataset_id,
                        path,
                        spec=spec,
                        mode=mode,
                        limits=limits,
                        confirm=int(confirm) if confirm.isdigit() else None,
                        note=form_text(form, "note").strip()[:2000],
                    )
                )
                # The new version's first view is stored in the background (``first_view.
                # StoredAfterWrites``): the publisher's answer does not wait for drawings.
                portal.after_write(dataset_id)
            else:
                name = form_text(form, "name")
                dataset_id = await anyio.to_thread.run_sync(
                    lambda: _publish_new(portal.store, viewer, path, spec, name, limits)
                )
    finally:
        path.unlink(missing_ok=True)
    notice = "Published a new version." if form_text(form, "dataset") else "Dataset created."
    done = count_words(outcome.get("privacy", {}))
    if done:
        notice += " Privacy rules: " + "; ".join(done) + "."
    return see_other(f"/manage/d/{dataset_id}?" + urlencode({"notice": notice}))


def _publish_new(
    store: Any, viewer: Viewer, path: Any, spec: Any, name: str, limits: ReadLimits
) -> str:
    """A new dataset from a file: private, owned by the publisher, in their agency."""
    _require_publisher(viewer)
    user = require_account(viewer)
    # A profile maps columns; its own dataset id (if any) is not where this file goes.
    spec = spec.model_copy(update={"id": None}) if spec else None
    access = {"visibility": Visibility.PRIVATE, "owner": user.name}
    if user.role is Role.PUBLISHER:
        access["agency"] = user.agency
    result = load_file(
        store, path, spec=spec, name=name or None, meta_updates=access, limits=limits
    )
    dataset = store.get_dataset(result.dataset_id)
    audit(
        store,
        viewer,
        "dataset.create",
        dataset.id,
        file=path.name.split("-", 1)[-1],
        rows=result.row_count,
    )
    return str(dataset.id)


# --- API tokens ----------------------------------------------------------------------
