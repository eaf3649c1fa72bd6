"""The real sample datasets a test publishes, as the demo does (without its generated one)."""

from __future__ import annotations

from blotter.ingest.pipeline import load_file
from blotter.ingest.spec import load_spec_file
from blotter.samples import HERE
from blotter.store import Store

FORCE_AND_CALLS = ("use_of_force.yaml", "calls_for_service.yaml")


def publish_samples(store: Store, names: tuple[str, ...] = FORCE_AND_CALLS) -> None:
    """Publish each named sample (a dataset file in ``blotter/samples``) from its data file."""
    for name in names:
        spec = load_spec_file(HERE / name)
        source = spec.source_path()
        assert source is not None, name
        load_file(store, source, spec=spec)
