"""Every figure the pages compute, as JSON a journalist can reproduce: rates against the
population benchmark, with intervals, small-number notes and the method card; trends,
hotspots, and when rows happen (hour of day × weekday, a period against the year before)."""

from __future__ import annotations

import math
from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from blotter.access import visible_dataset
from blotter.analysis.activity import activity_rates
from blotter.analysis.benchmarks import population_total, rate_table
from blotter.analysis.counts import count_values
from blotter.analysis.hotspots import hotspots_of
from blotter.analysis.timing import WEEKDAYS, hour_by_weekday, year_on_year
from blotter.analysis.trends import NOISE_P, PERIODS, trend
from blotter.analysis.units import unit_of, units_of
from blotter.auth import viewer_of
from blotter.errors import InvalidRequest
from blotter.model import Column, Dataset, check_dataset_id
from blotter.portal import portal_of
from blotter.queries import answer_key, answers

router = APIRouter()


@router.get("/api/analysis/v1/{dataset_id}/rates.json")
def rates(request: Request, dataset_id: str) -> JSONResponse:
    """Rates per 1,000 residents by the benchmark's column; ``$where`` narrows the events."""
    portal = portal_of(request)
    viewer = viewer_of(request, portal.store)
    dataset = visible_dataset(portal.store, viewer, check_dataset_id(dataset_id))
    if dataset.meta.benchmark is None:
        raise InvalidRequest(f"Dataset {dataset_id} names no population benchmark.")
    population = visible_dataset(portal.store, viewer, dataset.meta.benchmark.dataset)
    unit = unit_of(dataset, request.query_params.get("unit"))
    residents = _flag(request, "residents")
    table = rate_table(
        portal.store,
        dataset,
        population,
        portal.settings,
        request.query_params.get("$where"),
        unit,
        residents,
    )
    return JSONResponse(
        {
            "dataset": dataset.id,
            "version": dataset.version,
            "by": dataset.meta.benchmark.column,
            "unit": unit.name,
            "units": [u.name for u in units_of(dataset)],
            "counted": unit.noun,
            "reference": table.reference,
            "per": 1000,
            "per_years": 1,
            "rate": "per 1,000 residents per year",
            "period": {
                "start": table.first.date().isoformat() if table.first else None,
                "end": table.last.date().isoformat() if table.last else None,
                "years": table.years,
            },
            "residents_only": table.residents_only,
            "total": table.total,
            "non_residents": table.non_residents,
            "residence_unknown": table.residence_unknown,
            "confidence": 0.95,
            "groups": [asdict(r) for r in table.rows],
            "left_out": table.unmatched,
            "method": asdict(table.card),
        },
        media_type="application/json; charset=utf-8",
    )


def _flag(request: Request, name: str) -> bool:
    """A yes/no query parameter; anything but true/false is refused, naming it."""
    text = request.query_params.get(name, "false").lower()
    if text not in ("true", "false"):
        raise InvalidRequest(f"'{name}' must be true or false, not '{text}'.", parameter=name)
    return text == "true"


@router.get("/api/analysis/v1/{dataset_id}/counts.json")
def counts_json(request: Request, dataset_id: str) -> JSONResponse:
    """Units (``unit=``, incidents by default) or the sum of ``measure`` by the values of
    the column ``by``, as charts count them: each value of a list column once per unit;
    ``$where`` narrows the rows."""
    portal = portal_of(request)
    dataset = visible_dataset(
        portal.store, viewer_of(request, portal.store), check_dataset_id(dataset_id)
    )
    column = _column_param(dataset, request, "by")
    if column is None:
        raise InvalidRequest("'by' names the column to count by, e.g. by=subject_race.")
    measure = _column_param(dataset, request, "measure")
    unit = unit_of(dataset, request.query_params.get("unit"))
    counts = count_values(
        portal.store,
        dataset,
        portal.settings,
        column,
        request.query_params.get("$where"),
        unit,
        measure,
    )
    return JSONResponse(
        {
            "dataset": dataset.id,
            "version": dataset.version,
            "by": column.field_name,
            "list": column.separator is not None,
            "unit": unit.name,
            "counted": measure.field_name if measure else unit.noun,
            "units": [u.name for u in units_of(dataset)],
            "known": counts.known,
            "values": [
                {
                    "value": c.value,
                    "label": c.label,
                    "n": c.count,
                    "unknown": c.unknown,
                    "share": c.share,
                }
                for c in counts.values
            ],
        },
        media_type="application/json; charset=utf-8",
    )


def _column_param(dataset: Dataset, request: Request, name: str) -> Column | None:
    field = request.query_params.get(name)
    if field is None:
        return None
    column = dataset.column(field)
    if column is None:
        raise InvalidRequest(
            f"'{name}': '{field}' is not a column of dataset {dataset.id}.", parameter=name
        )
    return column


@router.get("/api/analysis/v1/{dataset_id}/hotspots.geojson")
def hotspots(request: Request, dataset_id: str) -> Response:
    """Gi* hotspot cells of the located units (``unit=``, the dataset's default when absent;
    ``$where`` narrows them, ``cell`` in metres)."""
    portal = portal_of(request)
    viewer = viewer_of(request, portal.store)
    dataset = visible_dataset(portal.store, viewer, check_dataset_id(dataset_id))
    cell = _cell_size(request.query_params.get("cell", "250"))
    where = request.query_params.get("$where")
    unit = unit_of(dataset, request.query_params.get("unit"))
    media_type = "application/vnd.geo+json; charset=utf-8"
    # The answer's bytes are kept with the version's answers: a grid of thousands of cells
    # takes longer to write as JSON than to find once the cells are kept.
    cache = answers(portal.store, portal.settings)
    key = answer_key(dataset, ("hotspots", where or "", cell, unit.name), "geojson")
    kept = cache.get(key)
    if kept is None:
        found = hotspots_of(portal.store, dataset, portal.settings, where, cell, unit)
        kept = found.geojson_bytes()
        cache.put(key, kept, len(kept))
    return Response(kept, media_type=media_type)


def _cell_size(text: str) -> float:
    """``cell`` in metres: a plain finite number (float() also reads 'nan' and 'inf')."""
    try:
        cell = float(text)
    except ValueError:
        cell = math.nan
    if not math.isfinite(cell):
        shown = text if len(text) <= 30 else f"{text[:27]}…"
        raise InvalidRequest(
            f"'cell' must be a number of metres from 25 to 10,000, not '{shown}'.",
            parameter="cell",
        )
    return cell


@router.get("/api/analysis/v1/{dataset_id}/trend.json")
def trend_json(request: Request, dataset_id: str) -> JSONResponse:
    """Counts per ``period`` (month, quarter, year) with the change from the one before and
    whether it is more than noise; ``$where`` narrows the rows."""
    portal = portal_of(request)
    dataset = visible_dataset(
        portal.store, viewer_of(request, portal.store), check_dataset_id(dataset_id)
    )
    period = request.query_params.get("period", "year")
    unit = unit_of(dataset, request.query_params.get("unit"))
    residents = None
    if dataset.meta.benchmark is not None:
        population = visible_dataset(
            portal.store, viewer_of(request, portal.store), dataset.meta.benchmark.dataset
        )
        residents = population_total(portal.store, dataset, population, portal.settings)
    rows = trend(
        portal.store,
        dataset,
        portal.settings,
        period,
        request.query_params.get("$where"),
        population=residents,
        unit=unit,
    )
    return JSONResponse(
        {
            "dataset": dataset.id,
            "version": dataset.version,
            "period": period,
            "unit": unit.name,
            "units": [u.name for u in units_of(dataset)],
            "counted": unit.noun,
            "noise_p": NOISE_P,
            "residents": residents,
            "rate": "per 1,000 residents per year" if residents else None,
            "periods": [asdict(r) for r in rows],
        },
        media_type="application/json; charset=utf-8",
    )


@router.get("/api/analysis/v1/{dataset_id}/activity.json")
def activity_json(request: Request, dataset_id: str) -> JSONResponse:
    """Rows per 100 or 1,000 rows of the activity dataset the metadata names, by ``period``."""
    portal = portal_of(request)
    viewer = viewer_of(request, portal.store)
    dataset = visible_dataset(portal.store, viewer, check_dataset_id(dataset_id))
    link = dataset.meta.activity
    if link is None:
        raise InvalidRequest(f"Dataset {dataset_id} names no activity to count against.")
    activity = visible_dataset(portal.store, viewer, link.dataset)
    period = request.query_params.get("period", "year")
    if period not in PERIODS:  # an unknown period would silently count by month
        raise InvalidRequest(f"Choose a period of {', '.join(PERIODS)}, not '{period}'.")
    rows = activity_rates(
        portal.store,
        dataset,
        activity,
        portal.settings,
        period,
        request.query_params.get("$where"),
    )
    return JSONResponse(
        {
            "dataset": dataset.id,
            "activity": activity.id,
            "per": link.per,
            "period": period,
            "confidence": 0.95,
            "periods": [asdict(r) for r in rows],
            "method": "Events ÷ activity × per, with an exact Poisson (Garwood) 95% interval on "
            "the events; only periods both datasets cover.",
        },
        media_type="application/json; charset=utf-8",
    )


@router.get("/api/analysis/v1/{dataset_id}/hours.json")
def hours_json(request: Request, dataset_id: str) -> JSONResponse:
    """Units (``unit=``, the dataset's default when absent) by day of week (0 = Sunday) and
    hour of day of the dataset's date column; ``$where`` narrows the rows."""
    portal = portal_of(request)
    dataset = visible_dataset(
        portal.store, viewer_of(request, portal.store), check_dataset_id(dataset_id)
    )
    unit = unit_of(dataset, request.query_params.get("unit"))
    data = hour_by_weekday(
        portal.store, dataset, portal.settings, request.query_params.get("$where"), unit
    )
    return JSONResponse(
        {
            "dataset": dataset.id,
            "version": dataset.version,
            "unit": unit.name,
            "column": data.column,
            "total": data.total,
            "times_recorded": data.timed,
            "weekdays": list(WEEKDAYS),
            "counts": [
                {"weekday": WEEKDAYS[d], "dow": d, "hours": data.counts[d]} for d in range(7)
            ],
        },
        media_type="application/json; charset=utf-8",
    )


@router.get("/api/analysis/v1/{dataset_id}/year-on-year.json")
def year_on_year_json(request: Request, dataset_id: str) -> JSONResponse:
    """Units (``unit=``) in the ``days`` days to ``end`` (default: the 90 days to the latest record)
    against the same days 52 weeks earlier, with whether the change is more than noise;
    ``$where`` narrows the rows."""
    portal = portal_of(request)
    dataset = visible_dataset(
        portal.store, viewer_of(request, portal.store), check_dataset_id(dataset_id)
    )
    result = year_on_year(
        portal.store,
        dataset,
        portal.settings,
        request.query_params.get("$where"),
        request.query_params.get("end"),
        request.query_params.get("days"),
        unit := unit_of(dataset, request.query_params.get("unit")),
    )
    return JSONResponse(
        {
            "dataset": dataset.id,
            "version": dataset.version,
            "unit": unit.name,
            "noise_p": NOISE_P,
            **asdict(result),
        },
        media_type="application/json; charset=utf-8",
    )
