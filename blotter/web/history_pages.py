"""A dataset's history in words: every version (``/datasets/{id}/versions``), one version
(``/datasets/{id}/versions/{N}``) and what changed in it (``…/changes?from=M``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from blotter.access import Viewer, sees_internal, visible_dataset, visible_version
from blotter.auth import viewer_of
from blotter.errors import InvalidRequest, VersionNotFound
from blotter.history import checksum, earlier_checksums, public_counts, version_publishers
from blotter.model import Column, Dataset, DiffRow, Version, check_version_number
from blotter.portal import Portal
from blotter.queries import run_query
from blotter.store.common import now
from blotter.web.rendering import absolute_url, display, portal_of, render

router = APIRouter(include_in_schema=False)
CHANGES_PAGE = 50
RECENT = 5  # versions the dataset page tells of


def when(value: datetime) -> str:
    """A stored (UTC) time in words: "30 November 2026, 19:27 UTC"."""
    return value.strftime("%-d %B %Y, %H:%M UTC")


def _rows(n: int, noun: str = "row") -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def counts_words(added: int, changed: int | None, removed: int) -> str:
    """ "1 row added, 2 changed, none removed"."""
    changed_words = "an unknown number changed" if changed is None else f"{changed:,} changed"
    return f"{_rows(added)} added, {changed_words}, {removed:,} removed"


@dataclass
class VersionLine:
    number: int
    url: str  # the version's page
    sentence: str  # when, by whom, what changed, in words
    note: str
    pruned: bool
    changes_url: str | None


def version_lines(
    portal: Portal, dataset: Dataset, versions: list[Version], *, reads_internal: bool = False
) -> list[VersionLine]:
    """Each version in words, newest first; counted as the public may know them unless the
    reader sees internal fields (``reads_internal``)."""
    publishers = version_publishers(portal.store, dataset)
    pruned = {v.number for v in portal.store.versions(dataset.id) if v.pruned}
    lines = []
    for v in versions:
        added, changed, removed = public_counts(
            portal.store, dataset, v, reads_internal=reads_internal
        )
        by = v.agency or "the publisher"
        if v.number in publishers:
            by += f" ({publishers[v.number]})"
        what = (
            f"the first version, {_rows(v.row_count)}"
            if v.number == 1
            else f"{counts_words(added, changed, removed)}; {_rows(v.row_count)} in all"
        )
        gone = ""
        if v.pruned:
            gone = (
                f" Its rows were withdrawn: {v.pruned_reason}."
                if v.pruned_reason
                else " Its rows were removed by the portal's retention setting."
            )
        lines.append(
            VersionLine(
                number=v.number,
                url=f"/datasets/{dataset.id}/versions/{v.number}",
                sentence=f"Version {v.number}, published {when(v.created_at)} by {by}: {what}."
                + gone,
                note=v.note,
                pruned=v.pruned,
                changes_url=f"/datasets/{dataset.id}/versions/{v.number}/changes"
                if v.number > 1 and not {v.number, v.number - 1} & pruned
                else None,
            )
        )
    return lines


def citation(dataset: Dataset, request: Request, sha: str, accessed: datetime) -> str:
    """How to cite one version: a link that keeps showing it, the access date, the
    checksum of its rows."""
    meta = dataset.meta
    link = absolute_url(request, f"/datasets/{dataset.id}?version={dataset.version}")
    parts = [
        meta.agency,
        f"“{meta.name}”, dataset {dataset.id}, version {dataset.version}",
        link,
        f"accessed {accessed.strftime('%-d %B %Y')}",
        f"SHA-256 of its CSV: {sha}",
    ]
    return ". ".join(p for p in parts if p) + "."


class Head(TypedDict):
    """What every page of a dataset's history names: itself, the dataset and its feed."""

    title: str
    dataset_id: str
    dataset_name: str
    feed_url: str


def _head(dataset: Dataset, title: str) -> Head:
    return Head(
        title=title,
        dataset_id=dataset.id,
        dataset_name=dataset.meta.name,
        feed_url=f"/datasets/{dataset.id}/history.atom",
    )


@dataclass
class _HistoryHead:
    """The fields of ``Head``, as the history pages' contexts begin."""

    title: str
    dataset_id: str
    dataset_name: str
    feed_url: str


@dataclass
class HistoryPage(_HistoryHead):
    versions: list[VersionLine]


@router.get("/datasets/{dataset_id}/versions", response_class=HTMLResponse)
def history_page(request: Request, dataset_id: str) -> HTMLResponse:
    """Every version of a dataset, newest first, in words."""
    portal = portal_of(request)
    viewer = viewer_of(request, portal.store)
    dataset = visible_dataset(portal.store, viewer, dataset_id)
    versions = portal.store.versions(dataset.id)
    page = HistoryPage(
        **_head(dataset, f"History of {dataset.meta.name}"),
        versions=version_lines(
            portal, dataset, versions, reads_internal=sees_internal(viewer, dataset)
        ),
    )
    return render(request, "history.html", page)


@dataclass
class VersionPage(_HistoryHead):
    line: VersionLine
    newest: int
    read_url: str  # the dataset page at this version
    csv_url: str
    checksum: str
    earlier_checksums: list[tuple[str, str]]  # (SHA-256, the date it was first given)
    citation: str


def _version_of(versions: list[Version], dataset_id: str, number: int, newest: int) -> Version:
    for v in versions:
        if v.number == number:
            return v
    raise VersionNotFound(dataset_id, number, newest)


@router.get("/datasets/{dataset_id}/versions/{number}", response_class=HTMLResponse)
def version_page(request: Request, dataset_id: str, number: str) -> HTMLResponse:
    """One version: when, by whom, what changed, its checksum and how to cite it."""
    portal = portal_of(request)
    wanted = check_version_number(number, "version")
    viewer = viewer_of(request, portal.store)
    dataset, newest = visible_version(portal.store, viewer, dataset_id, wanted)
    version = _version_of(portal.store.versions(dataset.id), dataset.id, wanted, newest)
    line = version_lines(portal, dataset, [version], reads_internal=sees_internal(viewer, dataset))[
        0
    ]
    sha = checksum(portal, dataset)
    page = VersionPage(
        **_head(dataset, f"{dataset.meta.name}, version {wanted}"),
        line=line,
        newest=newest,
        read_url=f"/datasets/{dataset.id}?version={wanted}",
        csv_url=f"/api/views/{dataset.id}/rows.csv?$$version={wanted}",
        checksum=sha,
        earlier_checksums=[
            (earlier, when(at)) for earlier, at in earlier_checksums(portal, dataset, sha)
        ],
        citation=citation(dataset, request, sha, now()),
    )
    return render(request, "version.html", page)


@dataclass
class ChangesPage(_HistoryHead):
    number: int
    start: int
    headline: str
    added: list[str]
    changed: list[str]
    removed: list[str]
    pager: str
    prev_url: str | None
    next_url: str | None
    api_url: str


@router.get("/datasets/{dataset_id}/versions/{number}/changes", response_class=HTMLResponse)
def changes_page(request: Request, dataset_id: str, number: str) -> HTMLResponse:
    """What changed from version ``from`` (the one before by default) to version N, in
    words, a page of rows at a time."""
    portal = portal_of(request)
    params = request.query_params
    to = check_version_number(number, "version")
    start = check_version_number(params["from"], "from") if params.get("from") else to - 1
    if start < 1:
        raise InvalidRequest(
            f"Version {to} is the dataset's first: there is no version before it to compare with.",
            parameter="from",
        )
    page_text = params.get("page", "1")
    if not (page_text.isascii() and page_text.isdigit() and 1 <= int(page_text) <= 10**9):
        raise InvalidRequest("The page number must be a whole number from 1.", parameter="page")
    page_number = int(page_text)
    viewer = viewer_of(request, portal.store)
    dataset, _ = visible_version(portal.store, viewer, dataset_id, to)
    found = portal.store.version_diff(
        dataset, start, to, limit=CHANGES_PAGE, offset=(page_number - 1) * CHANGES_PAGE
    )
    labels = _row_labels(portal, viewer, dataset, start, found.rows)
    columns = {c.field_name: c for c in dataset.columns}
    total = found.added + found.changed + found.removed
    pages = max(1, math.ceil(total / CHANGES_PAGE))
    base = f"/datasets/{dataset.id}/versions/{to}/changes"
    keep = {"from": str(start)} if params.get("from") else {}

    def link(n: int) -> str:
        return base + "?" + urlencode({**keep, "page": str(n)})

    headline = (
        f"From version {start} to version {to}: {found.added:,} added, "
        f"{found.changed:,} corrected, {found.removed:,} removed."
    )
    page = ChangesPage(
        **_head(dataset, f"{dataset.meta.name}: changes in version {to}"),
        number=to,
        start=start,
        headline=headline,
        added=[
            _values_words(labels[r.row_id], r, columns) for r in found.rows if r.kind == "added"
        ],
        changed=[
            _change_words(labels[r.row_id], r, columns) for r in found.rows if r.kind == "changed"
        ],
        removed=[
            _values_words(labels[r.row_id], r, columns) for r in found.rows if r.kind == "removed"
        ],
        pager=f"Page {min(page_number, pages):,} of {pages:,}",
        prev_url=link(page_number - 1) if page_number > 1 else None,
        next_url=link(page_number + 1) if page_number < pages else None,
        api_url=f"/api/views/{dataset.id}/versions/{to}/diff.json"
        + ("?" + urlencode({"from": str(start)}) if keep else ""),
    )
    return render(request, "changes.html", page)


def _row_labels(
    portal: Portal, viewer: Viewer, dataset: Dataset, start: int, rows: list[DiffRow]
) -> dict[int, str]:
    """What names each row: "row 1841" by the row identifier's value when the dataset has
    one (read from the version that has the row), else by its ``:id``."""
    labels = {r.row_id: f"row {r.row_id}" for r in rows}
    key = dataset.meta.row_identifier
    if key is None or dataset.column(key) is None:
        return labels
    missing = []
    for r in rows:
        if r.values.get(key) is not None:
            labels[r.row_id] = f"row {r.values[key]}"
        elif r.kind == "changed":
            missing.append(r.row_id)
    if missing:
        ids = ", ".join(f"'row-{i}'" for i in missing)
        found = run_query(
            portal.store,
            dataset,
            {"$select": f":id, `{key}`", "$where": f":id in ({ids})", "$limit": str(len(missing))},
            portal.settings,
        )
        for row_id, value in found.rows:
            if value is not None:
                labels[int(row_id)] = f"row {value}"
    return labels


def _shown(column: Column | None, value: Any) -> str:
    if value is None:
        return "empty"
    text = display(column.type if column else None, value)
    if column is not None and column.labels and isinstance(value, str):
        text = column.label(value)
    return f"‘{text}’"


def _name(columns: dict[str, Column], field: str) -> str:
    column = columns.get(field)
    return column.name if column else field


def _change_words(label: str, row: DiffRow, columns: dict[str, Column]) -> str:
    """ "row 1841: Subject race changed from ‘unknown’ to ‘black’"."""
    parts = [
        f"{_name(columns, c.field_name)} changed from {_shown(columns.get(c.field_name), c.before)}"
        f" to {_shown(columns.get(c.field_name), c.after)}"
        for c in row.changes
    ]
    return f"{label}: " + "; ".join(parts)


def _values_words(label: str, row: DiffRow, columns: dict[str, Column]) -> str:
    """ "row 1842: Offense ‘theft’, Date ‘2024-01-02’"."""
    parts = [
        f"{_name(columns, field)} {_shown(columns.get(field), value)}"
        for field, value in row.values.items()
        if value is not None
    ]
    return f"{label}: " + ", ".join(parts)
