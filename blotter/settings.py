"""Settings, declared once: environment variables ``BLOTTER_*``, mirrored by CLI flags."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
LOGO_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}


def _luminance(colour: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


class Settings(BaseSettings):
    """Everything an operator can set. Each field is documented in docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="BLOTTER_")

    data_dir: Path = Field(Path("data"), description="Where the embedded database file lives.")
    database_url: str = Field(
        "",
        description="postgresql://… to keep everything in PostgreSQL; empty: the embedded file.",
    )
    database_schema: str = Field("blotter", description="PostgreSQL schema holding the portal.")
    database_read_url: str = Field(
        "", description="postgresql://… of a read replica that takes the reads; empty: none."
    )
    database_pool_min: int = Field(
        1,
        ge=0,
        description="PostgreSQL connections each server process keeps open even when idle "
        "(per pool: a read replica has its own).",
    )
    database_pool_max: int = Field(
        8,
        ge=1,
        description="The most PostgreSQL connections each server process opens (per pool).",
    )
    database_pool_idle_s: float = Field(
        60.0,
        gt=0,
        description="An idle connection beyond the minimum is closed after this many "
        "seconds (one per pool per period), so a burst does not hold the server's slots.",
    )
    database_wait_s: float = Field(
        5.0,
        gt=0,
        description="How long a request waits for a PostgreSQL connection before it is "
        "answered 503 store.unavailable with Retry-After.",
    )
    database_busy_wait_s: float = Field(
        30.0,
        gt=0,
        description="How long a request queues for a PostgreSQL connection while the database "
        "answers but every connection of the pool is busy, before it is answered 503 "
        "store.busy with Retry-After (at least BLOTTER_DATABASE_WAIT_S).",
    )
    duckdb_memory_mb: int = Field(
        1024,
        description="The most memory the embedded database may use for its cache and work, "
        "in MB; beyond it, work spills to disk. 0: DuckDB's default (most of the RAM).",
    )
    duckdb_min_free_mb: int = Field(
        64,
        ge=0,
        description="The embedded database refuses writes (503 store.short-of-resources) "
        "while the disk holding it has less than this many MB free, before DuckDB is asked: "
        "DuckDB 1.5.5 aborts the whole process when some commits fail for want of room. "
        "0: no reserve.",
    )
    preload_statistics: bool = Field(
        True,
        description="Import the hotspot map's statistics libraries (SciPy, esda, libpysal) "
        "when the server starts, so its first hotspot map does not wait about 1.7 s of CPU "
        "for them; they hold about 160 MB for the life of the process. false: imported by "
        "the first hotspot map.",
    )
    export_files_mb: int = Field(
        10240,
        ge=0,
        description="The most disk the whole-version CSV exports kept under DATA_DIR/exports "
        "may take, in MB; beyond it the oldest are removed (and written again when next "
        "asked). Files of versions no longer current are removed whatever the bound.",
    )
    access_log: bool = Field(
        True,
        description="Write a line per request to the server's log (uvicorn's access log). "
        "false: no line, about 50 microseconds of CPU less per request, for a server "
        "behind a proxy that logs requests itself.",
    )
    host: str = Field("127.0.0.1", description="Address the web server listens on.")
    port: int = Field(8000, description="Port the web server listens on.")
    public_url: str = Field(
        "",
        description="The portal's address as readers reach it (https://data.example.gov), used "
        "in every absolute link (data.json, API examples, iCalendar ids); never taken from a "
        "request's Host header. Empty: http://HOST:PORT of the server itself.",
    )
    site_name: str = Field("Blotter", description="The portal's name in pages and the API.")
    agency_name: str = Field(
        "Rutland City and Takoma Park police departments",
        description="The department (or departments) publishing here, named first on the "
        "home page and beside the logo in every page's header.",
    )
    agency_logo: Path | None = Field(
        None,
        description="A local image file (SVG, PNG, JPEG or WebP) served by the portal as the "
        "agency's logo in the header; empty: the portal's own icon. Never a remote address.",
    )
    brand_colour: str = Field(
        "#102a43",
        description="The header's background (#rgb or #rrggbb); white text must keep 4.5:1 "
        "contrast on it.",
    )
    accent_colour: str = Field(
        "#0b5cad",
        description="Links and buttons (#rgb or #rrggbb); it must keep 4.5:1 contrast on white.",
    )
    default_limit: int = Field(1000, description="Rows per page when a query gives no $limit.")
    max_limit: int = Field(50000, description="The largest $limit a query may ask for.")
    query_timeout_s: float = Field(30.0, description="Queries running longer are stopped.")
    answer_cache_entries: int = Field(
        4096,
        ge=0,
        description="Answers (rows of a query, or an API answer's bytes) each server process "
        "keeps, least recently used first out; versions never change, so a kept answer is "
        "exact. 0: none kept.",
    )
    answer_cache_mb: int = Field(
        64,
        ge=0,
        description="The most memory, in MB, the kept answers take together; one answer "
        "larger than a sixteenth of it is never kept (large exports stream). 0: none kept.",
    )
    rollups: bool = Field(
        True,
        description="Count rows by a dataset's declared columns once per version, at "
        "publish, and answer counts grouped or filtered by them from those counts (exactly "
        "the answers the rows give). Off: publishes build none and every count reads the "
        "rows.",
    )
    stored_answers: bool = Field(
        True,
        description="Compute a dataset page's costliest answers (its summary, filter choices, "
        "map cells, key chart and map drawings) once per version, when it is published, and "
        "store them, so a "
        "server's first view of the version reads them instead of every row (a version never "
        "changes: they are the answers the rows give). Off: none stored or read.",
    )
    throttle_anonymous_per_minute: int = Field(
        600,
        description="Requests (API and pages) a minute per address without an app token; 0: none.",
    )
    throttle_token_per_minute: int = Field(
        6000, description="Requests (API and pages) a minute per app token; 0: no limit."
    )
    max_write_mb: int = Field(
        50, description="The largest body a SODA write (upsert, replace) may send, in MB."
    )
    max_upload_mb: int = Field(
        2048, description="The largest file a publisher may upload in the browser, in MB."
    )
    password_failures_per_address: int = Field(
        20,
        description="Wrong passwords an address may send (Basic or the sign-in form) within "
        "the failure window; past them it gets 429 before any password is hashed. 0: no limit.",
    )
    password_failure_window_s: int = Field(
        600, description="The window, in seconds, over which wrong passwords are counted."
    )
    password_checks_at_once: int = Field(
        4,
        description="Password hashes (Argon2, 64 MiB each) computed at once per process; "
        "further checks wait their turn.",
    )
    credential_cache_s: float = Field(
        10.0,
        description="Seconds a verified HTTP Basic credential is remembered (by the SHA-256 "
        "of the header), so scripts sending it on every call skip the password hash; an "
        "account disabled or a token revoked on another process takes up to this long to "
        "be refused there. 0: never remembered.",
    )
    max_url_bytes: int = Field(
        16384,
        ge=0,
        le=60_000,  # Uvicorn's parser refuses URLs past about 64 KB with its own plain text
        description="The longest URL (path and query string) a request may have, in bytes; "
        "longer is a 414 with the portal's error body. Long queries go in a SODA3 body.",
    )
    max_query_body_kb: int = Field(
        1024, description="The largest SODA3 query body, in KB; larger is a 413."
    )
    max_upload_rows: int = Field(
        50_000_000, description="The most data rows a file may hold; more stops the read."
    )
    max_unpacked_mb: int = Field(
        4096,
        description="The most an XLSX file (a zip) may unpack to, in MB, by its own declared "
        "sizes, checked before it is opened.",
    )
    max_unpack_ratio: int = Field(
        200,
        description="The most a part of an XLSX file may grow when unpacked (unpacked size "
        "over packed size); zip bombs grow thousands of times.",
    )
    preview_check_rows: int = Field(
        100_000,
        description="Rows of an upload a preview reads and validates; the whole file is "
        "validated when it is published.",
    )
    upload_lifetime_h: float = Field(
        24.0,
        description="Hours an uploaded file waits to be published after its preview; older "
        "ones (and those left by a stopped server) are removed, also when the server starts.",
    )
    secure_cookies: bool = Field(
        False,
        description="Mark session cookies Secure even when the request looks like plain HTTP "
        "(set it behind a proxy that ends TLS).",
    )
    tile_url: str = Field(
        "",
        description="A map tile server ({z}/{x}/{y} URL) drawn under dataset maps when the "
        "browser can reach it; empty: maps show boundaries and points only, fully offline.",
    )
    tile_attribution: str = Field("", description="The credit line the tile server asks for.")
    boundaries_dir: Path | None = Field(
        None,
        description="Where boundary GeoJSON files named by datasets live; empty: "
        "DATA_DIR/boundaries, then the files shipped with the samples.",
    )
    map_layers: list[str] = Field(
        default_factory=list,
        description="GeoJSON files drawn under every dataset map, bottom first (a JSON list "
        "of file names in LAYERS_DIR): streets as lines with a `name` property (typed places "
        "are found on them too), parks and areas as polygons. Each is checked when the "
        "portal starts.",
    )
    layers_dir: Path | None = Field(
        None, description="Where the MAP_LAYERS files live; empty: DATA_DIR/layers."
    )
    layer_attribution: str = Field(
        "",
        description="The credit line of MAP_LAYERS files that carry no top-level "
        "`attribution` of their own (an OpenStreetMap extract: © OpenStreetMap "
        "contributors, ODbL).",
    )
    soda3_anonymous: bool = Field(
        True, description="Whether SODA3 (/api/v3) answers callers that send no app token."
    )
    app_tokens: list[str] = Field(
        default_factory=list,
        description="App tokens that get the higher limit (a JSON list); any other token is "
        "throttled like an anonymous caller.",
    )

    keep_versions: str = Field(
        "all",
        description="Which versions of each dataset stay readable: 'all', or 'last:N,monthly' "
        "(the last N versions and the last version of each calendar month; 'last:N' alone "
        "keeps only the last N). `blotter versions prune` applies it.",
        pattern=r"^\s*(all|last:\s*[1-9][0-9]*\s*(,\s*monthly)?)\s*$",
    )

    @field_validator("public_url")
    @classmethod
    def _public_url_is_absolute(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if value.strip() and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError("must be an absolute http:// or https:// address, or empty")
        return value

    @field_validator("brand_colour", "accent_colour")
    @classmethod
    def _colour_is_hex_with_contrast(cls, value: str) -> str:
        # Only a hex colour reaches the generated stylesheet, so no setting can inject CSS;
        # both colours sit behind or under text, so each must keep WCAG's 4.5:1 with white.
        if not _HEX.fullmatch(value.strip()):
            raise ValueError(f"must be a hex colour such as #102a43, not {value[:40]!r}")
        colour = value.strip().lower()
        if len(colour) == 4:
            colour = "#" + "".join(c * 2 for c in colour[1:])
        ratio = 1.05 / (_luminance(colour) + 0.05)
        if ratio < 4.5:
            raise ValueError(
                f"{colour} has {ratio:.2f}:1 contrast with white; text needs 4.5:1 (darker)"
            )
        return colour

    @field_validator("agency_logo", mode="before")
    @classmethod
    def _logo_is_local_image(cls, value: object) -> Path | None:
        if value is None or str(value).strip() in ("", "."):
            return None
        if "://" in str(value) or str(value).startswith("//"):  # before a Path folds it
            raise ValueError("must be a file on this server, not a web address")
        value = Path(str(value))
        if value.suffix.lower() not in LOGO_TYPES:
            raise ValueError(f"must be one of {', '.join(LOGO_TYPES)}, not {value.name!r}")
        return value

    @property
    def base_url(self) -> str:
        """The portal's absolute address, without a trailing slash."""
        if self.public_url.strip():
            return self.public_url.strip().rstrip("/")
        # A wildcard address is where the server listens, not where anyone can reach it.
        host = "localhost" if self.host in ("", "0.0.0.0", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "blotter.duckdb"
