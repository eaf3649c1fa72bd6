"""The storage interface every engine implements.

The layers above talk only to :class:`Store`. An engine keeps datasets, their metadata and
immutable versions; ``publish`` makes a new version visible atomically, and queries run
against the version a reader was handed, so a concurrent publish never changes a page
in the middle of a read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
from sqlglot import exp

from blotter.model import ApiToken, Column, Dataset, DatasetMeta, User, Version


@dataclass
class RowStream:
    """Rows of one query, fetched lazily so exports run in constant memory."""

    rows: Iterator[tuple[Any, ...]]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return self.rows


class Store(ABC):
    """Datasets, metadata and versions on one database engine."""

    engine: str  # a sqlglot dialect name: "duckdb" or "postgres"

    @abstractmethod
    def close(self) -> None: ...

    # --- catalog ---------------------------------------------------------------------

    @abstractmethod
    def list_datasets(self) -> list[Dataset]:
        """Every dataset, as served now."""

    @abstractmethod
    def get_dataset(self, dataset_id: str) -> Dataset:
        """One dataset as served now; raises DatasetNotFound."""

    @abstractmethod
    def create_dataset(
        self, meta: DatasetMeta, columns: list[Column], dataset_id: str | None = None
    ) -> Dataset:
        """Register a dataset with no rows yet; a fresh id is made when none is given."""

    @abstractmethod
    def update_metadata(self, dataset_id: str, meta: DatasetMeta) -> Dataset: ...

    @abstractmethod
    def delete_dataset(self, dataset_id: str) -> None: ...

    # --- versions --------------------------------------------------------------------

    @abstractmethod
    def publish(
        self,
        dataset_id: str,
        columns: list[Column],
        batches: Iterable[pa.RecordBatch],
        *,
        source: str = "",
        data_as_of: datetime | None = None,
    ) -> Version:
        """Write every batch as a new version and switch readers to it in one transaction.

        Batches hold the physical columns of ``columns`` (see ``blotter.schema``), without
        system fields. If iterating the batches raises, nothing changes.
        """

    @abstractmethod
    def versions(self, dataset_id: str) -> list[Version]:
        """Every version kept, newest first."""

    # --- accounts --------------------------------------------------------------------

    @abstractmethod
    def add_user(self, user: User, password_hash: str) -> User:
        """Store a new account; Conflict when the name is taken."""

    @abstractmethod
    def user_credentials(self, name: str) -> tuple[User, str] | None:
        """An account and its password hash, or None."""

    @abstractmethod
    def list_users(self) -> list[User]: ...

    @abstractmethod
    def add_token(self, token: ApiToken, secret_hash: str) -> ApiToken: ...

    @abstractmethod
    def token_with_hash(self, token_id: str) -> tuple[ApiToken, str] | None:
        """A token's record and its secret's hash, or None."""

    @abstractmethod
    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]: ...

    @abstractmethod
    def mark_token(
        self, token_id: str, *, used_at: datetime | None = None, revoked_at: datetime | None = None
    ) -> None:
        """Record a token's last use, or revoke it; DatasetNotFound-like NotFound if unknown."""

    # --- reads -----------------------------------------------------------------------

    @abstractmethod
    def execute(
        self, dataset: Dataset, select: exp.Select, *, timeout_s: float | None = None
    ) -> RowStream:
        """Run a compiled query against the version ``dataset`` was read at."""
