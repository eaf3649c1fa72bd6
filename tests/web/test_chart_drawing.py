"""Drawings begun early on the drawing thread (``Drawing.start``, ``Pending``) are the
drawings made when asked, a template writes a pending one as its markup, and the drawing
process survives being killed, a spec vl-convert refuses and a drawing that hangs (stopped
at its time limit, the page sent with a note in the chart's place and not kept)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import altair as alt
import pytest
from jinja2 import Environment
from markupsafe import Markup

from blotter.web.chart_drawing import Drawing, Pending, svg_of


def _spec() -> alt.Chart:
    rows = [{"value": "theft", "n": 3}, {"value": "assault <b>", "n": 1}]
    data = alt.Data(values=rows)  # type: ignore[no-untyped-call]
    return alt.Chart(data, title="Calls by type").mark_bar().encode(x="n:Q", y="value:N")


def _spec_dict() -> dict[str, object]:
    spec: dict[str, object] = _spec().to_dict()
    return spec


def test_a_drawing_begun_early_is_the_drawing_made_when_asked() -> None:
    asked = Drawing(_spec(), "Calls by type")
    begun = Drawing(_spec(), "Calls by type")
    begun.start()
    begun.start()  # once only
    assert begun.wide() == asked.wide() and "assault &lt;b&gt;" in asked.wide()
    assert begun.phone() == asked.phone() and begun.phone() != begun.wide()
    # Drawing leaves the spec it wrote out as it was: drawn again, the same.
    before = repr(asked.data)
    assert Drawing(_spec(), "Calls by type").wide() == asked.wide()
    assert repr(asked.data) == before and asked.data == _spec().to_dict()
    assert Drawing(_spec(), "t", phone_width=None).phone() == Markup()


def test_a_pending_drawing_is_written_as_its_markup() -> None:
    pending = Pending(lambda: svg_of(_spec(), "Calls by type"))
    template = Environment(autoescape=True).from_string("<div>{{ svg }}</div>")
    drawn = svg_of(_spec(), "Calls by type")
    assert template.render(svg=pending) == f"<div>{drawn}</div>"
    assert str(pending) == str(drawn) and drawn.startswith("<svg role=")


def test_a_drawing_process_that_died_is_started_again() -> None:
    """vl-convert draws in a process of its own; killed (out of memory, by an operator),
    the next drawing starts another and draws the same."""
    import os
    import signal

    from blotter.web import drawing_process

    drawn = svg_of(_spec(), "Calls by type")
    first = drawing_process._DRAWER.pid()
    os.kill(first, signal.SIGKILL)
    assert svg_of(_spec(), "Calls by type") == drawn
    assert drawing_process._DRAWER.pid() != first


def test_a_spec_vl_convert_refuses_is_an_error_where_it_was_asked() -> None:
    from blotter.web.drawing_process import DrawingFailed, vegalite_to_svg

    with pytest.raises(DrawingFailed):
        vegalite_to_svg({"mark": {"type": "no-such-mark"}, "data": {"values": []}})
    assert vegalite_to_svg(_spec_dict()).startswith("<svg")  # the process draws on


def _worker_drawing_with(before: str) -> subprocess.Popen[bytes]:
    """A drawing process whose every drawing first runs the lines ``before`` (indented
    for the body of a function of ``spec``), its three pipes ours."""
    script = (
        "import os, sys, vl_convert\n"
        "drawn = vl_convert.vegalite_to_svg\n"
        "def patched(spec):\n"
        f"{before}"
        "    return drawn(spec)\n"
        "vl_convert.vegalite_to_svg = patched\n"
        "from blotter.web.drawing_worker import main\n"
        "main()\n"
    )
    pipe = subprocess.PIPE
    return subprocess.Popen([sys.executable, "-c", script], stdin=pipe, stdout=pipe, stderr=pipe)


def test_what_else_writes_to_the_drawing_process_output_never_reaches_the_answers() -> None:
    """A library's print or the engine's console in the drawing process land in its log,
    not in the pipe its answers are framed on."""
    import io

    from blotter.web.drawing_worker import Frames

    process = _worker_drawing_with(
        "    print('from Python', flush=True)\n    os.write(1, b'from the engine')\n"
    )
    assert process.stdin is not None and process.stdout is not None
    Frames(process.stdout, process.stdin).send({"kind": "svg", "spec": _spec_dict()})
    process.stdin.close()  # the process answers, then ends with its input
    output = process.stdout.read()
    assert process.wait(timeout=30) == 0 and process.stderr is not None
    log = process.stderr.read()
    written = io.BytesIO(output)
    answer = Frames(written, io.BytesIO()).receive()
    assert answer["drawn"].startswith("<svg") and written.read() == b""  # one frame, nothing else
    assert b"from Python" in log and b"from the engine" in log


def test_the_drawing_process_starts_its_engine_before_it_is_asked_anything() -> None:
    """Started ahead (start_drawing_process: a server's start, a load), the process draws
    its smallest chart at once, so the first page's chart does not wait for the engine."""
    process = _worker_drawing_with("    print('drawing', file=sys.stderr, flush=True)\n")
    assert process.stdin is not None and process.stderr is not None
    process.stdin.close()  # never asked anything: it draws its own chart, then ends
    assert process.wait(timeout=30) == 0
    assert process.stderr.read() == b"drawing\n"


@pytest.fixture
def hung_drawing(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The drawing process paused, as a hung drawing leaves it, with a one-second limit."""
    import os
    import signal

    from blotter.web import drawing_process

    monkeypatch.setattr(drawing_process, "LIMIT_S", 1.0)
    paused = drawing_process._DRAWER.pid()
    os.kill(paused, signal.SIGSTOP)
    try:
        yield paused
    finally:
        with contextlib.suppress(ProcessLookupError):  # stopped with its drawing, as it should be
            os.kill(paused, signal.SIGKILL)


def _unhurried(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit back above a new process's first drawing (its engine's start-up takes
    about a second, more on a busy machine)."""
    from blotter.web import drawing_process

    monkeypatch.setattr(drawing_process, "LIMIT_S", 60.0)


def test_a_drawing_that_hangs_is_stopped_and_the_next_one_draws(
    hung_drawing: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from blotter.web import drawing_process
    from blotter.web.drawing_process import DrawingTimedOut, vegalite_to_svg

    with pytest.raises(DrawingTimedOut) as stopped:
        vegalite_to_svg(_spec_dict())
    assert stopped.value.status == 503 and "longer than 1 seconds" in stopped.value.message
    assert stopped.value.headers == {"Retry-After": "5"}
    _unhurried(monkeypatch)
    assert vegalite_to_svg(_spec_dict()).startswith("<svg")  # in a process started anew
    assert drawing_process._DRAWER.pid() != hung_drawing


def test_an_inline_chart_that_hangs_leaves_a_note_in_its_place(
    hung_drawing: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from blotter.web.chart_drawing import NOT_DRAWN

    note = svg_of(_spec(), "Calls <by> type")
    assert note.startswith(f"<p {NOT_DRAWN}") and "Calls &lt;by&gt; type: not drawn" in note
    assert "<svg" not in note
    _unhurried(monkeypatch)
    assert svg_of(_spec(), "Calls by type").startswith("<svg role=")


def test_a_page_with_a_chart_left_undrawn_is_not_kept(
    hung_drawing: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The public's pages are kept per version, with validators; one whose chart was
    stopped is sent as it is, uncached, and drawn whole when asked again."""
    import httpx

    from blotter.app import create_app
    from blotter.settings import Settings
    from blotter.store import open_store
    from blotter.web.chart_drawing import NOT_DRAWN
    from tests.conftest import serve_in_thread, with_samples

    settings = Settings(data_dir=with_samples(tmp_path))
    store = open_store(settings)
    try:
        for server in serve_in_thread(create_app(settings, store=store)):
            with httpx.Client(base_url=server.url, timeout=60) as client:
                first = client.get("/datasets/e2x9-2kgt")
                assert first.status_code == 200 and NOT_DRAWN in first.text
                assert "not drawn" in first.text and "etag" not in first.headers
                assert first.headers["cache-control"] == "no-store"
                _unhurried(monkeypatch)
                second = client.get("/datasets/e2x9-2kgt")
                assert second.status_code == 200 and NOT_DRAWN not in second.text
                assert "<svg" in second.text and "etag" in second.headers
                third = client.get("/datasets/e2x9-2kgt")
                assert third.text == second.text and third.headers["etag"] == second.headers["etag"]
    finally:
        store.close()
