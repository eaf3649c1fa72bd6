"""Storage: one interface (:class:`Store`), one engine per module."""

from __future__ import annotations

from blotter.settings import Settings
from blotter.store.base import RowStream, Store

__all__ = ["RowStream", "Store", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store the settings point at."""
    store = _engine_store(settings)
    store.build_rollups = settings.rollups
    return store


def _engine_store(settings: Settings) -> Store:
    if settings.database_url:
        from blotter.store.pgpool import PoolLimits
        from blotter.store.postgres import PostgresStore

        limits = PoolLimits(
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
            idle_s=settings.database_pool_idle_s,
            wait_s=settings.database_wait_s,
            busy_wait_s=settings.database_busy_wait_s,
        )
        return PostgresStore(
            settings.database_url,
            schema=settings.database_schema,
            limits=limits,
            read_url=settings.database_read_url or None,
        )
    from blotter.store.duckdb import DuckDBStore

    return DuckDBStore(
        settings.database_path,
        memory_limit_mb=settings.duckdb_memory_mb,
        min_free_mb=settings.duckdb_min_free_mb,
    )
