"""A dataset's history as both edges tell it: who published each version (when the dataset
names its publishers) and each version's checksum.

The facts themselves (counts, notes, agencies, diffs) are the store's; this module adds
what needs more than one of them."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from blotter.errors import VersionGone
from blotter.exports.files import public_checksum
from blotter.model import Dataset, Version
from blotter.portal import Portal
from blotter.store.base import Store
from blotter.store.common import now

# Audit actions of a write that makes a version, each with ``version`` in its detail.
_WRITES = {"rows.upsert", "rows.replace", "rows.delete", "dataset.publish"}
Key = TypeVar("Key")
Value = TypeVar("Value")


def version_publishers(store: Store, dataset: Dataset) -> dict[int, str]:
    """The account that published each version, from the audit log, when the dataset's
    metadata says to name publishers (``name_publishers``); otherwise nothing, and the
    history names only the agency."""
    if not dataset.meta.name_publishers:
        return {}
    names: dict[int, str] = {}
    for entry in store.audit_log(limit=100_000, dataset_id=dataset.id):
        number = entry.detail.get("version")
        if entry.action in _WRITES and isinstance(number, int) and entry.actor:
            names.setdefault(number, entry.actor)  # newest first: the last write wins
    return names


def checksum(portal: Portal, dataset: Dataset) -> str:
    """The SHA-256 of ``dataset``'s version as anonymous downloads it (``rows.csv``), kept
    beside the version's export file (written for it if need be), and recorded in the
    catalog the first time it is given: a column hidden later changes the bytes, and
    whoever noted the checksum before can still find it (:func:`earlier_checksums`)."""
    sha = public_checksum(portal.store, portal.settings, dataset)
    key = (dataset.id, dataset.created_at.isoformat(), dataset.version, sha)
    given = _known(portal.store).given
    if key not in given:
        portal.store.keep_checksum(dataset.id, dataset.created_at, dataset.version, sha, now())
        _keep(given, key, True)
    return sha


def earlier_checksums(portal: Portal, dataset: Dataset, current: str) -> list[tuple[str, datetime]]:
    """The checksums given for ``dataset``'s version other than ``current`` (before staff hid
    a column from the public), each with when it was first given, oldest first."""
    given = portal.store.checksums_given(dataset.id, dataset.created_at, dataset.version)
    return [(sha, at) for sha, at in given if sha != current]


@dataclass
class _Known:
    """What this process has learnt of one store's history (two portals in one process,
    tests and the benchmark, may hold the same dataset, creation time and version)."""

    # Public counts by (dataset, version, its publication time, fields): a version never
    # changes, and its time tells a dataset re-created under the same id apart.
    counts: dict[tuple[str, int, str, tuple[str, ...]], tuple[int, int | None, int]] = field(
        default_factory=dict
    )
    # The internal fields of a version by (dataset, its creation, version, the dataset's last
    # change): today's dictionary decides them, and a publish or an edit of it changes that.
    hidden: dict[tuple[str, str, int, str], frozenset[str]] = field(default_factory=dict)
    # The checksums recorded in the store (dataset, its creation, version, SHA-256).
    given: dict[tuple[str, str, int, str], bool] = field(default_factory=dict)


_KNOWN: weakref.WeakKeyDictionary[Store, _Known] = weakref.WeakKeyDictionary()
_KNOWN_LOCK = threading.Lock()
# Each holds one entry per version and dictionary edit a server has been asked about; past
# this many the oldest go (asked again, they are computed again), so a server running for
# years of publishing does not grow without end.
_KEPT = 4096


def _known(store: Store) -> _Known:
    with _KNOWN_LOCK:
        known = _KNOWN.get(store)
        if known is None:
            known = _KNOWN[store] = _Known()
        return known


def _keep(memo: dict[Key, Value], key: Key, value: Value) -> Value:
    if len(memo) >= _KEPT:
        memo.pop(next(iter(memo)))  # the oldest
    memo[key] = value
    return value


def public_counts(
    store: Store, seen: Dataset, version: Version, *, reads_internal: bool
) -> tuple[int, int | None, int]:
    """A version's rows (added, changed, removed) as ``seen``'s reader may know them
    (``reads_internal``: whether they see internal fields, ``access.sees_internal``). The
    store counts a row as changed when any field changed, internal ones too; any other
    reader gets the count over the fields they see (the diff's count) when the version or
    the one before holds an internal field (today's, or one since dropped: no column
    internal now is not enough), kept once computed (versions never change). ``changed``
    is None when the version before was pruned and the count cannot be made again."""
    stored = (version.rows_added, version.rows_changed, version.rows_removed)
    if version.number <= 1 or reads_internal:
        return stored
    whole = store.get_dataset(seen.id)
    if not any(c.internal for c in whole.columns) and not (
        _hidden(store, whole, version.number) or _hidden(store, whole, version.number - 1)
    ):
        return stored
    try:
        at = store.dataset_at(seen.id, version.number)
        shown = at.model_copy(update={"columns": [c for c in at.columns if not c.internal]})
        fields = tuple(c.field_name for c in shown.columns)
        key = (seen.id, version.number, version.created_at.isoformat(), fields)
        known = _known(store).counts
        if (counts := known.get(key)) is None:
            found = store.version_diff(shown, version.number - 1, version.number, limit=1, offset=0)
            counts = _keep(known, key, (found.added, found.changed, found.removed))
    except VersionGone:
        return version.rows_added, None, version.rows_removed
    return counts


def _hidden(store: Store, whole: Dataset, number: int) -> frozenset[str]:
    """The fields of version ``number`` that are internal as it is served today (none
    known of a pruned version)."""
    key = (whole.id, whole.created_at.isoformat(), number, whole.updated_at.isoformat())
    known = _known(store).hidden
    if (hidden := known.get(key)) is None:
        try:
            at = store.dataset_at(whole.id, number)
        except VersionGone:
            return frozenset()
        hidden = _keep(known, key, frozenset(c.field_name for c in at.columns if c.internal))
    return hidden
