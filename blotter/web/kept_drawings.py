"""Drawings kept by their spec: a Vega-Lite spec drawn by one vl-convert is always the same
picture, so a drawing made once (when a version is published, ``first_view.py``) is sent
again for the same spec instead of being drawn anew (about 300 ms of the drawing process
for a dataset page's key chart and map).

Named by the SHA-256 of the spec's JSON and vl-convert's version (a spec the drawer reads
alike is named alike, nothing else is); a drawing's gradients are
numbered in the order its process draws them, so every drawing's are renamed after its
name and their order in it: the same spec is the same text whichever process drew it, and
two drawings' gradients never meet on one page. Kept in memory (the least recently
used out past ``MAX_BYTES``); a version's drawings stored with its answers are put here by
:func:`keep_version_drawings` when its page is first viewed."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from blotter.model import Dataset
from blotter.queries import AnswerCache, answer_key
from blotter.web.drawing_process import vegalite_to_svg

MAX_BYTES = 32 << 20
_GRADIENT = re.compile(r"gradient_(\d+)")

_kept: OrderedDict[str, str] = OrderedDict()
_bytes = 0
_lock = threading.Lock()
_recorders: list[dict[str, str]] = []  # drawings made while a publish records them


@cache
def _drawer() -> str:
    try:
        return version("vl-convert-python")
    except PackageNotFoundError:  # pragma: no cover - a dependency of the package
        return "unknown"


def spec_name(spec: dict[str, Any]) -> str:
    """What names a spec's drawing: its JSON, keys in their order (a drawer may read an
    object's keys in order), any other value by its type and text (a timestamp is not the
    string it prints as), and the drawer's version."""
    text = json.dumps(spec, separators=(",", ":"), default=_typed)
    return hashlib.sha256(f"{_drawer()}\n{text}".encode()).hexdigest()


def _typed(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}:{value!s}"


def drawn(spec: dict[str, Any]) -> str:
    """The spec as SVG: kept, or drawn now (and recorded while a publish records)."""
    name = spec_name(spec)
    with _lock:
        svg = _kept.get(name)
        if svg is not None:
            _kept.move_to_end(name)
            return svg
    svg = _renamed(vegalite_to_svg(spec), name)
    with _lock:
        for recorder in _recorders:
            recorder[name] = svg
    return svg


def _renamed(svg: str, name: str) -> str:
    """The drawing's gradients named after its spec and their order in it, not after how
    many its process drew before: the same spec is then the same text in any process."""
    order: dict[str, str] = {}

    def rename(found: re.Match[str]) -> str:
        return order.setdefault(found[0], f"gradient_{name[:12]}_{len(order)}")

    return _GRADIENT.sub(rename, svg)


def keep(name: str, svg: str) -> None:
    global _bytes
    with _lock:
        if name in _kept:
            return
        _kept[name] = svg
        _bytes += len(svg)
        while _bytes > MAX_BYTES and len(_kept) > 1:
            _, gone = _kept.popitem(last=False)
            _bytes -= len(gone)


def forget() -> None:
    """Every kept drawing gone, as in a process that has drawn nothing yet (tests)."""
    global _bytes
    with _lock:
        _kept.clear()
        _bytes = 0


@contextmanager
def recording() -> Iterator[dict[str, str]]:
    """The drawings made inside the block (on any thread), by name."""
    made: dict[str, str] = {}
    with _lock:
        _recorders.append(made)
    try:
        yield made
    finally:
        with _lock:
            _recorders.remove(made)


def _index_key(dataset: Dataset) -> Any:
    return answer_key(dataset, ("drawings",), "rows")


def put_version_drawings(cache: AnswerCache, dataset: Dataset, made: dict[str, str]) -> None:
    """Keep ``made`` among ``dataset``'s version's answers (stored with them): each drawing
    and the list of their names."""
    for name, svg in made.items():
        cache.put(answer_key(dataset, ("drawing", name), "rows"), svg, len(svg))
    cache.put(_index_key(dataset), tuple(made), 64 * len(made))


def keep_version_drawings(cache: AnswerCache, dataset: Dataset) -> None:
    """The drawings kept among ``dataset``'s version's answers, ready for :func:`drawn`."""
    names = cache.get(_index_key(dataset))
    for name in names or ():
        svg = cache.get(answer_key(dataset, ("drawing", name), "rows"))
        if isinstance(svg, str):
            keep(name, svg)
