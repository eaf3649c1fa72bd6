"""A deployment's own map layers (``MAP_LAYERS``): GeoJSON files of streets (lines with a
``name``) and areas (parks, districts: polygons), drawn under every dataset map and, for the
streets, used to place typed intersections. Each file is checked once per version of it (at
start-up first), so a wrong setting or a broken file is one clear message naming the file,
never a blank map. For the server's picture, only what falls in the map's extent is drawn,
within a fixed number of vertices, so a whole city's street file cannot make a page huge."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from blotter.errors import MapLayerInvalid, NotFound
from blotter.model import LAYER_FILE
from blotter.settings import Settings

MAX_FILE_MB = 64  # a layer file larger than this is refused when the portal starts
MAX_DRAWN_VERTICES = 20_000  # all layers of one static map together, after clipping
_LINES = ("LineString", "MultiLineString")
_AREAS = ("Polygon", "MultiPolygon")


@dataclass(frozen=True)
class Layer:
    name: str  # the file's name, as the settings give it
    attribution: str
    generated: bool  # the file says its features are made up (test data), not real places
    lines: tuple[tuple[str, BaseGeometry], ...]  # (street name or "", line)
    areas: tuple[BaseGeometry, ...]

    @property
    def url(self) -> str:
        return f"/layers/{self.name}"

    @property
    def credit(self) -> str:
        """The credit line shown with the maps, saying so when the streets are made up."""
        return self.attribution + (" (generated, not real streets)" if self.generated else "")


def layers_dir(settings: Settings) -> Path:
    return settings.layers_dir or settings.data_dir / "layers"


def layer_path(settings: Settings, name: str) -> Path:
    """A layer file of the layers folder (named by the settings or by a dataset file)."""
    path = layers_dir(settings) / name
    if not LAYER_FILE.match(name) or not path.is_file():
        raise NotFound(f"There is no map layer '{name}'.")
    return path


def load_layers(settings: Settings, named: list[str] | None = None) -> list[Layer]:
    """The portal's layers (MAP_LAYERS), then those a dataset file names (``named``), bottom
    first, each once. Raises MapLayerInvalid naming the file and why."""
    layers = []
    names = list(settings.map_layers)
    names += [name for name in named or [] if name not in names]
    for name in names:
        where = "BLOTTER_MAP_LAYERS" if name in settings.map_layers else "the dataset file"
        if not LAYER_FILE.match(name):
            raise MapLayerInvalid(
                f"Map layer '{name}' ({where}): name a .geojson file in "
                f"{layers_dir(settings)} by its file name alone (letters, digits, - and _).",
                file=name,
            )
        path = layers_dir(settings) / name
        try:
            stat = path.stat()
        except OSError:
            raise MapLayerInvalid(
                f"Map layer '{name}' ({where}) is not at {path}.", file=str(path)
            ) from None
        if stat.st_size > MAX_FILE_MB << 20:
            raise MapLayerInvalid(
                f"Map layer {path} is {stat.st_size >> 20} MB; the most is {MAX_FILE_MB} MB: "
                "clip it to the area the portal serves.",
                file=str(path),
            )
        layers.append(_read(path, stat.st_mtime_ns, settings.layer_attribution))
    return layers


@lru_cache(maxsize=16)
def _read(path: Path, _version: int, fallback_credit: str) -> Layer:
    def bad(why: str) -> MapLayerInvalid:
        return MapLayerInvalid(f"Map layer {path}: {why}", file=str(path))

    try:
        loaded = json.loads(path.read_bytes())
    except (OSError, ValueError) as err:
        raise bad(f"not readable JSON ({err}).") from None
    if not isinstance(loaded, dict) or loaded.get("type") != "FeatureCollection":
        raise bad("not a GeoJSON FeatureCollection.")
    features = loaded.get("features")
    if not isinstance(features, list):
        raise bad("its 'features' is not a list.")
    lines: list[tuple[str, BaseGeometry]] = []
    areas: list[BaseGeometry] = []
    for number, feature in enumerate(features, start=1):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if kind not in _LINES + _AREAS:
            raise bad(
                f"feature {number} is {kind or 'not a geometry'}: a layer holds lines "
                "(streets) and polygons (parks, areas)."
            )
        try:
            drawn = shape(geometry)
        except (ValueError, TypeError, KeyError, IndexError, GEOSException) as err:
            raise bad(f"feature {number}'s {kind} has unusable coordinates ({err}).") from None
        if drawn.is_empty:
            continue
        props = feature.get("properties") or {}
        if kind in _LINES:
            lines.append((str(props.get("name") or ""), drawn))
        else:
            areas.append(drawn)
    credit = str(loaded.get("attribution") or fallback_credit).strip()
    if not credit:
        raise bad(
            'no attribution: add a top-level "attribution" to the file or set '
            "BLOTTER_LAYER_ATTRIBUTION (an OpenStreetMap extract: © OpenStreetMap "
            "contributors, ODbL)."
        )
    return Layer(path.name, credit, loaded.get("generated") is True, tuple(lines), tuple(areas))


def street_lines(layers: list[Layer]) -> list[tuple[str, BaseGeometry]]:
    """The named lines of every layer: the streets a typed place can be found on."""
    return [(name, line) for layer in layers for name, line in layer.lines if name]


def drawn_within(
    layers: list[Layer], bounds: tuple[float, float, float, float]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The layers' areas and lines (GeoJSON features) clipped to ``bounds`` (min lon, min
    lat, max lon, max lat), simplified until they hold at most MAX_DRAWN_VERTICES."""
    areas = _clipped([a for layer in layers for a in layer.areas], bounds)
    lines = _clipped([line for layer in layers for _, line in layer.lines], bounds)
    span = max(bounds[2] - bounds[0], bounds[3] - bounds[1], 1e-6)
    tolerance = span / 4000  # about a tenth of a pixel on the 560 px map: nothing visible
    while _vertices(areas) + _vertices(lines) > MAX_DRAWN_VERTICES and tolerance < span / 50:
        areas = _simplified(areas, tolerance)
        lines = _simplified(lines, tolerance)
        tolerance *= 2
    if _vertices(areas) + _vertices(lines) > MAX_DRAWN_VERTICES:
        # Still too many (a dense grid of short streets): the longest lines are kept.
        lines = lines[np.argsort(-shapely.length(lines), kind="stable")]
        kept = np.cumsum(shapely.get_num_coordinates(lines)) <= max(
            MAX_DRAWN_VERTICES - _vertices(areas), 0
        )
        lines = lines[kept]
    return _features(areas), _features(lines)


def _clipped(shapes: list[BaseGeometry], bounds: tuple[float, float, float, float]) -> Any:
    if not shapes:
        return np.array([], dtype=object)
    found = np.array(shapes, dtype=object)
    found = found[shapely.intersects(found, shapely.box(*bounds))]
    clipped = shapely.clip_by_rect(found, *bounds)
    return clipped[~shapely.is_empty(clipped)]


def _simplified(shapes: Any, tolerance: float) -> Any:
    # Without topology kept: ten times faster, and a drawing needs no valid polygons.
    simpler = shapely.simplify(shapes, tolerance, preserve_topology=False)
    return simpler[~shapely.is_empty(simpler)]


def _vertices(shapes: Any) -> int:
    return int(shapely.get_num_coordinates(shapes).sum()) if len(shapes) else 0


def _features(shapes: Any) -> list[dict[str, Any]]:
    return [
        {"type": "Feature", "properties": {}, "geometry": json.loads(shapely.to_geojson(g))}
        for g in shapes
    ]
