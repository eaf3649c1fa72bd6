"""Drawings kept by their spec (``web/kept_drawings.py``): a spec is named by what the drawer
reads, a drawing's gradients by their order in it, and a kept drawing is sent again without
drawing."""

from __future__ import annotations

from datetime import datetime

from blotter.web.kept_drawings import drawn, forget, keep, recording, spec_name

SPEC = {
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "data": {"values": [{"k": "a", "n": 1}, {"k": "b", "n": 3}]},
    "mark": "bar",
    "encoding": {
        "x": {"field": "k", "type": "nominal"},
        "y": {"field": "n", "type": "quantitative"},
    },
}


def test_a_spec_is_named_by_what_the_drawer_reads() -> None:
    assert spec_name(SPEC) == spec_name({**SPEC})
    assert spec_name(SPEC) != spec_name({**SPEC, "mark": "point"})
    assert spec_name({"v": 1}) != spec_name({"v": 1.0}) != spec_name({"v": True})
    when = datetime(2026, 1, 2)
    assert spec_name({"v": when}) != spec_name({"v": str(when)})
    # Keys in another order: perhaps read alike, but not known to be, so drawn apart.
    assert spec_name({"a": 1, "b": 2}) != spec_name({"b": 2, "a": 1})


def test_a_kept_drawing_is_sent_again_without_drawing() -> None:
    forget()
    with recording() as made:
        first = drawn(SPEC)
    assert list(made) == [spec_name(SPEC)] and first.startswith("<svg")
    forget()
    keep(spec_name(SPEC), "<svg>kept</svg>")
    with recording() as made:
        assert drawn(SPEC) == "<svg>kept</svg>"
    assert made == {}
    forget()
    assert drawn(SPEC) == first  # drawn again, the same text


def test_gradients_are_named_by_their_spec_and_order() -> None:
    from blotter.web.kept_drawings import _renamed

    svg = '<linearGradient id="gradient_7"/><path fill="url(#gradient_7)"/><g id="gradient_9"/>'
    name = "0123456789abcdef"
    assert _renamed(svg, name) == (
        '<linearGradient id="gradient_0123456789ab_0"/>'
        '<path fill="url(#gradient_0123456789ab_0)"/><g id="gradient_0123456789ab_1"/>'
    )
