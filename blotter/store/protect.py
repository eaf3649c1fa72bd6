"""A dataset's privacy rules applied to rows on their way into a version.

Every write (a file's publish, a SODA upsert or replace) hands its rows to the store as Arrow
batches; the store passes each through :func:`protect_batch` or :func:`protect_staged`
before writing, so no way in skips the rules. Each change is counted for the publish report
and the audit log.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from blotter.model import Column
from blotter.privacy import PrivacyRules, band_label, band_lows
from blotter.schema import physical_names

_METRES_PER_DEGREE = 111_320.0
# A house number, with what may follow it before the street: a letter (7305B), a unit or a
# second number after a hyphen (1234-A, 1234-1236, 1234 - 1236), a half (1234 1/2, 1234½).
_NUMBERED = re.compile(r"^\s*(\d+)(?:[A-Za-z]|\s*-\s*[A-Za-z0-9]+|\s+1/2|\s*½)?\s+(.+)$")
_GENERALISED = re.compile(r"^\d+ block of ", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_SSN = re.compile(r"\b\d{3}[- ]\d{2}[- ]\d{4}\b|\b\d{9}\b")
_PHONE = re.compile(r"(\+?1[\s.-]?)?(\(\d{3}\)|\b\d{3})[\s.-]?\d{3}[\s.-]?\d{4}\b")
_LOCAL_PHONE = re.compile(r"\b\d{3}[.-]\d{4}\b")  # 555-0123: dialled without the area code
_NAME_PARTS = re.compile(r"[\s,-]+")  # "Smith-Jones, Mary" → Smith, Jones, Mary
WITHHELD = "[withheld]"

Mask: TypeAlias = pa.Array  # booleans, one per row, no nulls


def hundred_block(address: str) -> str:
    """``1234 Main St`` → ``1200 block of Main St``; other text (an intersection) as is."""
    if _GENERALISED.match(address):
        return address
    found = _NUMBERED.match(address)
    if not found:
        return address
    block = int(found.group(1)) // 100 * 100
    return f"{block} block of {found.group(2).strip()}"


def scrub_text(text: str, names: Iterable[str]) -> str:
    """Free text without the given names, e-mail addresses, SSN-like and phone numbers."""
    out = _EMAIL.sub(WITHHELD, text)
    out = _SSN.sub(WITHHELD, out)
    out = _PHONE.sub(WITHHELD, out)
    out = _LOCAL_PHONE.sub(WITHHELD, out)
    for name in sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True):
        # Each part of two letters or more: a short surname (Li, Wu, Ng) is a name too, and
        # a word of the row's own text lost to it costs less than a name published.
        parts = [name, *(p for p in _NAME_PARTS.split(name) if len(p) >= 2)]
        for part in parts:
            out = re.sub(rf"\b{re.escape(part)}\b", WITHHELD, out, flags=re.IGNORECASE)
    return out


class _Rows:
    """One batch being protected: its arrays by physical name, rows to withhold fields of."""

    def __init__(self, batch: pa.RecordBatch | pa.Table, columns: list[Column]) -> None:
        self.names = list(batch.schema.names)
        self.arrays: dict[str, pa.Array] = {
            n: _array(batch.column(i)) for i, n in enumerate(self.names)
        }
        self.by_field = {c.field_name: c for c in columns}
        self.num_rows = batch.num_rows
        self.counts: Counter[str] = Counter()
        # (row mask, fields) whose values were emptied: an upsert must send them as given.
        self.emptied: list[tuple[Mask, list[str]]] = []

    def single(self, field: str) -> str | None:
        """The one physical column of a non-point field in this batch, if present."""
        names = self.physical(field)
        return names[0] if len(names) == 1 else None

    def physical(self, field: str) -> list[str]:
        column = self.by_field.get(field)
        if column is None:
            return []
        return [n for n in physical_names(column) if n in self.arrays]

    def empty(self, mask: Mask, fields: list[str]) -> None:
        """Empty ``fields`` (every physical part) on the rows of ``mask``."""
        for field in fields:
            for name in self.physical(field):
                array = self.arrays[name]
                self.arrays[name] = pc.if_else(mask, pa.nulls(len(array), array.type), array)
        self.emptied.append((mask, fields))

    def map_text(self, field: str, change: Callable[[str], str]) -> Mask:
        """Apply ``change`` to each distinct value of a text field; the rows it changed."""
        name = self.single(field)
        if name is None:
            return _none(self.num_rows)
        array = self.arrays[name]
        distinct = pc.unique(array).to_pylist()
        changed = {v: change(v) for v in distinct if v is not None}
        changed = {k: v for k, v in changed.items() if v != k}
        if not changed:
            return _none(self.num_rows)
        keys = pa.array(list(changed), pa.string())
        index = pc.index_in(array, value_set=keys)
        mask = pc.fill_null(pc.is_valid(index), False)
        values = pa.array(list(changed.values()), pa.string()).take(pc.fill_null(index, 0))
        self.arrays[name] = pc.if_else(mask, values, array)
        return mask

    def batch(self) -> pa.RecordBatch:
        return pa.record_batch([self.arrays[n] for n in self.names], names=self.names)


def _apply(rules: PrivacyRules, rows: _Rows) -> Mask:
    """Every rule, in an order where each sees the values it needs; the rows to leave out."""
    drop = _none(rows.num_rows)
    if scrub := rules.scrub:  # first: the names it looks for may be withheld below
        rows.counts["text_scrubbed"] += _scrub(rows, scrub.columns, scrub.names)
    if (j := rules.juveniles) and rows.physical(j.column):
        ages = rows.arrays[j.column]
        young = pc.fill_null(pc.less(ages, pa.scalar(j.under, ages.type)), False)
        count = pc.sum(young).as_py() or 0
        if count:
            if j.action == "drop":
                drop = young
                rows.counts["juveniles_dropped"] += count
            else:
                raw = list(rules.copies({j.column, *j.withhold}))
                rows.empty(young, [j.column, *j.withhold, *raw])
                rows.counts["juveniles_withheld"] += count
    if (s := rules.sensitive_offences) and rows.physical(s.column):
        offence = pc.utf8_lower(rows.arrays[s.column])
        hits = _none(rows.num_rows)
        for word in s.matches:
            hits = pc.or_(hits, pc.fill_null(pc.match_substring(offence, word.lower()), False))
        hits = pc.and_not(hits, drop)
        count = pc.sum(hits).as_py() or 0
        if count:
            raw = list(rules.copies(s.withhold))
            rows.empty(hits, [*s.withhold, *raw])
            rows.counts["locations_withheld"] += count
    for band in rules.age_bands:
        if not rows.physical(band.column):
            continue
        ages = rows.arrays[band.column]
        present = pc.fill_null(pc.is_valid(ages), False)
        count = pc.sum(present).as_py() or 0
        if not count:
            continue
        if rows.physical(band.into):
            labels = pa.array(
                [None if a is None else band_label(a, band.bounds) for a in ages.to_pylist()],
                pa.string(),
            )
            into = rows.arrays[band.into]
            rows.arrays[band.into] = pc.if_else(present, labels, into)
            rows.emptied.append((present, [band.into]))  # an upsert sends the band too
        rows.empty(present, [band.column])
        rows.counts["ages_banded"] += count
    for field in rules.hundred_block:
        changed = rows.map_text(field, hundred_block)
        rows.counts["addresses_generalised"] += pc.sum(changed).as_py() or 0
    for point in rules.points:
        parts = rows.physical(point.column)
        if len(parts) == 2:
            rows.counts["points_snapped"] += _snap(rows, parts[0], parts[1], point.grid_m)
    return drop


def _snap(rows: _Rows, lon_name: str, lat_name: str, grid_m: float) -> int:
    """Snap each point to the centre of its grid cell; the number of points moved."""
    lon = rows.arrays[lon_name].to_numpy(zero_copy_only=False)
    lat = rows.arrays[lat_name].to_numpy(zero_copy_only=False)
    present = ~(np.isnan(lon) | np.isnan(lat))
    if not present.any():
        return 0
    step_lat = grid_m / _METRES_PER_DEGREE
    snapped_lat = (np.floor(lat / step_lat) + 0.5) * step_lat
    # Longitude degrees shrink towards the poles: the cell stays about grid_m wide.
    step_lon = grid_m / (_METRES_PER_DEGREE * np.maximum(np.cos(np.radians(snapped_lat)), 0.01))
    snapped_lon = (np.floor(lon / step_lon) + 0.5) * step_lon
    # NaN marks an empty point on the way in and becomes null again on the way out.
    rows.arrays[lat_name] = pa.array(np.round(snapped_lat, 6), from_pandas=True)
    rows.arrays[lon_name] = pa.array(np.round(snapped_lon, 6), from_pandas=True)
    return int(present.sum())


def _scrub(rows: _Rows, fields: list[str], name_fields: list[str]) -> int:
    """Scrub each free-text field with the row's own names; the values changed."""
    name_arrays = [rows.arrays[n] for f in name_fields for n in rows.physical(f)]
    names_of = [a.to_pylist() for a in name_arrays]
    changed = 0
    for field in fields:
        name = rows.single(field)
        if name is None:
            continue
        values = rows.arrays[name].to_pylist()
        out: list[str | None] = []
        for i, value in enumerate(values):
            if value is None:
                out.append(None)
                continue
            clean = scrub_text(value, [str(n[i]) for n in names_of if n[i] is not None])
            changed += clean != value
            out.append(clean)
        rows.arrays[name] = pa.array(out, pa.string())
    return changed


def left_out(
    rules: PrivacyRules, columns: list[Column], batch: pa.RecordBatch | pa.Table
) -> list[int]:
    """The positions of the rows of ``batch`` its rules leave out of the version (a
    juvenile's, by a drop rule), found as :func:`protect_batch` finds them."""
    j = rules.juveniles
    if j is None or j.action != "drop":
        return []
    names = [n for c in columns if c.field_name == j.column for n in physical_names(c)]
    if len(names) != 1 or names[0] not in batch.schema.names:
        return []
    ages = _array(batch.column(names[0]))
    young = pc.fill_null(pc.less(ages, pa.scalar(j.under, ages.type)), False)
    return np.flatnonzero(young.to_numpy(zero_copy_only=False)).tolist()


def protect_batch(
    rules: PrivacyRules, columns: list[Column], batch: pa.RecordBatch, counts: Counter[str]
) -> pa.RecordBatch:
    """One batch of a publish with the rules applied; what changed is added to ``counts``."""
    if rules.is_empty() or not batch.num_rows:
        return batch
    rows = _Rows(batch, columns)
    drop = _apply(rules, rows)
    counts.update(rows.counts)
    out = rows.batch()
    return out.filter(pc.invert(drop)) if pc.any(drop).as_py() else out


def protect_batches(
    rules: PrivacyRules,
    columns: list[Column],
    batches: Iterable[pa.RecordBatch],
    counts: Counter[str],
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        yield protect_batch(rules, columns, batch, counts)


def protect_again(
    old: PrivacyRules,
    new: PrivacyRules,
    columns: list[Column],
    batch: pa.RecordBatch,
    counts: Counter[str],
) -> tuple[pa.RecordBatch, Mask]:
    """Published rows, written under ``old``, with ``new`` applied: the rows in the same
    order, and those to leave out. Every rule is safe to apply twice (a withheld age is no
    longer under the limit, a hundred block stays one, a snapped point stays on its cell's
    centre, an emptied field stays empty), so all of ``new`` is applied and a rule already
    applied changes nothing. The one part the published rows cannot settle by themselves:
    a juvenile rule made stricter (drop, or more fields withheld) on rows whose age ``old``
    withheld. Their age is gone, so every row with no age and the fields ``old`` withheld
    empty is treated as a juvenile's, and counted (``juveniles_assumed``)."""
    rows = _Rows(batch, columns)
    assumed = _withheld_juveniles(old, new, rows)
    unknown_names = _unknown_names(old, new, rows)
    before = dict(rows.arrays)
    drop = _apply(new, rows)
    for name, mask in unknown_names:
        text = rows.arrays[name]
        mask = pc.and_(mask, pc.is_valid(text))
        rows.arrays[name] = pc.if_else(mask, pa.scalar(WITHHELD, text.type), text)
    # Counted as a value changed, not as a row a rule matched (it may be applied already).
    if s := new.sensitive_offences:
        fields = [n for f in s.withhold for n in rows.physical(f)]
        rows.counts["locations_withheld"] = _changed(before, rows.arrays, fields)
    parts = [n for p in new.points for n in rows.physical(p.column)]
    rows.counts["points_snapped"] = _changed(before, rows.arrays, parts)
    if c := new.scrub:
        texts = [n for f in c.columns for n in rows.physical(f)]
        rows.counts["text_scrubbed"] = _changed(before, rows.arrays, texts)
    j = new.juveniles
    if j is not None and assumed is not None:
        assumed = pc.and_not(assumed, drop)
    count = 0 if assumed is None else pc.sum(assumed).as_py() or 0
    if j is not None and assumed is not None and count:
        if j.action == "drop":
            drop = pc.or_(drop, assumed)
        else:
            # As a fresh write: a juvenile's age is withheld before it is banded.
            bands = [b.into for b in old.age_bands if b.column == j.column]
            raw = list(new.copies(j.withhold))
            fields = [*j.withhold, *raw, *bands]
            was = dict(rows.arrays)
            rows.empty(assumed, fields)
            count = _changed(was, rows.arrays, [n for f in fields for n in rows.physical(f)])
        rows.counts["juveniles_assumed"] += count
    counts.update(rows.counts)
    return rows.batch(), drop


def _changed(before: dict[str, pa.Array], after: dict[str, pa.Array], names: list[str]) -> int:
    """The rows where any of the columns ``names`` changed (an emptied value included)."""
    rows = _none(len(next(iter(after.values())))) if after else _none(0)
    for name in names:
        unequal = pc.fill_null(pc.not_equal(before[name], after[name]), False)
        rows = pc.or_(
            rows, pc.or_(unequal, pc.xor(pc.is_null(before[name]), pc.is_null(after[name])))
        )
    return pc.sum(rows).as_py() or 0


def _withheld_juveniles(old: PrivacyRules, new: PrivacyRules, rows: _Rows) -> Mask | None:
    """The rows whose age ``old`` withheld and that may be a juvenile's by ``new``'s rule,
    when that rule does more with them than ``old`` did; else None. An age ``old``'s
    juvenile rule withheld leaves the row with no age and its withheld fields empty; an age
    ``old`` put in a band leaves the band, whose lower bound may be under the limit."""
    j, was = new.juveniles, old.juveniles
    age = rows.single(j.column) if j is not None else None
    if j is None or age is None:
        return None
    found = _none(rows.num_rows)
    no_age = pc.is_null(rows.arrays[age])
    if (
        was is not None
        and was.action == "withhold"
        and j.column == was.column
        and (j.action == "drop" or set(j.withhold) - set(was.withhold))
    ):
        mask = no_age
        for field in was.withhold:
            for name in rows.physical(field):
                mask = pc.and_(mask, pc.is_null(rows.arrays[name]))
        found = pc.or_(found, mask)
    for band in old.age_bands:
        into = rows.single(band.into)
        if band.column != j.column or into is None:
            continue
        lows = band_lows(band.bounds)
        young = pa.array(
            [
                low is not None and low < j.under
                for low in map(lows.get, rows.arrays[into].to_pylist())
            ]
        )
        found = pc.or_(found, pc.and_(no_age, young))
    return found if pc.any(found).as_py() else None


def _unknown_names(old: PrivacyRules, new: PrivacyRules, rows: _Rows) -> list[tuple[str, Mask]]:
    """Free text ``new`` scrubs of a name column that ``old`` did not, on rows where ``old``
    may have withheld that name (a juvenile's, a sensitive offence's): the name is gone, so
    it cannot be found in the text, which is withheld whole instead."""
    if (s := new.scrub) is None:
        return []
    done = (
        set() if old.scrub is None else {(c, n) for c in old.scrub.columns for n in old.scrub.names}
    )
    out = []
    for field in s.columns:
        text = rows.single(field)
        names = [n for n in s.names if (field, n) not in done and n in old.protected()]
        mask = _none(rows.num_rows)
        for name in names:
            for part in rows.physical(name):
                mask = pc.or_(mask, pc.is_null(rows.arrays[part]))
        if text is not None and pc.any(mask).as_py():
            out.append((text, mask))
    return out


def protect_staged(
    rules: PrivacyRules, columns: list[Column], staged: pa.Table, counts: Counter[str]
) -> pa.Table:
    """A row-level write's staged rows with the rules applied: a field emptied by a rule is
    sent as empty (so an update cannot keep the old value beside a new juvenile age), and a
    row a rule leaves out becomes a delete of that row."""
    if rules.is_empty() or not staged.num_rows:
        return staged
    data_names = [n for c in columns for n in physical_names(c)]
    head = {n: staged.column(n) for n in ("__seq", "__delete", "__key", "__given")}
    rows = _Rows(staged.select(data_names), columns)
    deleting = _array(head["__delete"])
    drop = _apply(rules, rows)
    counts.update(rows.counts)
    given = _array(head["__given"]).to_pylist()
    position = {n: i for i, n in enumerate(data_names)}
    for mask, fields in rows.emptied:
        spots = [position[n] for f in fields for n in rows.physical(f)]
        for row in np.flatnonzero(np.asarray(mask.to_pylist(), dtype=bool)):
            bits = list(given[row])
            for spot in spots:
                bits[spot] = "1"
            given[row] = "".join(bits)
    out = rows.batch()
    return pa.Table.from_arrays(
        [
            head["__seq"],
            pc.or_(deleting, drop),
            head["__key"],
            pa.array(given, pa.string()),
            *out.columns,
        ],
        names=[*head, *data_names],
    )


def unjudged_rows(
    rules: PrivacyRules, columns: list[Column], staged: pa.Table, key: str
) -> list[dict[str, object]]:
    """Rows of a row-level write that set a field a rule withholds without the field the rule
    judges by (a name without the age, a location without the offence, free text without
    the names it is scrubbed of). The stored row cannot settle it (a juvenile's age is
    stored withheld, text is scrubbed of the names sent with it), so such a write is
    refused, one problem per row, rather than risk publishing what the rule hides."""
    triggers: list[tuple[str, list[str]]] = []
    if rules.juveniles is not None and rules.juveniles.withhold:
        triggers.append((rules.juveniles.column, rules.juveniles.withhold))
    if rules.sensitive_offences is not None:
        triggers.append((rules.sensitive_offences.column, rules.sensitive_offences.withhold))
    if rules.scrub is not None:
        # Text is scrubbed of the names sent beside it, never of the stored ones.
        triggers += [(name, rules.scrub.columns) for name in rules.scrub.names]
    if not triggers or not staged.num_rows:
        return []
    data_names = [n for c in columns for n in physical_names(c)]
    spot = {c.field_name: data_names.index(physical_names(c)[0]) for c in columns}
    key_field = next((c.field_name for c in columns if key in physical_names(c)), None)
    deleting = _array(staged.column("__delete")).to_pylist()
    order = _array(staged.column("__seq")).to_pylist()
    problems: list[dict[str, object]] = []
    for row, (given, delete) in enumerate(
        zip(_array(staged.column("__given")).to_pylist(), deleting, strict=True)
    ):
        if delete:
            continue
        for judge, fields in triggers:
            # The row identifier (``key``) names the row; it sets nothing.
            sent = [f for f in fields if f in spot and given[spot[f]] == "1" and f != key_field]
            if sent and judge in spot and given[spot[judge]] != "1":
                problems.append(
                    {
                        "row": int(order[row]),
                        "column": sent[0],
                        "value": "",
                        "reason": f"sets {', '.join(sent)} without {judge}: the dataset's "
                        f"privacy rules decide by {judge} whether {', '.join(sent)} may be "
                        f"published, so send {judge} with it",
                    }
                )
                break
    return problems


def raw_copies_internal(rules: PrivacyRules, columns: list[Column]) -> list[Column]:
    """The columns with every copy of a protected field made internal: its "(as recorded)"
    copy, and a column carrying its cells, unless a rule protects that one too."""
    raw = set(rules.unprotected_copies())
    return [
        c.model_copy(update={"internal": True}) if c.field_name in raw and not c.internal else c
        for c in columns
    ]


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _none(n: int) -> Mask:
    return pa.array(np.zeros(n, dtype=bool))


__all__ = [
    "hundred_block",
    "protect_again",
    "protect_batch",
    "protect_batches",
    "protect_staged",
    "raw_copies_internal",
    "scrub_text",
    "unjudged_rows",
]
