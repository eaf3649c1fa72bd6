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
