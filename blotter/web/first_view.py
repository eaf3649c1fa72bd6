"""A version's costliest answers for its unfiltered dataset page, computed once when it is
published and stored in the catalog (``queries.store_answers``): the summary's counts,
period and located units with the version's sample of values, the summary's shares and the
filter form's values and counts, the map's cells, and the drawings of the key chart and the
map (``kept_drawings.py``). A server's first view of the version
reads them (``queries.answers``) instead of every row; a filtered view, another reader's
columns or another version ask their own questions, which nothing stored answers.

Computed as the public sees the dataset: only its visible columns are compiled, so nothing
stored names an internal column, and a dataset the public may not see stores nothing."""

from __future__ import annotations

import logging
import threading
import time

from blotter.access import ANONYMOUS, visible_dataset
from blotter.analysis.summary import dataset_facts
from blotter.errors import BlotterError
from blotter.portal import Portal
from blotter.queries import answers, store_answers
from blotter.web.asked_ahead import ask_page_ahead
from blotter.web.dataset_view import read_view
from blotter.web.kept_drawings import put_version_drawings, recording
from blotter.web.maps import boundary_areas, build_map
from blotter.web.patterns import build_patterns


def store_first_view(portal: Portal, dataset_id: str) -> int:
    """Compute and store the public's unfiltered page's answers of the dataset's newest
    version; how many were stored (0: the public may not see it, nothing is published,
    answers are not kept or not stored)."""
    store, settings = portal.store, portal.settings
    if not settings.stored_answers:
        return 0
    try:
        dataset = visible_dataset(store, ANONYMOUS, dataset_id)
    except BlotterError:
        return 0  # not the public's to see
    if not dataset.version or answers(store, settings, dataset).entries <= 0:
        return 0
    view = read_view(dataset, {}, boundary_areas(portal, dataset))
    if view.problems:
        return 0
    ask_page_ahead(portal, dataset, view)
    with recording() as made:
        facts = dataset_facts(store, dataset, settings, view.where, view.unit)
        # The key chart (wide and for a phone) and the map, drawn as the page draws them.
        first = facts.shares[0].column if facts.shares else None
        patterns, _ = build_patterns(portal, dataset, view.params, view.where, first, view.unit)
        if patterns.charts:
            patterns.charts[0].drawing.wide()
            patterns.charts[0].drawing.phone()
        shown = build_map(portal, dataset, view.where, facts.all_rows, None, "", view.unit)
        if shown is not None:
            shown.svg.__html__()
    put_version_drawings(answers(store, settings, dataset), dataset, made)
    return store_answers(store, settings, dataset)


# Writes through the API come in bursts (a client upserting rows in batches): the first view
# is stored once they pause this long, not once per version.
QUIET_S = 2.0
log = logging.getLogger(__name__)


class StoredAfterWrites:
    """The public's first view of a dataset stored again after a write the server took (an
    API upsert, replace, delete or upload; a metadata edit), in the background once the
    dataset's writes pause for ``quiet_s``: the writer's answer never waits for it, a
    burst of writes stores it once, and until it is stored the page is computed from the
    rows as before. ``app.py`` hands it to the portal as ``after_write``."""

    def __init__(self, portal: Portal, quiet_s: float = QUIET_S) -> None:
        self._portal, self._quiet_s = portal, quiet_s
        self._due: dict[str, float] = {}  # dataset id -> when its writes will have paused
        self._changed = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closed = False

    def __call__(self, dataset_id: str) -> None:
        with self._changed:
            if self._closed:
                return
            self._due[dataset_id] = time.monotonic() + self._quiet_s
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._store_when_due, name="blotter-first-views", daemon=True
                )
                self._worker.start()
            self._changed.notify()

    def start(self) -> None:
        """Store again after writes (a server starting: its store is open)."""
        with self._changed:
            self._closed = False

    def close(self, wait_s: float = 30.0) -> None:
        """Store nothing more until :meth:`start` (the server is stopping, its store about
        to close): what is due is dropped, a store under way waited for up to ``wait_s``."""
        with self._changed:
            self._closed = True
            self._due.clear()
            worker = self._worker
            self._changed.notify()
        if worker is not None:
            worker.join(wait_s)

    def _store_when_due(self) -> None:
        while True:
            with self._changed:
                if not self._due:
                    self._worker = None
                    return  # started again by the next write
                dataset_id, due = min(self._due.items(), key=lambda item: item[1])
                wait = due - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue  # a later write may have moved it
                del self._due[dataset_id]
            try:
                store_first_view(self._portal, dataset_id)
            except BlotterError:
                pass  # deleted, hidden meanwhile: nothing to store
            except Exception:  # the page computes it from the rows: said, not fatal
                log.exception("storing the first view of %s failed", dataset_id)
