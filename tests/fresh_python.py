"""Run a script in a Python process of its own: for what only a fresh process shows (which
modules an app imports at start-up, which extensions a store loads)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fresh_python(script: str) -> str:
    """The script's standard output; the test fails with its error output if it fails."""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
