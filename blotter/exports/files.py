"""A version's whole CSV export, written once to disk and served from there, with its SHA-256.

A version never changes, so its unfiltered ``rows.csv`` is the same bytes for everyone who
sees the same columns: the file is keyed by the dataset, its version and the columns shown
(the public's, or staff's with the internal ones), under ``DATA_DIR/exports/``. It is
written on its first request, not at publish: a publish stays as fast as its rows, nobody
pays for versions nobody downloads, and staff's column sets are only known when asked.

Writing goes to a temporary file that is renamed into place once complete (its checksum,
computed on the way, is renamed into place first), so a crash or two first requests at
once never leave or serve half a file; within a process one writer per file, the other
request waits and reads it. When a file is written, files of versions no longer current
are removed (their checksums are kept: they are small, and the history lists them), then
the oldest files until all fit in ``BLOTTER_EXPORT_FILES_MB``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from blotter.access import ANONYMOUS, as_seen_by
from blotter.errors import NotFound
from blotter.exports.stream import csv_body
from blotter.model import Dataset
from blotter.queries import prepare_query
from blotter.settings import Settings
from blotter.store.base import Store

FOLDER = "exports"
_NAME = re.compile(r"(?P<id>[a-z0-9]{4}-[a-z0-9]{4})-v(?P<version>\d+)-[0-9a-f]{16}\.csv")
# A temporary file not written to for this long was left by a writer that died.
_ABANDONED_S = 600.0
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class ExportFile:
    """A written export: where it is, its size and times, the SHA-256 of its bytes."""

    path: Path
    sha256: str
    stat: os.stat_result


def folder(settings: Settings) -> Path:
    return settings.data_dir / FOLDER


def file_stem(dataset: Dataset) -> str:
    """``<id>-v<version>-<digest>``: the digest tells column sets apart (and a dataset deleted
    and made again under the same id, by its creation time)."""
    shown = [[c.field_name, str(c.type)] for c in dataset.columns]
    key = json.dumps([dataset.created_at.isoformat(), shown])
    return f"{dataset.id}-v{dataset.version}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def open_export(settings: Settings, dataset: Dataset) -> BinaryIO | None:
    """The export file of ``dataset``, opened for reading, if it is written. Open, its bytes
    stay readable whoever removes it (a sweep, another process) before they are all sent."""
    try:
        return (folder(settings) / f"{file_stem(dataset)}.csv").open("rb")
    except FileNotFoundError:
        return None


def export_file(store: Store, settings: Settings, dataset: Dataset) -> ExportFile:
    """The export file of ``dataset`` (a version, in the columns its reader sees), written
    now if it does not exist yet."""
    stem = file_stem(dataset)
    path = folder(settings) / f"{stem}.csv"
    found = _existing(path)
    if found is not None:
        return found
    with _lock(path):
        found = _existing(path) or _write(store, settings, dataset, path)
    sweep(store, settings, keep=path)
    return found


def export_body(store: Store, settings: Settings, dataset: Dataset) -> Iterator[bytes]:
    """The export's bytes for a first request, so it need not wait for the whole file: they
    are written to the file on the way, which is put in place after the last one. Should
    another request be writing it already, they are only streamed; should the client go
    away, the partial file is removed. The lock is taken inside the generator, so that its
    ``finally`` always releases it."""
    path = folder(settings) / f"{file_stem(dataset)}.csv"
    lock = _lock(path)
    if not lock.acquire(blocking=False):
        yield from _body(store, settings, dataset)
        return
    try:
        try:
            source = path.open("rb")  # written meanwhile by the request that held the lock
        except FileNotFoundError:
            yield from _written(store, settings, dataset, path)
        else:
            with source:
                while chunk := source.read(1 << 20):
                    yield chunk
    finally:
        lock.release()
    sweep(store, settings, keep=path)


def public_checksum(store: Store, settings: Settings, dataset: Dataset) -> str:
    """The SHA-256 (hex) of the version's canonical CSV: the bytes of ``GET
    /api/views/{id}/rows.csv`` at that version in the public's columns (internal columns
    are left out whoever asks). Read beside the file when it was written, else written."""
    public = as_seen_by(ANONYMOUS, dataset)
    sums = _sums(folder(settings) / f"{file_stem(public)}.csv")
    try:
        return sums.read_text().strip()
    except FileNotFoundError:
        return export_file(store, settings, public).sha256


def sweep(store: Store, settings: Settings, *, keep: Path | None = None) -> None:
    """Remove the files of versions no longer current (and of deleted datasets, with their
    checksums), abandoned temporary files, then the oldest files beyond the size bound."""
    here = folder(settings)
    current: dict[str, int | None] = {}
    kept: list[tuple[float, int, Path]] = []
    for path in here.iterdir() if here.is_dir() else ():
        name = _NAME.fullmatch(path.name)
        try:
            stat = path.stat()
        except FileNotFoundError:  # another process swept it
            continue
        if path.name.endswith(".tmp"):
            if time.time() - stat.st_mtime > _ABANDONED_S:
                path.unlink(missing_ok=True)
            continue
        if name is None:
            continue
        dataset_id = name["id"]
        if dataset_id not in current:
            current[dataset_id] = _current_version(store, dataset_id)
        if current[dataset_id] is None:
            _sums(path).unlink(missing_ok=True)
        if current[dataset_id] != int(name["version"]) and path != keep:
            path.unlink(missing_ok=True)
        else:
            kept.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in kept)
    for _, size, path in sorted(kept):
        if total <= settings.export_files_mb * 1024 * 1024:
            break
        if path != keep:
            path.unlink(missing_ok=True)
            total -= size


def _current_version(store: Store, dataset_id: str) -> int | None:
    try:
        return store.get_dataset(dataset_id).version
    except NotFound:
        return None


def _sums(path: Path) -> Path:
    return path.with_suffix(".sha256")


def _existing(path: Path) -> ExportFile | None:
    """The file and its checksum when both are there (the checksum is put in place first)."""
    try:
        return ExportFile(path, _sums(path).read_text().strip(), path.stat())
    except FileNotFoundError:
        return None


def _lock(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def _write(store: Store, settings: Settings, dataset: Dataset, path: Path) -> ExportFile:
    for _ in _written(store, settings, dataset, path):
        pass
    found = _existing(path)
    assert found is not None
    return found


def _body(store: Store, settings: Settings, dataset: Dataset) -> Iterator[bytes]:
    """Every row in the dataset's columns, as ``rows.csv`` sends them."""
    prepared = prepare_query(store, dataset, {}, settings, unlimited=True)
    return csv_body(store, settings, prepared, timed=False)


def _written(store: Store, settings: Settings, dataset: Dataset, path: Path) -> Iterator[bytes]:
    """The export's bytes, written on the way to a temporary file; after the last, the
    checksum then the file are renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = _body(store, settings, dataset)
    digest = hashlib.sha256()
    with _temporary(path) as temporary:
        with temporary.open("wb") as out:
            for chunk in body:
                digest.update(chunk)
                out.write(chunk)
                yield chunk
            out.flush()
            os.fsync(out.fileno())
        with _temporary(path) as sums:
            sums.write_text(digest.hexdigest() + "\n")
            os.replace(sums, _sums(path))
        os.replace(temporary, path)


@contextmanager
def _temporary(path: Path) -> Iterator[Path]:
    """A fresh temporary name beside ``path`` (unique to this writer), removed unless it was
    renamed into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)
