"""Names for downloaded files that say what they hold: the dataset, the filter, the day.

``use-of-force-e2x9-2kgt-subject_race-black-2026-11-30.csv`` rather than ``e2x9-2kgt.csv``,
so a folder of downloads stays readable and two filters of one dataset never overwrite
each other.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date

# Parameters that shape how rows are sent, not which rows: left out of the name.
_NOT_A_FILTER = {"$limit", "$offset", "$order", "$select", "accessType", "$$bom", "$$app_token"}
_NON_WORD = re.compile(r"[^a-z0-9_]+")
FILTER_CHARS = 60  # a long $where still leaves a name every file system takes


def slug(text: str) -> str:
    """Lower-case ASCII words joined by hyphens; accents folded ("é" → "e"), any other
    character a separator, so "2015–2017" stays two numbers."""
    folded = "".join(
        c if c.isascii() else ("" if unicodedata.combining(c) else "-")
        for c in unicodedata.normalize("NFKD", text)
    )
    return _NON_WORD.sub("-", folded.lower()).strip("-")


def filter_words(params: Mapping[str, str]) -> str:
    """The filtering parameters of a SODA request as one slug: ``$where``, ``$q``,
    ``$group``/``$having`` and ``column=value`` filters, in the order given."""
    parts = [f"{k}-{v}" if not k.startswith("$") else v for k, v in params.items()]
    kept = [p for (k, _), p in zip(params.items(), parts, strict=True) if k not in _NOT_A_FILTER]
    return slug(" ".join(kept))


def download_filename(name: str, dataset_id: str, words: str, fmt: str, day: date) -> str:
    """``<dataset name>-<id>[-<filter>]-<YYYY-MM-DD>.<fmt>``, safe in a quoted header."""
    about = slug(words)[:FILTER_CHARS].rstrip("-")
    stem = "-".join(part for part in (slug(name), dataset_id, about, day.isoformat()) if part)
    return f"{stem}.{fmt}"
