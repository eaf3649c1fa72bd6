"""Every figure the pages compute, as JSON a journalist can reproduce: rates against the
population benchmark, with intervals, small-number notes and the method card."""

from __future__ import annotations

import math
from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from blotter.access import visible_dataset
from blotter.analysis.activity import activity_rates
from blotter.analysis.benchmarks import population_total, rate_table
from blotter.analysis.hotspots import find_hotspots, located_points
from blotter.analysis.trends import NOISE_P, PERIODS, trend
from blotter.auth import viewer_of
from blotter.errors import InvalidRequest
from blotter.model import check_dataset_id
from blotter.portal import Portal

router = APIRouter()


@router.get("/api/analysis/v1/{dataset_id}/rates.json")
def rates(request: Request, dataset_id: str) -> JSONResponse:
    """Rates per 1,000 residents by the benchmark's column; ``$where`` narrows the events."""
    portal: Portal = request.app.state.portal
    viewer = viewer_of(request, portal.store)
    dataset = visible_dataset(portal.store, viewer, check_dataset_id(dataset_id))
    if dataset.meta.benchmark is None:
        raise InvalidRequest(f"Dataset {dataset_id} names no population benchmark.")
    population = visible_dataset(portal.store, viewer, dataset.meta.benchmark.dataset)
    table = rate_table(
        portal.store, dataset, population, portal.settings, request.query_params.get("$where")
    )
    return JSONResponse(
        {
            "dataset": dataset.id,
            "version": dataset.version,
            "by": dataset.meta.benchmark.column,
            "reference": table.reference,
            "per": 1000,
            "confidence": 0.95,
            "groups": [asdict(r) for r in table.rows],
            "left_out": table.unmatched,
            "method": asdict(table.card),
        },
        media_type="application/json; charset=utf-8",
    )


@router.get("/api/analysis/v1/{dataset_id}/hotspots.geojson")
def hotspots(request: Request, dataset_id: str) -> JSONResponse:
    """Gi* hotspot cells of the located rows (``$where`` narrows them, ``cell`` in metres)."""
    portal: Portal = request.app.state.portal
    viewer = viewer_of(request, portal.store)
    dataset = visible_dataset(portal.store, viewer, check_dataset_id(dataset_id))
    cell = _cell_size(request.query_params.get("cell", "250"))
    points = located_points(portal, dataset, request.query_params.get("$where"))
    return JSONResponse(
        find_hotspots(points, cell).geojson(), media_type="application/vnd.geo+json; charset=utf-8"
    )


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
    portal: Portal = request.app.state.portal
    dataset = visible_dataset(
        portal.store, viewer_of(request, portal.store), check_dataset_id(dataset_id)
    )
    period = request.query_params.get("period", "year")
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
    )
    return JSONResponse(
        {
            "dataset": dataset.id,
            "version": dataset.version,
            "period": period,
            "noise_p": NOISE_P,
            "residents": residents,
            "periods": [asdict(r) for r in rows],
        },
        media_type="application/json; charset=utf-8",
    )


@router.get("/api/analysis/v1/{dataset_id}/activity.json")
def activity_json(request: Request, dataset_id: str) -> JSONResponse:
    """Rows per 100 or 1,000 rows of the activity dataset the metadata names, by ``period``."""
    portal: Portal = request.app.state.portal
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
