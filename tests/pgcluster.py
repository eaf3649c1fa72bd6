"""A private PostgreSQL cluster for tests that stop and restart the database under Blotter.

Made with the server's own ``initdb`` and ``pg_ctl`` on a free loopback port, no Unix socket.
PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres`` (or
``nobody``) account, in a directory of its own under the system's temporary folder (pytest's
folders are private to root); otherwise it lives in the test's ``tmp_path``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import free_port


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's programs, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class Cluster:
    """One PostgreSQL server: ``start``, ``stop``, ``restart``, all waiting until done."""

    def __init__(self, bin_dir: Path, root: Path, user: pwd.struct_passwd | None) -> None:
        self.bin = bin_dir
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self._user = user
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/blotter"

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self._user.pw_uid if self._user else None,
            group=self._user.pw_gid if self._user else None,
            cwd=self.data.parent,
        )
        assert done.returncode == 0, f"{args[0]} failed: {done.stdout}{done.stderr}"

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=off -c max_connections=40"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        # "fast": end every session now, as a restart or failover does.
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextmanager
def private_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A started cluster, stopped and removed at the end; skips when PostgreSQL's server
    programs are not installed."""
    bin_dir = postgres_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    user = None
    root = tmp_path
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            user = pwd.getpwnam("nobody")
        root = Path(tempfile.mkdtemp(prefix="blotter-pg-"))
        os.chown(root, user.pw_uid, user.pw_gid)
    cluster = Cluster(bin_dir, root, user)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            try:
                cluster.stop()
            except (AssertionError, subprocess.TimeoutExpired):
                subprocess.run(
                    [str(bin_dir / "pg_ctl"), "-D", str(cluster.data), "-m", "immediate", "stop"],
                    capture_output=True,
                    timeout=30,
                    user=user.pw_uid if user else None,
                )
        if root is not tmp_path:
            shutil.rmtree(root, ignore_errors=True)
