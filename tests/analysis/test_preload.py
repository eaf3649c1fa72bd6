"""The statistics libraries are imported when a server starts unless the setting says not:
they hold about 160 MB for the life of the process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.fresh_python import fresh_python


@pytest.mark.parametrize(("preload", "imported"), [("true", True), ("false", False)])
def test_a_server_imports_the_statistics_libraries_only_when_asked(
    tmp_path: Path, preload: str, imported: bool
) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from fastapi.testclient import TestClient
        from blotter.app import create_app
        from blotter.settings import Settings

        app = create_app(Settings(data_dir={str(tmp_path)!r}, preload_statistics={preload!r}))
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            print("esda" in sys.modules)
        """
    )
    assert fresh_python(script).strip().splitlines()[-1] == str(imported)
