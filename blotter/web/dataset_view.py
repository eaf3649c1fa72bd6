"""Reading a dataset page's address: its filters as SoQL, the order, the page, the unit
counted; a problem for each part that cannot apply, so the page can say which and why."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from blotter.analysis.units import Unit, unit_of
from blotter.errors import InvalidRequest
from blotter.model import ColumnType, Dataset
from blotter.web.filters import IN_SEPARATOR, VIEW_PREFIX, Filter, Problem, parse_filters
from blotter.web.filters import where_clause as filters_where

PAGE_SIZES = (10, 25, 50, 100)
COLUMNS = "columns"  # the table's columns, field names joined by commas
DEFAULT_SIZE = 25


def page_url(dataset_id: str, params: dict[str, str]) -> str:
    """The page's address with ``params``, empty ones left out."""
    clean = {k: v for k, v in params.items() if v != ""}
    return f"/datasets/{dataset_id}" + ("?" + urlencode(clean) if clean else "")


@dataclass
class DatasetView:
    """What the address asks the page to show."""

    params: dict[str, str]
    areas: dict[str, str]  # the boundary file's named areas (wards…) as WKT
    filters: list[Filter]
    where: str | None  # the filters as one SoQL condition
    sort: str  # a column name, or "" for the dataset's order
    direction: str  # "asc" or "desc"
    sortable: set[str]
    size: int
    page_number: int  # as asked; the run clamps it to the last page
    unit: Unit
    residents: bool  # rates for residents only
    problems: list[Problem]
    columns: list[str]  # the table's columns: chosen (``columns=a,b``), else the file's
    chosen_columns: bool  # the address chose them, so downloads carry them too

    @property
    def base(self) -> dict[str, str]:
        """The address without its page number: where a new order or filter starts."""
        return {k: v for k, v in self.params.items() if k != "page"}

    @property
    def selection(self) -> dict[str, str]:
        return {"$where": self.where} if self.where else {}

    @property
    def select(self) -> dict[str, str]:
        """The table's columns as ``$select`` (none when it shows every column)."""
        return {"$select": ", ".join(f"`{c}`" for c in self.columns)} if self.columns else {}

    @property
    def export(self) -> dict[str, str]:
        """The SoQL of the rows shown, every page: for downloads, the API and snippets; the
        columns a reader chose go with it, the file's default choice does not."""
        order = f"`{self.sort}` {self.direction.upper()}" if self.sort else None
        chosen = self.select if self.chosen_columns else {}
        return {**chosen, **self.selection, **({"$order": order} if order else {})}


def redirect_for(dataset_id: str, query: QueryParams) -> str | None:
    """The address to share instead of this one, if the filter form sent it: the form
    sends every box, empty or not, and "is one of" as one parameter per chosen value."""
    params = dict(query)
    several = {
        k: IN_SEPARATOR.join(query.getlist(k))
        for k in params
        if k.endswith("__in") and len(query.getlist(k)) > 1
    }
    params.update(several)
    if len(query.getlist(COLUMNS)) > 1:  # the column chooser sends one box per column
        several[COLUMNS] = params[COLUMNS] = ",".join(query.getlist(COLUMNS))
    if several or any(not v for v in params.values()):
        return page_url(dataset_id, params)
    return None


def read_view(dataset: Dataset, params: dict[str, str], areas: dict[str, str]) -> DatasetView:
    """The view the address asks for; each part that cannot apply becomes a problem."""
    parsed = parse_filters(dataset, params, areas)
    problems = list(parsed.problems)

    sort = params.get("sort", "")
    direction = "desc" if params.get("dir") == "desc" else "asc"
    sortable = {c.field_name for c in dataset.columns if c.type is not ColumnType.POINT}
    if sort and sort not in sortable:
        problems.append(Problem("sort", None, f"'{sort}' is not a column that can be sorted."))
        sort = ""
    size_text, page_text = params.get("size", str(DEFAULT_SIZE)), params.get("page", "1")
    if not (size_text.isdigit() and int(size_text) in PAGE_SIZES):
        sizes = ", ".join(str(s) for s in PAGE_SIZES)
        problems.append(Problem("size", None, f"Rows per page can be {sizes}."))
        size_text = str(DEFAULT_SIZE)
    if not (page_text.isdigit() and int(page_text) >= 1):
        problems.append(Problem("page", None, "The page number must be a whole number from 1."))
        page_text = "1"

    columns, chosen = table_columns(dataset, params.get(COLUMNS, ""), problems)
    if columns and sort and sort not in columns:  # the column the rows are sorted by shows
        columns.append(sort)
    unit = unit_of(dataset, None)
    try:
        unit = unit_of(dataset, params.get(VIEW_PREFIX + "unit"))
    except InvalidRequest as err:
        problems.append(Problem(VIEW_PREFIX + "unit", None, err.message))
    return DatasetView(
        params=params,
        areas=areas,
        filters=parsed.filters,
        where=filters_where(parsed.filters),
        sort=sort,
        direction=direction,
        sortable=sortable,
        size=int(size_text),
        page_number=int(page_text),
        unit=unit,
        residents=params.get(VIEW_PREFIX + "residents") == "true",
        problems=problems,
        columns=columns,
        chosen_columns=chosen,
    )


def table_columns(dataset: Dataset, asked: str, problems: list[Problem]) -> tuple[list[str], bool]:
    """The columns the table shows: those the address names (each must be a column the
    reader can see), else the dataset file's ``table_columns`` that are visible, else all
    (an empty list)."""
    visible = {c.field_name for c in dataset.columns}
    names = [n.strip() for n in asked.split(",") if n.strip()]
    if names:
        unknown = [n for n in names if n not in visible]
        if not unknown:
            return list(dict.fromkeys(names)), True
        problems.append(Problem(COLUMNS, None, f"'{unknown[0]}' is not a column of this dataset."))
    default = [n for n in dataset.meta.table_columns if n in visible]
    return default, False
