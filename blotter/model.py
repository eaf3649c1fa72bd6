"""The portal's vocabulary: datasets, their columns and versions.

Plain, typed values passed between layers. Nothing here touches a database.
"""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from blotter.errors import InvalidRequest
from blotter.privacy import PrivacyRules
from blotter.quality import QualityRules

DATASET_ID = re.compile(r"^[a-z0-9]{4}-[a-z0-9]{4}$")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Socrata avoids vowels in 4x4s so ids never spell words; so do we.
_ID_ALPHABET = "23456789bcdfghjkmnpqrstvwxyz"
# A link a page may show: web addresses only (never javascript:, data: or a relative path).
LINK_SCHEMES = ("http", "https")
# An address and nothing else: no "?cc=" or "?body=" riding along into a mail program.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+=^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
# Loading what the store already holds: a value from before these checks is read as it is
# (pages re-check every link), so one old bad link cannot make a dataset unreadable.
STORED = {"stored": True}
# A layer file's name (blotter/maplayers.py looks it up in the layers folder): no folders.
LAYER_FILE = re.compile(r"^[A-Za-z0-9_-]{1,80}\.geojson$")


def safe_link(value: str) -> str | None:
    """``value`` when it is an absolute http(s) address a page may link to, else None."""
    # Browsers drop tabs and newlines inside a scheme ("java\tscript:"): any control
    # character or space makes the value no link at all.
    if not value or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme.lower() not in LINK_SCHEMES or not parts.netloc or not parts.hostname:
        return None
    return value


def safe_mailto(value: str) -> str | None:
    """A ``mailto:`` link for a contact address (given bare or as mailto:), else None."""
    address = value.removeprefix("mailto:")
    return f"mailto:{address}" if _EMAIL.match(address) else None


class ColumnType(StrEnum):
    """Socrata's column types (``dataTypeName``)."""

    TEXT = "text"
    NUMBER = "number"
    CHECKBOX = "checkbox"
    FLOATING_TIMESTAMP = "floating_timestamp"
    POINT = "point"
    # Only ever computed (extent, convex_hull), never stored in a column.
    MULTIPOLYGON = "multipolygon"


class Cadence(StrEnum):
    """How often a dataset is promised to be refreshed."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUALLY = "annually"
    AS_NEEDED = "as needed"
    NONE = "not updated"


def new_dataset_id() -> str:
    """A fresh Socrata-style ``abcd-1234`` id."""
    pick = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
    return f"{pick[:4]}-{pick[4:]}"


def check_dataset_id(dataset_id: str) -> str:
    if not DATASET_ID.match(dataset_id):
        raise InvalidRequest(
            f"'{dataset_id}' is not a dataset id: ids look like 'abcd-1234' "
            "(four lowercase letters or digits, a dash, four more).",
            dataset_id=dataset_id,
        )
    return dataset_id


def check_version_number(text: str, parameter: str = "$$version") -> int:
    """A version number as a client wrote it (``$$version=3``, ``?version=3``): a whole
    number from 1; InvalidRequest naming the parameter otherwise."""
    if not text.isascii() or not text.isdigit() or int(text) < 1 or len(text) > 18:
        raise InvalidRequest(
            f"'{parameter}' must be a version number, a whole number from 1 (got '{text}'); "
            "the dataset's versions are listed at /api/views/{id}/versions.json.",
            parameter=parameter,
            value=text,
        )
    return int(text)


class Column(BaseModel):
    """One published column: what the API and the data dictionary show."""

    field_name: str
    name: str
    type: ColumnType
    description: str = ""
    # Internal columns are served only to staff; everyone else never learns they exist.
    internal: bool = False
    # A list column: each cell holds several values joined by this separator ("; ").
    separator: str | None = None
    # Display labels of category values ({"cew_display": "CEW (Taser) displayed"}); the API
    # keeps the codes, pages show the labels.
    labels: dict[str, str] = Field(default_factory=dict)
    # Values that mean "not known" (UNK): percentages of the column leave them out.
    unknown_values: list[str] = Field(default_factory=list)

    def label(self, value: str) -> str:
        """The value as pages show it: its label when the dataset file gives one."""
        return self.labels.get(value, value)

    def values_of(self, cell: str) -> list[str]:
        """The values of one cell: several for a list column, one otherwise."""
        if self.separator is None:
            return [cell]
        return [v.strip() for v in cell.split(self.separator.strip()) if v.strip()]

    @field_validator("type")
    @classmethod
    def _type_is_storable(cls, value: ColumnType) -> ColumnType:
        if value is ColumnType.MULTIPOLYGON:
            raise ValueError("multipolygon columns cannot be stored yet; use point")
        return value

    @field_validator("field_name")
    @classmethod
    def _field_name_is_identifier(cls, value: str) -> str:
        if not FIELD_NAME.match(value):
            raise ValueError(
                f"field name '{value}' must start with a lowercase letter and hold only "
                "lowercase letters, digits and underscores (at most 63 characters)"
            )
        return value


class Visibility(StrEnum):
    """Who may see a dataset at all."""

    PUBLIC = "public"  # everyone
    INTERNAL = "internal"  # staff accounts (admins, publishers, analysts)
    PRIVATE = "private"  # its owner and admins


class Benchmark(BaseModel):
    """A population dataset serving as the denominator of this dataset's rates."""

    dataset: str  # the population dataset's id
    column: str  # this dataset's field whose values are the groups (e.g. subject_race)
    group_field: str  # the population dataset's field naming the same groups
    count_field: str  # its field holding the number of people
    where: str = ""  # SoQL choosing the rows that apply (e.g. one census vintage)
    label: str = ""  # "Residents of Rutland city, 2010 Census"
    reference: str = ""  # the group other groups are compared with
    quality_field: str = ""  # a field saying whether a count is exact or approximate
    # Where the whole population's figure is: a field of the chosen rows holding it
    # (``total_field``), or the group naming the row that holds it (``total_group``); never
    # a sum of groups, which may overlap (Hispanic of any race) or miss some.
    total_field: str = ""
    total_group: str = ""
    # SoQL on the events choosing those by residents, when the data record residency, and
    # those whose residence is not known (neither residents nor, as far as anyone knows, not).
    residents_where: str = ""
    residence_unknown_where: str = ""


class ActivityLink(BaseModel):
    """Another dataset of the same agency whose rows are the activity this one's rows are a
    share of (arrests per 1,000 calls for service, force per 100 arrests)."""

    dataset: str
    per: int = 1000
    label: str = ""  # "calls for service"


class CountUnit(BaseModel):
    """A larger unit that rows make up together: an incident of several officer–subject
    rows, a call of several responding officers. Counted as distinct values of ``key``."""

    name: str  # the ``unit=`` slug ("incidents")
    key: str  # the field whose distinct values are the units ("case_number")
    noun: str = ""  # plural words for summaries ("incidents"); defaults to the name

    @field_validator("key")
    @classmethod
    def _key_is_field(cls, value: str) -> str:
        if not FIELD_NAME.match(value):
            raise ValueError(f"unit key '{value}' is not a field name")
        return value


class Coverage(BaseModel):
    """The period a dataset covers, as its publisher declares it (not its first and last
    record: a quiet fortnight at either end is still covered)."""

    start: date
    end: date


class DatasetMeta(BaseModel):
    """What a publisher says about a dataset; everything but its rows."""

    name: str
    description: str = ""
    agency: str = ""
    category: str = ""
    tags: list[str] = Field(default_factory=list)
    license: str = ""
    license_url: str = ""
    attribution: str = ""
    attribution_url: str = ""
    source_url: str = ""
    cadence: Cadence = Cadence.AS_NEEDED
    contact_name: str = ""
    contact_email: str = ""
    notes: str = ""
    # What one row is, in plain words and plural ("uses of force"), for generated summaries.
    row_noun: str = ""
    # Larger units rows make up (incidents by case number), counted by default in that
    # order; rows are always a unit too, named by ``row_noun``.
    units: list[CountUnit] = Field(default_factory=list)
    # The period the data cover, and the day they were extracted from the records system.
    coverage: Coverage | None = None
    extracted: date | None = None
    # What the rows cover, for rates between datasets ("all arrests", "traffic dispatches"):
    # an activity rate is offered only between datasets of the same scope.
    scope: str = ""
    # The timestamp field that says when each row happened (None: the first timestamp
    # field). Each new version's fresh rows are numbered in its order (store/ordering.py),
    # so top-N by time and date ranges read less; the summary's date column too.
    main_date: str | None = None
    # Columns whose most common values the summary states first (field names).
    highlights: list[str] = Field(default_factory=list)
    # The home page's fact about this dataset: the words for what its unit counts
    # ("uses of force"); empty: the dataset states no key fact.
    key_fact: str = ""
    # The columns the dataset page's table shows until a reader chooses others; empty: all.
    table_columns: list[str] = Field(default_factory=list)
    # A text field saying where each row happened (a block address, an intersection): a place
    # typed on the dataset page is placed at the mean point of the rows that hold it.
    address_field: str = ""
    benchmark: Benchmark | None = None
    activity: ActivityLink | None = None
    # Columns the dataset's dashboard counts by, in order (field names).
    dashboard: list[str] = Field(default_factory=list)
    # A number field the dashboard also totals by its first columns (e.g. officer_hours).
    dashboard_measure: str = ""
    # For event datasets: the fields an iCalendar feed of upcoming events is made of, and
    # the IANA time zone (``timezone``) their local start times are in.
    calendar: dict[str, str] = Field(default_factory=dict)
    # Number fields whose sums head the dataset page and dashboard for the filtered view
    # (e.g. staff hours and attendees of engagement events).
    totals: list[str] = Field(default_factory=list)
    # A GeoJSON file of the area's boundaries (city, wards) drawn under the dataset's map.
    boundary: str = ""
    # GeoJSON files of BLOTTER_LAYERS_DIR (this town's streets, parks) drawn under the
    # dataset's map after the portal's own BLOTTER_MAP_LAYERS (blotter/maplayers.py).
    map_layers: list[str] = Field(default_factory=list)
    # True for generated rows: every page that shows the dataset must say so.
    sample: bool = False
    visibility: Visibility = Visibility.PUBLIC
    owner: str = ""  # the account that created it ("" for datasets loaded from the CLI)
    # The column whose value names a row in SODA upserts and deletes; None: rows are
    # named by :id and rows without one are appended.
    row_identifier: str | None = None
    # Whether the history names the account that published each version; by default it
    # names only the agency.
    name_publishers: bool = False
    # What is withheld or generalised before rows are published (blotter/privacy.py).
    privacy: PrivacyRules = Field(default_factory=PrivacyRules)
    # The data-quality checks every write passes (blotter/quality.py).
    quality: QualityRules = Field(default_factory=QualityRules)

    @field_validator("license_url", "attribution_url", "source_url")
    @classmethod
    def _link_is_web_address(cls, value: str, info: ValidationInfo) -> str:
        if value and not info.context == STORED and safe_link(value) is None:
            raise PydanticCustomError(
                "link",
                "must be an absolute http:// or https:// address, not '{value}'",
                {"value": value[:200]},
            )
        return value

    @field_validator("map_layers")
    @classmethod
    def _layers_are_file_names(cls, value: list[str], info: ValidationInfo) -> list[str]:
        for name in value:
            if not LAYER_FILE.match(name) and info.context != STORED:
                raise PydanticCustomError(
                    "layer",
                    "must name a .geojson file by its name alone (letters, digits, - and _), "
                    "not '{value}'",
                    {"value": name[:200]},
                )
        return value

    @field_validator("contact_email")
    @classmethod
    def _contact_is_email(cls, value: str, info: ValidationInfo) -> str:
        if value and not info.context == STORED and safe_mailto(value) is None:
            raise PydanticCustomError(
                "email",
                "must be an email address (name@example.org), not '{value}'",
                {"value": value[:200]},
            )
        return value


class Role(StrEnum):
    """What an account may do (anonymous visitors have no account)."""

    ADMIN = "admin"  # everything
    PUBLISHER = "publisher"  # the datasets of their agency
    ANALYST = "analyst"  # reads internal datasets and columns


USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


class User(BaseModel):
    """A staff account."""

    name: str
    role: Role
    agency: str = ""
    created_at: datetime
    disabled: bool = False


class ApiToken(BaseModel):
    """An API token's record; its secret is shown once and stored only as a hash."""

    id: str
    user_name: str
    label: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class Session(BaseModel):
    """A signed-in browser: the cookie holds the id, the store only its hash."""

    user_name: str
    csrf: str  # the token every form of this session must send back
    created_at: datetime
    expires_at: datetime


class AuditEntry(BaseModel):
    """One recorded write, sign-in or read of internal data. Never edited once written."""

    at: datetime
    actor: str  # account name; "" for an anonymous request
    address: str
    action: str  # e.g. "rows.upsert", "dataset.publish", "login.failed", "read.internal"
    dataset_id: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)


class ChangeCounts(BaseModel):
    """What a row-level write did, as Socrata reports it."""

    created: int = 0
    updated: int = 0
    deleted: int = 0


class Version(BaseModel):
    """One immutable publish of a dataset's rows."""

    dataset_id: str
    number: int
    row_count: int
    created_at: datetime
    source: str = ""
    # Rows against the version before, by ``:id`` (the first version: every row added); a
    # row is changed when any of its fields differs, not when only ``:updated_at`` does.
    rows_added: int = 0
    rows_changed: int = 0
    rows_removed: int = 0
    note: str = ""  # the publisher's note on this version
    agency: str = ""  # the dataset's agency when the version was published
    # Removed by the retention setting: listed, but its rows can no longer be read.
    pruned: bool = False
    # Why it was pruned when not by the retention setting ("published before the privacy
    # rules of 2026-12-02"); empty: the retention setting removed it.
    pruned_reason: str = ""
    # What the dataset's privacy rules changed in this write (not stored with the version).
    privacy: dict[str, int] = Field(default_factory=dict)
    # The write's quality report (warnings, rows per check, completeness); kept by the store.
    quality: dict[str, Any] = Field(default_factory=dict)


class FieldChange(BaseModel):
    """One field of a changed row: its value before and after (a point is (lon, lat))."""

    field_name: str
    before: Any = None
    after: Any = None


class DiffRow(BaseModel):
    """One row of a diff: added (``values`` as it is now), removed (``values`` as it was),
    or changed (``changes``, field by field, in the dataset's column order)."""

    kind: str  # "added", "removed" or "changed"
    row_id: int
    values: dict[str, Any] = Field(default_factory=dict)
    changes: list[FieldChange] = Field(default_factory=list)


class VersionDiff(BaseModel):
    """What changed from one version of a dataset to another, as a reader may see it.

    The counts cover every row; ``rows`` is one page of them in ``:id`` order."""

    dataset_id: str
    from_version: int
    to_version: int
    added: int
    changed: int
    removed: int
    fields: list[str]  # the fields compared (those the reader may see), in column order
    rows: list[DiffRow]
    limit: int
    offset: int


class Dataset(BaseModel):
    """A dataset as readers see it: metadata, columns and the version being served."""

    id: str
    meta: DatasetMeta
    columns: list[Column]
    created_at: datetime
    updated_at: datetime
    data_as_of: datetime | None = None
    version: int = 0
    row_count: int = 0
    rows_updated_at: datetime | None = None
    # Set for a version that is no longer current: the history table its rows are read
    # from (the store's business; never serialized).
    history_table: str | None = Field(default=None, exclude=True)

    def column(self, field_name: str) -> Column | None:
        for col in self.columns:
            if col.field_name == field_name:
                return col
        return None


def main_date_column(columns: list[Column], main_date: str | None = None) -> Column | None:
    """The timestamp column that says when each row happened: ``main_date`` when it names one
    of ``columns`` with a timestamp type, else the first timestamp column (None: there is none)."""
    stamps = [c for c in columns if c.type is ColumnType.FLOATING_TIMESTAMP]
    named = next((c for c in stamps if c.field_name == main_date), None)
    return named or next(iter(stamps), None)
