"""Settings, declared once: environment variables ``BLOTTER_*``, mirrored by CLI flags."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    duckdb_memory_mb: int = Field(
        1024,
        description="The most memory the embedded database may use for its cache and work, "
        "in MB; beyond it, work spills to disk. 0: DuckDB's default (most of the RAM).",
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
    default_limit: int = Field(1000, description="Rows per page when a query gives no $limit.")
    max_limit: int = Field(50000, description="The largest $limit a query may ask for.")
    query_timeout_s: float = Field(30.0, description="Queries running longer are stopped.")
    throttle_anonymous_per_minute: int = Field(
        600, description="API requests a minute per address without an app token; 0: no limit."
    )
    throttle_token_per_minute: int = Field(
        6000, description="API requests a minute per app token; 0: no limit."
    )
    max_write_mb: int = Field(
        50, description="The largest body a SODA write (upsert, replace) may send, in MB."
    )
    max_upload_mb: int = Field(
        2048, description="The largest file a publisher may upload in the browser, in MB."
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
    soda3_anonymous: bool = Field(
        True, description="Whether SODA3 (/api/v3) answers callers that send no app token."
    )
    app_tokens: list[str] = Field(
        default_factory=list,
        description="App tokens that get the higher limit (a JSON list); any other token is "
        "throttled like an anonymous caller.",
    )

    @field_validator("public_url")
    @classmethod
    def _public_url_is_absolute(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if value.strip() and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError("must be an absolute http:// or https:// address, or empty")
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
