"""Where the suite's files live, defined once: everything is inside the repository.

``TEST_DATA`` holds small extracts of real public files used only by tests and the benchmark
(their origins and licences are in ``tests/data/README.md`` and the README's credits);
``SAMPLES`` is the package's demo datasets, whose data files the tests read too.
"""

from __future__ import annotations

from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
TEST_DATA = REPOSITORY / "tests" / "data"
SAMPLES = REPOSITORY / "blotter" / "samples"
SAMPLE_DATA = SAMPLES / "data"
