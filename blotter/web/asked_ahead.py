"""What the dataset page asks before its parts do: the summary's query with the version's
sample of values (``queries.ask_beside_values_at_least``), then the summary's shares and the
filter form's values in one ``UNION ALL`` (``queries.ask_ahead``). Each answer is kept as the
question's own, so each part then reads it instead of running a query of its own: a view
costs fewer engine queries, and the page is the same bytes."""

from __future__ import annotations

from blotter.analysis.summary import ask_facts_ahead, share_questions
from blotter.errors import SoQLError
from blotter.model import Dataset
from blotter.portal import Portal
from blotter.queries import ask_ahead
from blotter.web.dataset_view import DatasetView
from blotter.web.filter_form import choice_questions


def ask_page_ahead(portal: Portal, dataset: Dataset, view: DatasetView) -> None:
    """Ask the view's questions of several parts together, each answer kept for the part
    that asks it next."""
    store, settings = portal.store, portal.settings
    try:
        ask_facts_ahead(store, dataset, settings, view.where, view.unit)
        questions = share_questions(store, dataset, settings, view.where, view.unit)
        questions += choice_questions(portal, dataset, view.filters, view.unit)
        ask_ahead(store, dataset, questions, settings)
    except SoQLError:
        pass  # each part asks its own again and says what is wrong, as it would have
