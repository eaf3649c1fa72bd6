"""A dataset's privacy rules: what is withheld or generalised before any row is published.

The rules belong to the dataset (its file's ``privacy:`` key, its metadata), not to an import
profile, and the store applies them on every write (``store/protect.py``), so no way in can
skip them. This module only declares them and says them in plain words.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable
from datetime import date
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# What the public reads for a field a rule names that they may not see: a column kept
# internal stays unnamed. Field names are identifiers (``model.FIELD_NAME``), so no column
# can be called this.
UNPUBLISHED = "an unpublished column"


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")


_R = TypeVar("_R", bound=_Rule)


class JuvenileRule(_Rule):
    """Rows whose age is under ``under``: the age and the named fields withheld, or the row
    left out altogether."""

    column: str  # the number column holding the age
    under: float = 18
    action: Literal["withhold", "drop"] = "withhold"
    withhold: list[str] = Field(default_factory=list)  # other fields emptied on such rows


class AgeBandRule(_Rule):
    """An exact age replaced by its band (``18-24``) written into a text column."""

    column: str  # the number column holding the age; published empty
    into: str  # the text column the band is written to
    bounds: list[int] = Field(default_factory=lambda: [18, 25, 35, 45, 55, 65])

    @field_validator("bounds")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if not value or any(b >= a for a, b in zip(value[1:], value, strict=False)):
            raise ValueError("bounds must be one or more increasing whole numbers")
        return value


class PointRule(_Rule):
    """A point snapped to a grid, so no exact place (a home) is published."""

    column: str
    grid_m: float = Field(150, gt=0, le=10_000)  # the grid's spacing in metres


class SensitiveOffenceRule(_Rule):
    """Rows whose offence names a victim's circumstances have their location withheld."""

    column: str  # the text column naming the offence
    # Case-insensitive words or phrases: an offence containing any of them is sensitive.
    matches: list[str] = Field(
        default_factory=lambda: ["sex", "rape", "domestic", "stalking", "child abuse"]
    )
    withhold: list[str]  # the location fields (addresses, points, beats) emptied


class ScrubRule(_Rule):
    """Free text cleared of people's names (from the row's name columns), phone numbers,
    e-mail addresses and social-security-like numbers."""

    columns: list[str]
    names: list[str] = Field(default_factory=list)  # columns holding people's names


class PrivacyRules(_Rule):
    """Every rule a dataset follows; each names the columns it applies to."""

    juveniles: JuvenileRule | None = None
    age_bands: list[AgeBandRule] = Field(default_factory=list)
    hundred_block: list[str] = Field(default_factory=list)  # address text columns
    points: list[PointRule] = Field(default_factory=list)
    sensitive_offences: SensitiveOffenceRule | None = None
    scrub: ScrubRule | None = None
    # The "(as recorded)" copies of protected fields; filled in by the dataset file's
    # reader from ``keep_raw`` so a raw copy never reveals what its field withholds.
    raw_copies: dict[str, str] = Field(default_factory=dict)
    # Each field whose values other columns also carry: a column reading the same cells of
    # the file (a second point from the same latitude and longitude) or derived from it.
    # Filled in by the dataset file's reader, rules or none, so that a rule set later (by an
    # edit, which never sets these) makes those columns internal with the field it protects.
    carriers: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _no_field_twice(self) -> PrivacyRules:
        targets = [r.column for r in self.age_bands] + [r.column for r in self.points]
        twice = sorted({t for t in targets if targets.count(t) > 1})
        if twice:
            raise ValueError(f"field(s) {', '.join(twice)} have two age-band or point rules")
        return self

    def is_empty(self) -> bool:
        """No rule (the raw copies and carriers a dataset file records are no rule)."""
        return self.model_copy(update={"raw_copies": {}, "carriers": {}}) == PrivacyRules()

    def copies(self, fields: Collection[str]) -> dict[str, str]:
        """Every column that holds what one of ``fields`` holds before the rules (its raw
        copy, a column carrying its cells, and theirs in turn), with the field it copies."""
        found: dict[str, str] = {}
        todo = list(fields)
        while todo:
            field = todo.pop()
            origin = found.get(field, field)
            raw = [r for r, f in self.raw_copies.items() if f == field]
            for copy in [*raw, *self.carriers.get(field, [])]:
                if copy not in found and copy not in fields:
                    found[copy] = origin
                    todo.append(copy)
        return found

    def with_copies_of(self, other: PrivacyRules) -> PrivacyRules:
        """These rules, knowing the raw copies and carriers ``other`` records as well."""
        carriers = {f: list(c) for f, c in self.carriers.items()}
        for field, more in other.carriers.items():
            carriers[field] = list(dict.fromkeys([*carriers.get(field, []), *more]))
        raw = {**self.raw_copies, **other.raw_copies}
        return self.model_copy(update={"raw_copies": raw, "carriers": carriers})

    def unprotected_copies(self) -> dict[str, str]:
        """The copies of protected fields that must never be public: every raw copy, and each
        carrier no rule names (one a rule names is its output, such as an age band derived
        from the age it bands, or protected itself), as the dataset file's checks allow."""
        protected, named = self.protected(), set(self.fields())
        return {
            copy: field
            for copy, field in self.copies(protected).items()
            if copy not in protected and (copy in self.raw_copies or copy not in named)
        }

    def fields(self) -> dict[str, str]:
        """Each field a rule names, with the rule naming it (for checks against columns)."""
        out: dict[str, str] = {}
        if self.juveniles:
            out[self.juveniles.column] = "juveniles.column"
            out.update({f: "juveniles.withhold" for f in self.juveniles.withhold})
        for band in self.age_bands:
            out[band.column] = "age_bands.column"
            out[band.into] = "age_bands.into"
        out.update({f: "hundred_block" for f in self.hundred_block})
        out.update({p.column: "points.column" for p in self.points})
        if self.sensitive_offences:
            out[self.sensitive_offences.column] = "sensitive_offences.column"
            out.update({f: "sensitive_offences.withhold" for f in self.sensitive_offences.withhold})
        if self.scrub:
            out.update({f: "scrub.columns" for f in self.scrub.columns})
            out.update({f: "scrub.names" for f in self.scrub.names})
        return out

    def protected(self) -> set[str]:
        """The fields whose published value may differ from the file's: their raw copies
        must never be public."""
        found = set(self.hundred_block) | {p.column for p in self.points}
        found |= {b.column for b in self.age_bands}
        if self.juveniles:
            found |= {self.juveniles.column, *self.juveniles.withhold}
        if self.sensitive_offences:
            found |= set(self.sensitive_offences.withhold)
        if self.scrub:
            found |= set(self.scrub.columns)
        return found

    def for_reader(self, shown: Collection[str]) -> PrivacyRules:
        """The rules as a reader who sees only the fields ``shown`` may read them: each
        other field a rule names becomes :data:`UNPUBLISHED` (once per list), and the raw
        copies and carriers (which name columns, internal ones among them) are left out."""

        def one(field: str) -> str:
            return field if field in shown else UNPUBLISHED

        def each(fields: list[str]) -> list[str]:
            return list(dict.fromkeys(map(one, fields)))

        # ``model_copy`` does not validate, on purpose: this copy is words for a reader, never
        # rules to apply, and two point (or age-band) rules of internal columns both naming
        # the placeholder would fail ``_no_field_twice``. Identical rules are said once. The
        # copy shares no list with the rules (``deep`` where a list is kept, not rebuilt).
        j, s, c = self.juveniles, self.sensitive_offences, self.scrub
        return self.model_copy(
            update={
                "juveniles": j.model_copy(
                    update={"column": one(j.column), "withhold": each(j.withhold)}
                )
                if j
                else None,
                "age_bands": _once(
                    b.model_copy(update={"column": one(b.column), "into": one(b.into)}, deep=True)
                    for b in self.age_bands
                ),
                "hundred_block": each(self.hundred_block),
                "points": _once(
                    p.model_copy(update={"column": one(p.column)}) for p in self.points
                ),
                "sensitive_offences": s.model_copy(
                    update={"column": one(s.column), "withhold": each(s.withhold)}, deep=True
                )
                if s
                else None,
                "scrub": c.model_copy(update={"columns": each(c.columns), "names": each(c.names)})
                if c
                else None,
                "raw_copies": {},
                "carriers": {},
            }
        )

    def describe(self) -> list[str]:
        """The rules in plain words, as the dataset page states them (to a reader who may
        not see every column, those of :meth:`for_reader`)."""
        out: list[str] = []
        if j := self.juveniles:
            under = f"{j.under:g}"
            if j.action == "drop":
                out.append(
                    f"Records of people under {under} (by {_name(j.column)}) are not published."
                )
            else:
                are = "is" if len(j.withhold) == 1 else "are"
                also = f", and {_words(j.withhold)} {are} withheld," if j.withhold else ""
                out.append(
                    f"For people under {under}, the age ({_name(j.column)}) is withheld{also} "
                    "so no juvenile can be identified."
                )
        for band in self.age_bands:
            out.append(
                f"Exact ages ({_name(band.column)}) are not published; {_name(band.into)} "
                f"gives the age band ({_bands(band.bounds)[1]}, …)."
            )
        if self.hundred_block:
            out.append(
                f"Addresses ({_words(self.hundred_block)}) are given to the hundred block "
                "('1234 Main St' becomes '1200 block of Main St')."
            )
        for point in self.points:
            out.append(
                f"Locations ({_name(point.column)}) are moved to a grid of {point.grid_m:g} m, "
                "so no exact home is shown."
            )
        if s := self.sensitive_offences:
            out.append(
                f"Where the offence ({_name(s.column)}) names a victim's circumstances "
                f"({', '.join(s.matches)}), the location ({_words(s.withhold)}) is withheld."
            )
        if self.scrub:
            names = f"the names in {_words(self.scrub.names)}, " if self.scrub.names else ""
            out.append(
                f"Free text ({_words(self.scrub.columns)}) is cleared of {names}phone numbers, "
                "e-mail addresses and social-security-like numbers."
            )
        return out


# Each count a write reports, as the publish report says it ("3 ages under 18 withheld").
_COUNT_WORDS: dict[str, tuple[str, str, str]] = {
    "juveniles_withheld": ("record of a juvenile", "records of juveniles", "with the age withheld"),
    "juveniles_dropped": ("record of a juvenile", "records of juveniles", "not published"),
    "ages_banded": ("exact age", "exact ages", "replaced by an age band"),
    "addresses_generalised": ("address", "addresses", "generalised to the hundred block"),
    "points_snapped": ("location", "locations", "moved to the grid"),
    "locations_withheld": ("location", "locations", "withheld (sensitive offence)"),
    "text_scrubbed": ("free-text value", "free-text values", "scrubbed of personal details"),
    # Only when rules are applied again to published rows (``store/protect.py``).
    "juveniles_assumed": (
        "record whose age was withheld before",
        "records whose age was withheld before",
        "treated as a juvenile's (the age is no longer known)",
    ),
}


def count_words(counts: dict[str, int]) -> list[str]:
    """What the privacy rules changed in one write, in plain words."""
    out = []
    for key, (one, many, done) in _COUNT_WORDS.items():
        n = counts.get(key, 0)
        if n:
            out.append(f"{n:,} {one if n == 1 else many} {done}")
    return out


def stricter(old: PrivacyRules, new: PrivacyRules) -> list[str]:
    """The rules of ``new`` that withhold or generalise more than ``old`` does (a rule added
    or made stricter), named by key; empty when ``new`` hides nothing ``old`` did not."""
    out: list[str] = []
    j, was = new.juveniles, old.juveniles
    if j is not None and (
        was is None
        or j.column != was.column
        or j.under > was.under
        or (j.action == "drop" and was.action != "drop")
        or (j.action == was.action == "withhold" and set(j.withhold) - set(was.withhold))
    ):
        out.append("juveniles")
    bands = {(b.column, b.into, tuple(b.bounds)) for b in old.age_bands}
    if any((b.column, b.into, tuple(b.bounds)) not in bands for b in new.age_bands):
        out.append("age_bands")
    if set(new.hundred_block) - set(old.hundred_block):
        out.append("hundred_block")
    grids = {p.column: p.grid_m for p in old.points}
    if any(p.column not in grids or p.grid_m > grids[p.column] for p in new.points):
        out.append("points")
    s, had = new.sensitive_offences, old.sensitive_offences
    if s is not None and (
        had is None
        or s.column != had.column
        or {m.lower() for m in s.matches} - {m.lower() for m in had.matches}
        or set(s.withhold) - set(had.withhold)
    ):
        out.append("sensitive_offences")
    c, scrubbed = new.scrub, old.scrub
    if c is not None and (
        scrubbed is None
        or set(c.columns) - set(scrubbed.columns)
        or set(c.names) - set(scrubbed.names)
    ):
        out.append("scrub")
    return out


def withdrawn_reason(day: date) -> str:
    """Why versions were withdrawn when the rules were made stricter on ``day``."""
    return f"published before the privacy rules of {day.isoformat()}"


def withdrawn_words(numbers: list[int]) -> str:
    """``versions 1-6 withdrawn``, ``version 1 withdrawn``, ``versions 1-3 and 5 withdrawn``."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    spans = [f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs]
    listed = spans[0] if len(spans) == 1 else ", ".join(spans[:-1]) + " and " + spans[-1]
    plural = len(numbers) > 1
    return f"{'versions' if plural else 'version'} {listed} withdrawn"


def reapply_problems(old: PrivacyRules, new: PrivacyRules) -> list[str]:
    """What of ``new`` cannot be applied to rows published under ``old``: an age band whose
    bounds or text column changed, since the published rows keep no exact age to band
    again (the dataset's file, loaded again, can)."""
    before = {b.column: (b.into, b.bounds) for b in old.age_bands}
    return [
        f"the age bands of '{b.column}' cannot be drawn again on published rows (their exact "
        "ages are withheld): keep the bounds and 'into', or load the file again with them"
        for b in new.age_bands
        if b.column in before and (b.into, b.bounds) != before[b.column]
    ]


def rule_problems(rules: PrivacyRules, types: dict[str, str]) -> list[str]:
    """What is wrong with ``rules`` for columns of these types (field → type name)."""
    problems = [
        f"privacy rule '{where}' names '{field}', which is not a column"
        for field, where in rules.fields().items()
        if field not in types
    ]
    wanted: dict[str, list[str]] = {
        "number": [b.column for b in rules.age_bands],
        "point": [p.column for p in rules.points],
        "text": [*rules.hundred_block, *(b.into for b in rules.age_bands)],
    }
    if rules.juveniles:
        wanted["number"].append(rules.juveniles.column)
    if rules.scrub:
        wanted["text"] += rules.scrub.columns
    if rules.sensitive_offences:
        wanted["text"].append(rules.sensitive_offences.column)
    for kind, fields in wanted.items():
        problems += [
            f"privacy rules need '{f}' to be a {kind} column; it is {types[f]}"
            for f in fields
            if f in types and types[f] != kind
        ]
    return problems


def band_label(age: float, bounds: list[int]) -> str:
    """The band an age falls in: ``under 18``, ``18-24``, …, ``65 and over``."""
    labels = _bands(bounds)
    for i, bound in enumerate(bounds):
        if age < bound:
            return labels[i]
    return labels[-1]


def band_lows(bounds: list[int]) -> dict[str, float]:
    """Each band's label with the lowest age it holds ("under 18": 0, "18-24": 18, …)."""
    return dict(zip(_bands(bounds), [0.0, *map(float, bounds)], strict=True))


def _bands(bounds: list[int]) -> list[str]:
    labels = [f"under {bounds[0]}"]
    labels += [f"{a}-{b - 1}" for a, b in itertools.pairwise(bounds)]
    return [*labels, f"{bounds[-1]} and over"]


def _once(rules: Iterable[_R]) -> list[_R]:
    """The rules in order, each said once (equal rules are one)."""
    out: list[_R] = []
    for rule in rules:
        if rule not in out:
            out.append(rule)
    return out


def _name(field: str) -> str:
    """A field as the plain words name it: quoted, unless it is the unpublished placeholder."""
    return field if field == UNPUBLISHED else f"'{field}'"


def _words(fields: list[str]) -> str:
    quoted = [_name(f) for f in fields]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


__all__ = [
    "UNPUBLISHED",
    "AgeBandRule",
    "JuvenileRule",
    "PointRule",
    "PrivacyRules",
    "ScrubRule",
    "SensitiveOffenceRule",
    "band_label",
    "band_lows",
    "count_words",
    "reapply_problems",
    "rule_problems",
    "stricter",
    "withdrawn_reason",
    "withdrawn_words",
]
