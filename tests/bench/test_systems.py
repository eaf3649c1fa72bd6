"""The benchmark's servers: a server's memory counts every process it started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.systems import Server, process_tree

# A parent that starts a child holding 80 MB, then both wait to be killed.
_PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import sys, time; held = bytearray(80 * 2**20); print('ready', flush=True); time.sleep(60)"],
    stdout=sys.stdout)
time.sleep(60)
"""


def test_a_servers_memory_counts_the_processes_it_started(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        tree = process_tree(process.pid)
        assert len(tree) == 2 and tree[0] == process.pid
        server = Server("tree", process, "http://127.0.0.1:9", tmp_path / "log")
        alone = _rss_mb(process.pid)
        assert server.rss_mb() >= alone + 80
        assert server.peak_rss_mb() >= server.rss_mb() - 1
    finally:
        for pid in process_tree(process.pid)[1:]:
            subprocess.run(["kill", str(pid)], check=False)
        process.kill()
        process.wait()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")
