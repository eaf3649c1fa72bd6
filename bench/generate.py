"""Deterministic incident datasets shaped like a real city's calls for service.

Every generated row starts from a real record of Oakland's calls for service (the joint
distribution of call type, description, beat, district, status and block address is the
real one), gets a date spread over ten years with the real time of day, a point jittered
around the real one, and a short dispatcher narrative for text search. The same seed and
size always give the same bytes.
"""

from __future__ import annotations

import csv
import functools
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tests.paths import TEST_DATA

# The located calls of the real feed and the columns read below (see tests/data/README.md).
OAKLAND_CALLS = TEST_DATA / "oakland_calls_located.csv.gz"
FIRST_DAY = np.datetime64("2015-01-01")
DAYS = 3653  # 2015-01-01 .. 2024-12-31
BATCH_ROWS = 500_000
EARTH_RADIUS_M = 6_371_008.8  # as blotter.soql.functions measures distances
# Share of rows without a location, as in the real feed (about 8.6% lack coordinates).
UNLOCATED = 0.086
# About 40 m of jitter (in degrees at Oakland's latitude), so points are not stacked.
JITTER_DEG = 0.0004
OUTCOMES = (
    "Officer advised the caller.",
    "Report taken.",
    "Unable to locate.",
    "Gone on arrival.",
    "Referred to another agency.",
    "Citation issued.",
    "Suspect detained, released at scene.",
    "Area checked, all in order.",
    "Medical aid provided by fire department.",
    "Tow requested.",
    "Caller declined a report.",
    "Arrest made.",
)
COLUMNS = (
    "id",
    "event_number",
    "received_at",
    "call_type",
    "description",
    "beat",
    "district",
    "status",
    "address",
    "narrative",
    "latitude",
    "longitude",
)


@dataclass(frozen=True)
class Templates:
    """The real records rows are drawn from, column by column."""

    call_type: pa.Array
    description: pa.Array
    beat: pa.Array
    district: pa.Array
    status: pa.Array
    address: pa.Array
    seconds_of_day: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray

    def __len__(self) -> int:
        return len(self.seconds_of_day)


@functools.cache  # read by the generator, the load mix and the boundary: once a run
def load_templates(path: Path = OAKLAND_CALLS) -> Templates:
    """The located real calls (a point is needed to jitter around), from a gzipped CSV."""
    with gzip.open(path, "rt", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["latitude"] and r["longitude"]]
    rows.sort(key=lambda r: r["event_number"])  # file order must not matter
    times = [datetime.fromisoformat(r["received_local"]) for r in rows]
    seconds = np.array([t.hour * 3600 + t.minute * 60 + t.second for t in times])
    latitude = np.array([float(r["latitude"]) for r in rows])
    longitude = np.array([float(r["longitude"]) for r in rows])
    for shared in (seconds, latitude, longitude):  # one copy for every caller: read-only
        shared.flags.writeable = False
    return Templates(
        call_type=pa.array([r["call_type_code"] for r in rows]),
        description=pa.array([r["call_description"] for r in rows]),
        beat=pa.array([r["beat"] or None for r in rows]),
        district=pa.array([r["police_district"] or None for r in rows]),
        status=pa.array([r["status"] for r in rows]),
        address=pa.array([r["location"] for r in rows]),
        seconds_of_day=seconds,
        latitude=latitude,
        longitude=longitude,
    )


def batches(
    rows: int, seed: int = 2026, templates: Templates | None = None
) -> Iterator[pa.RecordBatch]:
    """Record batches of the generated dataset, ``id`` 1..rows in order."""
    templates = templates or load_templates()
    rng = np.random.default_rng(seed)
    outcomes = pa.array(OUTCOMES)
    for start in range(0, rows, BATCH_ROWS):
        n = min(BATCH_ROWS, rows - start)
        pick = pa.array(rng.integers(0, len(templates), n))
        # More calls in later years: day weights rise by about 4% a year.
        day = np.floor(DAYS * rng.random(n) ** 0.9).astype("int64")
        second = templates.seconds_of_day[pick.to_numpy()]
        received = (FIRST_DAY + day).astype("datetime64[s]") + second
        located = rng.random(n) >= UNLOCATED
        lat = templates.latitude[pick.to_numpy()] + rng.normal(0, JITTER_DEG, n)
        lon = templates.longitude[pick.to_numpy()] + rng.normal(0, JITTER_DEG, n)
        ids = np.arange(start + 1, start + n + 1)
        description = templates.description.take(pick)
        address = templates.address.take(pick)
        outcome = outcomes.take(pa.array(rng.integers(0, len(OUTCOMES), n)))
        narrative = pc.binary_join_element_wise(
            pc.utf8_capitalize(description), " reported near ", address, ". ", outcome, ""
        )
        event_number = pc.binary_join_element_wise(
            "LOP",
            pc.strftime(pa.array(received), format="%y%m%d"),
            pc.utf8_lpad(pc.cast(pa.array(ids), pa.string()), 8, "0"),
            "",
        )
        yield pa.record_batch(
            [
                pa.array(ids),
                event_number,
                pa.array(received),
                templates.call_type.take(pick),
                description,
                templates.beat.take(pick),
                templates.district.take(pick),
                templates.status.take(pick),
                address,
                narrative,
                pa.array(np.round(lat, 6), mask=~located),
                pa.array(np.round(lon, 6), mask=~located),
            ],
            names=list(COLUMNS),
        )


def write_csv(path: Path, rows: int, seed: int = 2026) -> Path:
    """The dataset as a CSV file (ISO timestamps), written batch by batch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    options = pacsv.WriteOptions(include_header=True)
    with pa.OSFile(str(tmp), "wb") as sink:
        writer = None
        for batch in batches(rows, seed):
            if writer is None:
                writer = pacsv.CSVWriter(sink, batch.schema, write_options=options)
            writer.write_batch(batch)
        if writer is not None:
            writer.close()
    tmp.rename(path)
    return path
