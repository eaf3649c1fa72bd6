"""Atom feeds (RFC 4287) of what changes in the portal's data: one per dataset
(``/datasets/{id}/history.atom``: each version) and one for the whole portal
(``/history.atom``: new datasets, new versions, changed data dictionaries).

Feeds are for anyone, so they are written for the public whoever asks: only public
datasets, counts over the public's columns. Addresses are absolute, from the portal's
configured address (``rendering.absolute_url``), never from the request's Host."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import Response

from blotter.access import ANONYMOUS, can_see, visible_dataset
from blotter.model import Dataset, Version
from blotter.portal import Portal
from blotter.store.common import now
from blotter.web.history_pages import version_lines
from blotter.web.rendering import absolute_url, portal_of

router = APIRouter(include_in_schema=False)
ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 100
# Dictionary edits the portal feed reads back: asked of those entries alone, so staff reads
# and sign-ins, which fill the audit log far faster, never push an edit out.
DICTIONARY_ENTRIES_READ = 10_000
_MEDIA = "application/atom+xml; charset=utf-8"
# Characters XML 1.0 cannot hold at all, escaped or not (a description pasted with a
# control character would otherwise make the whole feed unreadable).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class Entry:
    id: str  # an absolute address: the version page, or the dataset's for other news
    title: str
    updated: datetime
    link: str  # absolute
    summary: str


def _stamp(value: datetime) -> str:
    """RFC 3339 in UTC; stored times are UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _quoted(names: list[str]) -> str:
    """'A', 'B' and 'C'."""
    quoted = [f"‘{n}’" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _feed(
    request: Request,
    title: str,
    self_path: str,
    alternate_path: str,
    author: str,
    entries: list[Entry],
) -> Response:
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")

    def child(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        element.text = None if text is None else _NOT_XML.sub(" ", text)
        return element

    entries = sorted(entries, key=lambda e: e.updated, reverse=True)[:MAX_ENTRIES]
    child(root, "id", absolute_url(request, self_path))
    child(root, "title", title)
    child(root, "updated", _stamp(entries[0].updated if entries else now()))
    child(child(root, "author"), "name", author)
    me, html = absolute_url(request, self_path), absolute_url(request, alternate_path)
    child(root, "link", rel="self", type="application/atom+xml", href=me)
    child(root, "link", rel="alternate", type="text/html", href=html)
    for e in entries:
        entry = child(root, "entry")
        child(entry, "id", e.id)
        child(entry, "title", e.title)
        child(entry, "updated", _stamp(e.updated))
        child(entry, "link", rel="alternate", type="text/html", href=e.link)
        child(entry, "summary", e.summary)
    body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")
    return Response(body, media_type=_MEDIA)


def version_entries(request: Request, portal: Portal, dataset: Dataset) -> list[Entry]:
    """One entry per version of a dataset (as the public sees it), with its counts and a
    link to what changed."""
    versions: list[Version] = portal.store.versions(dataset.id)
    lines = version_lines(portal, dataset, versions)
    entries = []
    for version, line in zip(versions, lines, strict=True):
        page = absolute_url(request, line.url)
        summary = line.sentence + (f" Publisher’s note: {line.note}" if line.note else "")
        if line.changes_url:
            summary += f" What changed: {absolute_url(request, line.changes_url)}"
        entries.append(
            Entry(
                id=page,
                title=f"{dataset.meta.name}: version {version.number}",
                updated=version.created_at,
                link=absolute_url(request, line.changes_url or line.url),
                summary=summary,
            )
        )
    return entries


@router.get("/datasets/{dataset_id}/history.atom")
def dataset_feed(request: Request, dataset_id: str) -> Response:
    """Each version of a public dataset, newest first."""
    portal = portal_of(request)
    dataset = visible_dataset(portal.store, ANONYMOUS, dataset_id)
    return _feed(
        request,
        f"Changes to {dataset.meta.name}",
        f"/datasets/{dataset.id}/history.atom",
        f"/datasets/{dataset.id}/versions",
        dataset.meta.agency or portal.settings.site_name,
        version_entries(request, portal, dataset),
    )


@router.get("/history.atom")
def portal_feed(request: Request) -> Response:
    """New public datasets, their new versions and changes to their data dictionaries."""
    portal = portal_of(request)
    public = {
        d.id: visible_dataset(portal.store, ANONYMOUS, d.id)
        for d in portal.store.list_datasets()
        if can_see(ANONYMOUS, d)
    }
    entries: list[Entry] = []
    for dataset in public.values():
        page = absolute_url(request, f"/datasets/{dataset.id}")
        entries.append(
            Entry(
                id=page,
                title=f"New dataset: {dataset.meta.name}",
                updated=dataset.created_at,
                link=page,
                summary=f"{dataset.meta.agency or portal.settings.site_name} opened "
                f"“{dataset.meta.name}”. {dataset.meta.description}".strip(),
            )
        )
        entries += version_entries(request, portal, dataset)
    # A dictionary change is known from its audit entry: when, to which dataset and, since
    # entries name them, which of its public columns. An edit of internal columns alone is
    # not the public's news: the feed would tell that staff corrected something hidden.
    for audit in portal.store.audit_log(limit=DICTIONARY_ENTRIES_READ, action="dataset.dictionary"):
        changed = public.get(audit.dataset_id)
        if changed is None:
            continue
        named = audit.detail.get("public")  # absent from entries written before it was kept
        if named == []:
            continue
        page = absolute_url(request, f"/datasets/{changed.id}")
        what = (
            f"The column{'s' if len(named) > 1 else ''} {_quoted(named)} of “{changed.meta.name}” "
            if named
            else f"The descriptions or columns of “{changed.meta.name}” "
        )
        entries.append(
            Entry(
                id=f"{page}#dictionary-{_stamp(audit.at)}",
                title=f"{changed.meta.name}: data dictionary changed",
                updated=audit.at,
                link=page + "#dictionary-heading",
                summary=what + "changed; its data dictionary is on the dataset's page.",
            )
        )
    return _feed(
        request,
        f"Changes to the data of {portal.settings.site_name}",
        "/history.atom",
        "/",
        portal.settings.site_name,
        entries,
    )
