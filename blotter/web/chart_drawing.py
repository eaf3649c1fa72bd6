"""A chart's Vega-Lite spec drawn as inline SVG by vl-convert: the wide drawing, and a
phone's (a narrower plot, legends below, larger text) that the page shows instead on small
screens, so no label is ever scaled below 11 px.

A ``Drawing`` draws only when asked: a page shows its key chart inline and the others as
images of the same drawings (``chart_files.py``), so a first answer pays vl-convert once or
twice, not for every chart in two widths (100-200 ms a drawing on a busy machine)."""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from blotter.errors import DrawingTimedOut
from blotter.web.drawing_process import DrawingFailed
from blotter.web.kept_drawings import drawn

if TYPE_CHECKING:
    import altair as alt

__all__ = [
    "NARROW_FONT",
    "NOT_DRAWN",
    "ROWS",
    "Drawing",
    "Pending",
    "narrow_svg_of",
    "rows_data",
    "svg_of",
    "tooltips",
    "unchecked_altair",
    "unchecked_dict",
    "warm_up",
]
READABLE_FONT = 12  # px: the wide drawing's labels, shown unscaled on wider screens
ROWS = "rows"  # the name a chart's own rows go by until its spec is written out
# The mark of a chart left undrawn (its drawing refused or stopped): a page holding it is
# not kept among the answers. Written only by us: a value's quotes are escaped in a page.
NOT_DRAWN = 'class="not-drawn"'
_LOG = logging.getLogger(__name__)

Rows = Sequence[Mapping[str, Any]]


@cache
def unchecked_altair() -> None:
    """Altair's checks of every object it builds off for the process: in its debug mode
    (on by default) it checks each against the schema as it is made, every inline row
    included (40 ms for a chart over time at 1M rows). Our specs are checked by the tests
    instead (``tests/web/test_chart_specs.py``); the specs written are the same."""
    from altair.utils import schemapi

    schemapi.disable_debug_mode()


def rows_data() -> alt.Data:
    """A chart's data named ``ROWS``: the rows themselves are handed to :class:`Drawing`,
    which writes them in as inline values once the spec is written out, so Altair never
    walks them."""
    import altair as alt

    unchecked_altair()
    # Altair's schema wrappers take untyped ``**kwds``; the spec it writes is the same.
    return alt.Data(name=ROWS)  # type: ignore[no-untyped-call]


def tooltips(*shorthands: str) -> list[alt.Tooltip]:
    """A tooltip's fields as Altair's channel objects: given as text, Altair finds each
    one's class by hashing the schema's candidates (5-15 ms a chart); the spec is the same."""
    import altair as alt

    return [alt.Tooltip(shorthand) for shorthand in shorthands]


def unchecked_dict(spec: alt.TopLevelMixin) -> dict[str, Any]:
    """The spec as Vega-Lite JSON, unchecked: Altair's check of a whole spec against the
    schema took 15-35 ms a chart; the tests check every kind of chart the pages draw."""
    unchecked_altair()
    return spec.to_dict(validate=False)


def svg_of(
    spec: alt.TopLevelMixin | dict[str, Any],
    title: str,
    datasets: Mapping[str, Rows] | None = None,
) -> Markup:
    """The chart as inline SVG, named for assistive technology by its title. ``datasets``
    are rows the spec names (``alt.Data(name=…)``), written in after Altair has written the
    spec: Altair walks every inline row, which took seconds for a map's points or a hotspot
    grid's cells."""
    spec_dict = spec if isinstance(spec, dict) else unchecked_dict(spec)
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
    try:
        # Kept, else drawn in the drawing process, which holds no lock of ours.
        svg = drawn(spec_dict)
    except (DrawingFailed, DrawingTimedOut) as err:
        # The page goes on without this picture: the figures it would show are in the
        # chart's table (or the map's list) beside it. Such a page is not kept (kept.py).
        _LOG.error("chart %r not drawn: %s", title, err)
        why = err.message if isinstance(err, DrawingTimedOut) else "Its figures are beside it."
        return Markup('<p {} role="note">{}</p>').format(
            Markup(NOT_DRAWN), f"{title}: not drawn. {why}"
        )
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
    written = spec if isinstance(spec, dict) else unchecked_dict(spec)
    # A phone's settings never touch the rows: they are shared, not walked.
    spec_dict = {
        key: value if key in ("data", "datasets") else _for_phone(value)
        for key, value in written.items()
    }
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


# One thread waits for what pages begin early (``Drawing.start``, ``Pending``), drawn in the
# drawing process (``drawing_process.py``), so a page's queries and templates go on
# meanwhile; it draws one chart at a time, so more threads would only queue.
_DRAWER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blotter-drawing")


@dataclass
class Drawing:
    """A chart's spec and title, drawn wide or for a phone only when one is asked for (or
    begun early with :meth:`start`)."""

    spec: alt.TopLevelMixin
    title: str
    phone_width: int | None = NARROW_PLOT  # None: the chart has no phone drawing
    rows: Rows | None = None  # the rows of a spec whose data is ``rows_data()``
    _begun: dict[str, Future[Markup]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @cached_property
    def data(self) -> dict[str, Any]:
        """The spec as Vega-Lite JSON, written once, its rows written in as inline values
        where it names them (the JSON inline values give); not to be changed."""
        spec = unchecked_dict(self.spec)
        if self.rows is not None and spec.get("data") == {"name": ROWS}:
            spec["data"] = {"values": [dict(row) for row in self.rows]}
        return spec

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
        # svg_of adds its settings to the config: a copy of that, the rows shared unchanged.
        spec = dict(self.data)
        if "config" in spec:
            spec["config"] = copy.deepcopy(spec["config"])
        return svg_of(spec, self.title)

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
    """Start vl-convert's engine (600-900 ms on its first drawing) and turn Altair's
    checks off once per process, so a server's first page pays neither; called before a
    server takes requests."""
    import altair as alt

    unchecked_altair()
    spec = alt.Chart(alt.Data(values=[{"n": 1}])).mark_bar().encode(x="n:Q")  # type: ignore[no-untyped-call]
    svg_of(spec, "warm-up")
