"""The demo's sample datasets: four real record sets, their population benchmarks, and one
generated set labelled as such."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from blotter.ingest.pipeline import LoadResult, Progress, load_file
from blotter.ingest.spec import load_spec_file
from blotter.samples.engagement import generate
from blotter.store.base import Store
from blotter.store.common import now

HERE = Path(__file__).parent
SPECS = (
    "use_of_force.yaml",
    "arrests.yaml",
    "calls_for_service.yaml",
    "traffic_stops.yaml",
    "community_engagement.yaml",
    "rutland_population.yaml",
    "takoma_park_population.yaml",
)
# Each sample's dataset file is also saved as an import profile, so next month's export from
# the same records system loads with `blotter load FILE --dataset ID --profile NAME`.
PROFILES = {
    "use_of_force.yaml": "rutland-use-of-force",
    "arrests.yaml": "takoma-park-arrests",
    "calls_for_service.yaml": "takoma-park-calls-for-service",
    "traffic_stops.yaml": "takoma-park-traffic-stops",
    "community_engagement.yaml": "community-engagement",
    "rutland_population.yaml": "rutland-census-population",
    "takoma_park_population.yaml": "takoma-park-acs-population",
}


def sample_specs() -> list[Path]:
    """The dataset files of the samples, in the order the demo loads them."""
    return [HERE / name for name in SPECS]


def load_samples(
    store: Store, progress: Progress | None = None, today: date | None = None
) -> list[LoadResult]:
    """Publish every sample dataset; the generated one is made fresh in a temporary dir,
    its events around ``today`` (default: the local date)."""
    results = []
    done = 0

    def tick(rows: int) -> None:
        if progress:
            progress(done + rows)

    with tempfile.TemporaryDirectory() as scratch:
        for path in sample_specs():
            spec = load_spec_file(path)
            if spec.sample:
                generate(Path(scratch) / str(spec.source), today=today)
                spec.base_dir = Path(scratch)
            source = spec.source_path()
            assert source is not None
            result = load_file(store, source, spec=spec, progress=tick)
            store.save_profile(PROFILES[path.name], path.read_text(encoding="utf-8"), "", now())
            done += result.row_count
            results.append(result)
    return results
