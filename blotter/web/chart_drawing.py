"""A chart's Vega-Lite spec drawn as inline SVG by vl-convert: the wide drawing, and a
phone's (a narrower plot, legends below, larger text) that the page shows instead on small
screens, so no label is ever scaled below 11 px.

A ``Drawing`` draws only when asked: a page shows its key chart inline and the others as
images of the same drawings (``chart_files.py``), so a first answer pays vl-convert once or
twice, not for every chart in two widths (100-200 ms a drawing on a busy machine)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

if TYPE_CHECKING:
    import altair as alt

__all__ = ["NARROW_FONT", "Drawing", "Pending", "narrow_svg_of", "svg_of", "warm_up"]
READABLE_FONT = 12  # px: the wide drawing's labels, shown unscaled on wider screens


def svg_of(
    spec: alt.TopLevelMixin | dict[str, Any],
    title: str,
    datasets: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Markup:
    """The chart as inline SVG, named for assistive technology by its title. ``datasets``
    are rows the spec names (``alt.Data(name=…)``), written in after Altair has checked the
    spec: Altair checks every inline row against the schema, which took seconds for a map's
    points or a hotspot grid's cells."""
    import vl_convert

    spec_dict = spec if isinstance(spec, dict) else spec.to_dict()
    if datasets:
        spec_dict["datasets"] = {**spec_dict.get("datasets", {}), **datasets}
    # No ARIA on each mark: the SVG is one image named by its title, described beside it in
    # words and backed by its data table, which say more than a list of shapes would.
    config = spec_dict.setdefault("config", {})
    config["aria"] = False
    config.setdefault("mark", {})["aria"] = False  # marks carry their own ARIA otherwise
    # Vega's 10 px labels are small even unscaled: every text of a drawing is at least 12 px.
    for part in ("axis", "legend"):
        settings = config.setdefault(part, {})
        settings.setdefault("labelFontSize", READABLE_FONT)
        settings.setdefault("titleFontSize", READABLE_FONT)
    config.setdefault("title", {}).setdefault("fontSize", READABLE_FONT + 2)
    svg = vl_convert.vegalite_to_svg(spec_dict)
    svg = re.sub(r"<\?xml[^>]*>\s*", "", svg)
    safe_title = Markup.escape(title)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{safe_title}" focusable="false" ', 1)
    # Trusted markup: vl-convert's own SVG, in which Vega escapes every text it draws.
    return Markup(svg)


NARROW_PLOT = 160  # a phone's plot width: with its labels the chart fits 330 px unscaled
NARROW_FONT = 13  # px: labels drawn at this size stay above 11 px on any phone
NARROW_LABELS = 110  # px: longer axis labels end in an ellipsis (the data table has them whole)


def _for_phone(node: Any) -> Any:
    """A spec's settings for a phone: every font at least NARROW_FONT, labels cut short."""
    if isinstance(node, list):
        return [_for_phone(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _for_phone(value) for key, value in node.items()}
    if isinstance(out.get("fontSize"), int | float):
        out["fontSize"] = max(out["fontSize"], NARROW_FONT)
    if isinstance(out.get("labelLimit"), int | float):
        out["labelLimit"] = min(out["labelLimit"], NARROW_LABELS)
    return out


def narrow_svg_of(
    spec: alt.TopLevelMixin | dict[str, Any], title: str, width: int = NARROW_PLOT
) -> Markup:
    """The chart drawn for a 390 px phone: a narrower plot, legends below it, text of
    NARROW_FONT px; shown in place of the wide drawing on small screens."""
    spec_dict = _for_phone(spec if isinstance(spec, dict) else spec.to_dict())
    # The figure's caption states the title; drawn, it would set the width on a phone.
    spec_dict.pop("title", None)
    if isinstance(spec_dict.get("width"), int | float):
        spec_dict["width"] = min(spec_dict["width"], width)
    config = spec_dict.setdefault("config", {})
    font = {"labelFontSize": NARROW_FONT, "titleFontSize": NARROW_FONT}
    config["axis"] = {
        **config.get("axis", {}),
        **font,
        "labelLimit": NARROW_LABELS,
        "labelOverlap": "greedy",  # labels that would overlap are left out, never drawn over
    }
    config["legend"] = {**config.get("legend", {}), **font, "orient": "bottom", "columns": 2}
    config["text"] = {**config.get("text", {}), "fontSize": NARROW_FONT}
    return svg_of(spec_dict, title)


# One thread draws what pages begin early (``Drawing.start``, ``Pending``): vl-convert lets
# go of Python's lock while it draws, so a page's queries and templates go on meanwhile,
# but it draws one chart at a time whatever the threads, so more would only queue.
_DRAWER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blotter-drawing")


@dataclass
class Drawing:
    """A chart's spec and title, drawn wide or for a phone only when one is asked for (or
    begun early with :meth:`start`)."""

    spec: alt.TopLevelMixin
    title: str
    phone_width: int | None = NARROW_PLOT  # None: the chart has no phone drawing
    _begun: dict[str, Future[Markup]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @cached_property
    def data(self) -> dict[str, Any]:
        """The spec as Vega-Lite JSON, checked against the schema once (Altair checks it
        each time it is written out, tens of milliseconds for a chart); not to be changed."""
        return self.spec.to_dict()

    def start(self) -> None:
        """Begin both drawings now, beside the page's other work; :meth:`wide` and
        :meth:`phone` then wait for them."""
        if not self._begun:
            self._begun["wide"] = _DRAWER.submit(self._wide)
            self._begun["phone"] = _DRAWER.submit(self._phone)

    def wide(self) -> Markup:
        begun = self._begun.get("wide")
        return begun.result() if begun is not None else self._wide()

    def phone(self) -> Markup:
        begun = self._begun.get("phone")
        return begun.result() if begun is not None else self._phone()

    def _wide(self) -> Markup:
        return svg_of(copy.deepcopy(self.data), self.title)  # svg_of adds its settings

    def _phone(self) -> Markup:
        if self.phone_width is None:
            return Markup()
        return narrow_svg_of(self.data, self.title, width=self.phone_width)


class Pending:
    """A drawing begun beside the page's other work, written where a template shows it
    (Jinja writes what ``__html__`` gives), waited for only then."""

    def __init__(self, draw: Callable[[], Markup]) -> None:
        self._drawn = _DRAWER.submit(draw)

    def __html__(self) -> Markup:
        return self._drawn.result()

    def __str__(self) -> str:
        return str(self._drawn.result())


@cache
def warm_up() -> None:
    """Start vl-convert's engine (600-900 ms on its first drawing) and load Altair's
    Vega-Lite schema (about 500 ms on its first check) once per process, so a server's
    first page pays neither; called before a server takes requests."""
    import altair as alt

    spec = alt.Chart(alt.Data(values=[{"n": 1}])).mark_bar().encode(x="n:Q")  # type: ignore[no-untyped-call]
    svg_of(spec, "warm-up")
