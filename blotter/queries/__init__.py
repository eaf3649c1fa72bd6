"""Answer a SoQL request: parse, compile against the dataset's columns, run on the store.

The one path every read takes, from the SODA API, the web pages and exports alike: a
request's SoQL text (``params``), compiled once per version (``compiled``), run, kept
answers first (``reads``, ``answer_cache``), questions of one shape answered by one query
(``together``), and the validators of conditional requests (``validators``). Callers import
from here, whichever module does the work.
"""

from __future__ import annotations

from blotter.queries.answer_cache import (
    AnswerCache,
    answer_key,
    answers,
    query_key,
    seen_version,
    store_answers,
)
from blotter.queries.compiled import CompiledCache, PreparedQuery, prepare_parsed, prepare_query
from blotter.queries.params import all_of, and_where, parse_request, split_params
from blotter.queries.reads import (
    QueryResult,
    ask_beside_values_at_least,
    keep_answer,
    run,
    run_query,
    values_at_least,
)
from blotter.queries.together import ask_ahead, kept_together, run_together
from blotter.queries.validators import dataset_tag, http_date, last_modified, not_modified

__all__ = [
    "AnswerCache",
    "CompiledCache",
    "PreparedQuery",
    "QueryResult",
    "all_of",
    "and_where",
    "answer_key",
    "answers",
    "ask_ahead",
    "ask_beside_values_at_least",
    "dataset_tag",
    "http_date",
    "keep_answer",
    "kept_together",
    "last_modified",
    "not_modified",
    "parse_request",
    "prepare_parsed",
    "prepare_query",
    "query_key",
    "run",
    "run_query",
    "run_together",
    "seen_version",
    "split_params",
    "store_answers",
    "values_at_least",
]
