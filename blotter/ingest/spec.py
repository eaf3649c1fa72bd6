"""The dataset file: a YAML description of a dataset, its columns and their cleaning.

One file says everything a publisher decides once: metadata, which source header feeds
which column, its type, and how its dirty values become clean ones (docs/dataset-files.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from blotter.errors import IngestError
from blotter.model import FIELD_NAME, Cadence, Column, ColumnType, DatasetMeta
from blotter.privacy import rule_problems
from blotter.quality import check_problems

JOINER = "; "  # how several values of one cell are written once cleaned


class ReaderOptions(BaseModel):
    """How to read the source file."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "xlsx"] | None = None  # from the extension when absent
    sheet: str | None = None
    header_row: int = Field(1, ge=1)
    encoding: str | None = None  # utf-8 (with or without BOM), else Windows-1252
    delimiter: str = ","


class ColumnSpec(BaseModel):
    """One published column: where it comes from and how its values are cleaned."""

    model_config = ConfigDict(extra="forbid")

    field: str
    name: str = ""
    type: ColumnType = ColumnType.TEXT
    description: str = ""
    source: str | None = None  # header in the file; defaults to the display name
    latitude: str | None = None  # points: the headers holding latitude and longitude
    longitude: str | None = None
    derive_from: str | None = None  # computed from another column's cleaned value
    internal: bool = False  # served to staff only (its raw twin too)

    trim: bool = True
    collapse_spaces: bool = True
    null_values: list[str] = Field(default_factory=lambda: [""])
    case: Literal["none", "lower", "upper", "title"] = "none"
    split: str | None = None  # a regex separating several values in one cell
    # A list column: the published cells join their values with this ("; "); implied by
    # ``split``, and a file already joined this way is split on it.
    separator: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)  # code → what pages show
    unknown_values: list[str] = Field(default_factory=list)  # codes meaning "not known"
    map: dict[str, str | None] = Field(default_factory=dict)
    ignore_case: bool = True  # map keys match whatever the case of the cell
    patterns: list[tuple[str, str | None]] = Field(default_factory=list)
    unmapped: Literal["keep", "null", "error"] = "keep"
    keep_raw: str | None = None  # field name of a text column keeping the original cell
    date_format: list[str] = Field(default_factory=list)
    # Privacy: numbers below this are published as empty (e.g. the ages of juveniles).
    suppress_below: float | None = None
    true_values: list[str] = Field(default_factory=lambda: ["true", "yes", "y", "t", "1"])
    false_values: list[str] = Field(default_factory=lambda: ["false", "no", "n", "f", "0"])

    @field_validator("field", "keep_raw")
    @classmethod
    def _is_field_name(cls, value: str | None) -> str | None:
        if value is not None and not FIELD_NAME.match(value):
            raise ValueError(
                f"'{value}' is not a field name: lowercase letters, digits and underscores, "
                "starting with a letter"
            )
        return value

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, value: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
        for pattern, _ in value:
            _check_regex(pattern)
        return value

    @field_validator("split")
    @classmethod
    def _split_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            _check_regex(value)
        return value

    @model_validator(mode="after")
    def _sources_fit_the_type(self) -> ColumnSpec:
        if not self.name:
            self.name = self.field.replace("_", " ").capitalize()
        if self.type is ColumnType.POINT:
            if not (self.latitude and self.longitude):
                raise ValueError("a point column needs 'latitude' and 'longitude' source headers")
        elif self.source is None and self.derive_from is None:
            self.source = self.name
        if self.derive_from and self.keep_raw:
            raise ValueError("a derived column has no cell of its own to keep raw")
        if self.type is ColumnType.POINT and self.keep_raw:
            raise ValueError(
                "a point column reads two cells (latitude and longitude), so 'keep_raw' has no "
                "one cell to keep; to keep exact points for staff, declare a second point column "
                "from the same headers with 'internal: true'"
            )
        if self.separator is not None and self.separator.strip() != JOINER.strip():
            raise ValueError(f"a list column's values are published joined by '{JOINER}'")
        if self.split is not None and self.separator is None:
            self.separator = JOINER
        elif self.separator is not None and self.split is None:
            self.split = re.escape(self.separator.strip())
        return self

    def key(self, value: str) -> str:
        """The form a cell takes to be looked up in ``map``."""
        return fold(value) if self.ignore_case else " ".join(value.split())

    def mapping(self) -> dict[str, str | None]:
        """The value map with keys folded, as lookups use them."""
        return {self.key(k): v for k, v in self.map.items()}

    def columns(self) -> list[Column]:
        """The published column, and its raw twin when ``keep_raw`` asks for one."""
        out = [
            Column(
                field_name=self.field,
                name=self.name,
                type=self.type,
                description=self.description,
                internal=self.internal,
                separator=self.separator if self.type is ColumnType.TEXT else None,
                labels=self.labels,
                unknown_values=self.unknown_values,
            )
        ]
        if self.keep_raw:
            out.append(
                Column(
                    field_name=self.keep_raw,
                    name=f"{self.name} (as recorded)",
                    type=ColumnType.TEXT,
                    description=f"The value of '{self.source}' exactly as the source file has it, "
                    f"before cleaning into '{self.field}'.",
                    internal=self.internal,
                )
            )
        return out


class DatasetSpec(DatasetMeta):
    """A dataset file: metadata, the source, and its columns."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    source: str | None = None  # the data file, relative to the dataset file
    reader: ReaderOptions = Field(default_factory=ReaderOptions)
    columns: list[ColumnSpec] = Field(default_factory=list)
    base_dir: Path | None = Field(None, exclude=True)
    _file: Path | None = PrivateAttr(None)  # the YAML file, named in errors

    @model_validator(mode="after")
    def _fields_are_unique(self) -> DatasetSpec:
        seen: set[str] = set()
        for spec in self.columns:
            for column in spec.columns():
                if column.field_name in seen:
                    raise ValueError(f"field '{column.field_name}' is defined twice")
                seen.add(column.field_name)
        earlier: dict[str, ColumnSpec] = {}
        for spec in self.columns:
            origin = earlier.get(spec.derive_from) if spec.derive_from else None
            if spec.derive_from and origin is None:
                # Rows are cleaned left to right, so a column can only use one already cleaned.
                raise ValueError(
                    f"column '{spec.field}' derives from '{spec.derive_from}', which is not a "
                    "column listed before it"
                )
            if origin is not None and origin.type is ColumnType.POINT:
                raise ValueError(f"column '{spec.field}' cannot derive from a point column")
            earlier[spec.field] = spec
        if not self.privacy.is_empty() and self.columns:
            types = {c.field_name: str(c.type) for s in self.columns for c in s.columns()}
            problems = rule_problems(self.privacy, types) + self._derived_from_protected()
            problems += self._reading_protected_cells()
            if problems:
                raise ValueError("; ".join(problems))
        if self.columns:
            # A raw copy must not reveal what its field's rule withholds (store/protect.py),
            # nor what a rule set later withholds: recorded even without rules.
            raw = {s.keep_raw: s.field for s in self.columns if s.keep_raw}
            update = {"raw_copies": raw, "carriers": self._carriers()}
            self.privacy = self.privacy.model_copy(update=update)
        if self.columns:
            self._declare_categories()
            types = {c.field_name: str(c.type) for s in self.columns for c in s.columns()}
            problems = check_problems(self.quality, types)
            if problems:
                raise ValueError("; ".join(problems))
        return self

    def _derived_from_protected(self) -> list[str]:
        """A public column computed from a field a rule protects would publish, beside the
        rule's output, what the rule takes away (an exact age beside its band, a street
        number beside its block): refused unless it is internal or a rule names it too."""
        protected = self.privacy.protected()
        named = set(self.privacy.fields())
        return [
            f"column '{s.field}' derives from '{s.derive_from}', which a privacy rule "
            f"protects: its values would be published without the rule. Make '{s.field}' "
            "internal, name it in a rule, or derive it from another column"
            for s in self.columns
            if s.derive_from in protected and not s.internal and s.field not in named
        ]

    def _reading_protected_cells(self) -> list[str]:
        """A public column reading the same cells of the file as a column a rule protects (a
        second point from the same latitude and longitude) would publish them without the
        rule, as a derived one would: refused unless it is internal or a rule names it too."""
        protected = self.privacy.protected()
        named = set(self.privacy.fields())
        cells = {s.field: _cells_read(s) for s in self.columns}
        guarded = {f: cells[f] for f in protected if cells.get(f)}
        problems = []
        for spec in self.columns:
            if spec.field in named or spec.internal:
                continue
            for field, read in guarded.items():
                shared = sorted(cells[spec.field] & read)
                if shared:
                    headers = " and ".join(f"'{h}'" for h in shared)
                    problems.append(
                        f"column '{spec.field}' reads {headers} as '{field}' does, which a "
                        f"privacy rule protects: its values would be published without the "
                        f"rule. Make '{spec.field}' internal or name it in a rule"
                    )
                    break
        return problems

    def _carriers(self) -> dict[str, list[str]]:
        """Each field whose values other columns carry: those reading any of its cells of the
        file, and those derived from it (``PrivacyRules.carriers``)."""
        cells = {s.field: _cells_read(s) for s in self.columns}
        carriers: dict[str, list[str]] = {}
        for spec in self.columns:
            mine = cells[spec.field]
            others = [f for f, read in cells.items() if f != spec.field and read & mine]
            others += [s.field for s in self.columns if s.derive_from == spec.field]
            if others:
                carriers[spec.field] = others
        return carriers

    @model_validator(mode="after")
    def _main_date_is_a_timestamp(self) -> DatasetSpec:
        if self.main_date is None or not self.columns:
            return self
        named = next(
            (c for s in self.columns for c in s.columns() if c.field_name == self.main_date), None
        )
        if named is None:
            raise ValueError(f"main_date '{self.main_date}' is not a column")
        if named.type is not ColumnType.FLOATING_TIMESTAMP:
            raise ValueError(
                f"main_date '{self.main_date}' is a {named.type} column, not a floating_timestamp"
            )
        return self

    @model_validator(mode="after")
    def _units_name_columns(self) -> DatasetSpec:
        fields = {c.field_name for spec in self.columns for c in spec.columns()}
        for unit in self.units:
            if self.columns and unit.key not in fields:
                raise ValueError(f"unit '{unit.name}' is keyed by '{unit.key}', not a column")
        return self

    @model_validator(mode="after")
    def _table_columns_name_columns(self) -> DatasetSpec:
        fields = {c.field_name for spec in self.columns for c in spec.columns()}
        unknown = [name for name in self.table_columns if name not in fields]
        if self.columns and unknown:
            raise ValueError(
                f"table_columns names '{unknown[0]}', which is not a column of this file"
                f" (its fields: {', '.join(sorted(fields))})"
            )
        if self.columns and self.address_field and self.address_field not in fields:
            raise ValueError(f"address_field names '{self.address_field}', which is not a column")
        return self

    def _declare_categories(self) -> None:
        """A column cleaned into a closed list (a value map, nothing else allowed) is a
        category column: every write, whatever its way in, is checked against the list."""
        found = dict(self.quality.categories)
        for spec in self.columns:
            if spec.field in found or spec.unmapped != "error" or spec.split or not spec.map:
                continue
            if spec.type is not ColumnType.TEXT:
                continue
            values = {v for v in spec.map.values() if v is not None}
            values |= {v for _, v in spec.patterns if v is not None}
            found[spec.field] = sorted(values)
        self.quality = self.quality.model_copy(update={"categories": found})

    @property
    def file(self) -> Path | None:
        """The dataset file this spec was read from, if any."""
        return self._file

    def meta(self) -> DatasetMeta:
        return DatasetMeta.model_validate(self.model_dump(include=set(DatasetMeta.model_fields)))

    def source_path(self) -> Path | None:
        if self.source is None:
            return None
        path = Path(self.source)
        return path if path.is_absolute() or self.base_dir is None else self.base_dir / path


def fold(value: str) -> str:
    """The form values are compared in: case-folded, inner whitespace collapsed."""
    return " ".join(value.split()).casefold()


def _cells_read(spec: ColumnSpec) -> set[str]:
    """The file's headers a column reads its values from (folded: headers match whatever
    their case); none for a derived column."""
    if spec.derive_from:
        return set()
    if spec.type is ColumnType.POINT:
        return {fold(h) for h in (spec.latitude, spec.longitude) if h}
    return {fold(spec.source)} if spec.source else set()


def load_spec_file(path: Path) -> DatasetSpec:
    """Read a dataset file; any problem is an IngestError naming the file and the place."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise IngestError(f"Cannot read dataset file {path}: {err}", file=str(path)) from err
    spec = parse_spec(text, str(path))
    spec.base_dir = path.parent
    spec._file = path
    return spec


def parse_spec(text: str, where: str, default_name: str | None = None) -> DatasetSpec:
    """A dataset file's YAML text (from a file or a saved import profile named ``where``).

    A profile needs no ``name``: it maps columns into a dataset that has its own."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise IngestError(f"Cannot read dataset file {where}: {err}", file=where) from err
    if not isinstance(data, dict):
        raise IngestError(f"Dataset file {where} must be a mapping of keys to values.", file=where)
    if default_name is not None:
        data.setdefault("name", default_name)
    try:
        return DatasetSpec.model_validate(data)
    except ValidationError as err:
        problems = [_describe(e, data) for e in err.errors()]
        raise IngestError(
            f"Dataset file {where} has {len(problems)} problem(s): " + "; ".join(problems),
            file=where,
            problems=problems,
        ) from None


def _describe(error: ErrorDetails, data: dict[str, Any]) -> str:
    """One validation error in the words of the dataset file: which column, which key."""
    loc = error["loc"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (a typo?)"
    where = ".".join(str(p) for p in loc)
    if loc[:1] == ("columns",) and len(loc) > 1 and isinstance(loc[1], int):
        column = data["columns"][loc[1]]
        label = column.get("field", loc[1]) if isinstance(column, dict) else loc[1]
        where = f"column '{label}'" + (f", key '{loc[2]}'" if len(loc) > 2 else "")
    elif loc:
        where = f"key '{where}'"
    return f"{where}: {message}" if where else message


def _check_regex(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as err:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {err}") from None


__all__ = [
    "Cadence",
    "ColumnSpec",
    "DatasetSpec",
    "ReaderOptions",
    "fold",
    "load_spec_file",
    "parse_spec",
]
