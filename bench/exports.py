"""The CSV export section of a run: each kind of export timed apart, with the server's memory.

Blotter writes a version's whole export to a file on its first request and sends later ones
from it, while a filtered export streams from the engine; a fast file must not hide a slow
first export, so each kind has its own figures (and its own verdicts, ``bench.targets``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx

from bench.measure import RssSampler, stream_download
from bench.systems import Running, Server

# The filtered export: one district's rows, every one of them (rows.csv has no limit).
EXPORT_DISTRICT = "3"
EXPORT_WHERE = {"$where": f"district = '{EXPORT_DISTRICT}'"}


def exports(running: Running) -> dict[str, dict[str, Any]]:
    """Each server's CSV exports, each kind timed apart with its rate and the server's memory.
    Blotter writes a version's whole export to a file on its first request and sends later
    ones from it, while a filtered export streams from the engine: ``first`` (no file yet),
    ``repeat`` (from the file) and ``filtered`` (every row of one district, no limit).
    Datasette streams every export from SQLite: its one ``whole`` export, as before."""
    out: dict[str, dict[str, Any]] = {}
    whole = running.rows + 1
    filtered = _rows_in_district(running.csv_path, EXPORT_DISTRICT) + 1
    with httpx.Client(timeout=3600) as client:
        for key, server in running.servers.items():
            url = running.export_url(key)
            if key == "datasette":
                out[key] = {"whole": _export(client, server, url, {}, whole, None)}
                continue
            # The data folder's export files, removed so the first export is a first.
            exported = running.targets[key.removeprefix("blotter-")].data_dir / "exports"
            shutil.rmtree(exported, ignore_errors=True)
            out[key] = {
                "first": _export(client, server, url, {}, whole, False),
                "repeat": _export(client, server, url, {}, whole, True),
                "filtered": _export(client, server, url, EXPORT_WHERE, filtered, False),
            }
    return out


def _export(
    client: httpx.Client,
    server: Server,
    url: str,
    params: dict[str, str],
    lines: int,
    from_file: bool | None,
) -> dict[str, Any]:
    """One export's figures, after checking it had every line and came the way expected
    (from the export file or not; ``None``: either)."""
    server.reset_peak()
    idle = server.rss_mb()
    sampler = RssSampler(server.rss_mb)
    with sampler.watching():
        size, got, seconds, sent_from_file = stream_download(client, url, params)
    if got != lines:
        raise RuntimeError(f"{url} {params} had {got:,} lines, not {lines:,}")
    if from_file is not None and sent_from_file != from_file:
        how = "from its file" if sent_from_file else "streamed"
        raise RuntimeError(f"{url} {params} was {how}, which this measure does not expect")
    return {
        "bytes": size,
        "lines": got,
        "seconds": seconds,
        "mb_per_s": size / 1e6 / seconds,
        "rss_before_mb": idle,
        "peak_rss_mb": max(sampler.peak_mb, server.peak_rss_mb()),
    }


def _rows_in_district(csv_path: Path, district: str) -> int:
    """The generated rows of one district, counted from the CSV itself (not by a system)."""
    import pyarrow.compute as pc
    from pyarrow import csv, string

    table = csv.read_csv(
        csv_path,
        convert_options=csv.ConvertOptions(
            include_columns=["district"], column_types={"district": string()}
        ),
    )
    return int(pc.sum(pc.equal(table["district"], district)).as_py() or 0)
