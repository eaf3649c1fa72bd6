"""How much of a file a load may read: rows, and what an XLSX (a zip) may unpack to.

An XLSX is checked by the sizes its zip directory declares, before it is opened. Python's
zipfile never unpacks a part past its declared size (a part that holds more fails its
checksum), so the declared sizes bound the work even when they lie.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from blotter.errors import FileTooLarge, IngestError
from blotter.settings import Settings

# Parts smaller than this unpack to too little to matter, whatever their ratio.
_RATIO_FLOOR = 1 << 20


@dataclass(frozen=True)
class ReadLimits:
    max_rows: int = 50_000_000
    max_unpacked_bytes: int = 4096 << 20
    max_unpack_ratio: int = 200

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadLimits:
        return cls(
            max_rows=settings.max_upload_rows,
            max_unpacked_bytes=settings.max_unpacked_mb << 20,
            max_unpack_ratio=settings.max_unpack_ratio,
        )

    def too_many_rows(self, path: Path) -> FileTooLarge:
        return FileTooLarge(
            f"{path.name} has more than {self.max_rows:,} data rows, the most this portal "
            "loads from one file; reading stopped there and nothing was published.",
            file=str(path),
            max_rows=self.max_rows,
        )


def check_zip(path: Path, limits: ReadLimits) -> None:
    """Refuse an XLSX whose parts would unpack past the limits, reading only its directory."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise IngestError(
            f"Cannot open {path.name} as an Excel workbook: {err}", file=str(path)
        ) from None
    total = sum(p.file_size for p in parts)
    if total > limits.max_unpacked_bytes:
        raise FileTooLarge(
            f"{path.name} unpacks to {total / (1 << 20):,.0f} MB, more than the "
            f"{limits.max_unpacked_bytes >> 20:,} MB this portal unpacks; it was not opened. "
            "Save the sheet as CSV, or split it.",
            file=str(path),
            unpacked_bytes=total,
        )
    for part in parts:
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > _RATIO_FLOOR and ratio > limits.max_unpack_ratio:
            raise FileTooLarge(
                f"{path.name}: its part {part.filename} unpacks {ratio:,.0f} times its packed "
                f"size (to {part.file_size / (1 << 20):,.0f} MB), more than the "
                f"{limits.max_unpack_ratio:,} times a real workbook does; it was not opened.",
                file=str(path),
                part=part.filename,
                ratio=round(ratio),
            )
