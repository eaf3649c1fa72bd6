"""Uploaded files on disk: streamed there in constant memory, found again by the token a
preview page holds, named as the publisher sent them, removed once stale."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio

from blotter.errors import IngestError, InvalidRequest, PayloadTooLarge
from blotter.portal import Portal

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def uploads_dir(portal: Portal) -> Path:
    path = portal.settings.data_dir / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def save_upload(portal: Portal, chunks: AsyncIterator[bytes], filename: str) -> Path:
    """Stream an upload to disk in constant memory; 413 beyond the configured size."""
    limit = portal.settings.max_upload_mb * 1024 * 1024
    safe = _SAFE_NAME.sub("_", Path(filename).name)[-80:] or "upload.csv"
    if not safe.lower().endswith((".csv", ".xlsx", ".txt")):
        raise InvalidRequest(
            f"'{filename}' is not a CSV or XLSX file (the name must end in .csv or .xlsx).",
            file=filename,
        )
    target = uploads_dir(portal) / f"{secrets.token_hex(8)}-{safe}"
    size = 0
    try:
        async with await anyio.open_file(target, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(
                        f"The file is larger than {portal.settings.max_upload_mb} MB.",
                        file=filename,
                    )
                await out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise InvalidRequest(f"'{filename}' is empty.", file=filename)
    return target


@contextmanager
def named_as_sent(path: Path) -> Iterator[None]:
    """Errors about a saved upload name the file as the publisher sent it, never where the
    server saved it (its folder and the token before the name)."""
    try:
        yield
    except IngestError as err:
        sent = path.name.split("-", 1)[-1]
        for where in (str(path), path.name):
            err.message = err.message.replace(where, sent)
        err.args = (err.message,)
        err.data = {k: sent if v == str(path) else v for k, v in err.data.items()}
        raise


def staged_upload(portal: Portal, token: str) -> Path:
    """A saved upload named by the token a preview page holds."""
    if not re.fullmatch(r"[0-9a-f]{16}-[A-Za-z0-9._-]{1,80}", token):
        raise InvalidRequest("That upload is not known; upload the file again.")
    path = uploads_dir(portal) / token
    if not path.exists():
        raise InvalidRequest("That upload has expired; upload the file again.")
    return path


def upload_name(path: Path) -> str:
    """The name the publisher gave a saved upload (saved as ``<token>-<name>``)."""
    if re.fullmatch(r"[0-9a-f]{16}-.+", path.name):
        return path.name.split("-", 1)[1]
    return path.name


def remove_stale_uploads(portal: Portal) -> int:
    """Remove uploads older than their lifetime: previews never published, and files left
    by a server stopped mid-publish. Returns how many were removed."""
    oldest = time.time() - portal.settings.upload_lifetime_h * 3600
    removed = 0
    for path in uploads_dir(portal).iterdir():
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # removed meanwhile by another worker
            continue
    return removed
