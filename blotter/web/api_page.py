"""A dataset's API page: its endpoints, every column the reader may see with real example
values, and examples in curl, sodapy, pandas, R and JavaScript that run as they stand.

The page is built from the dataset as the viewer sees it (``visible_dataset``), so a column
marked internal never appears for the public, not even as an example value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from blotter.access import visible_version
from blotter.auth import viewer_of
from blotter.model import Column, ColumnType, Dataset, check_version_number
from blotter.portal import Portal
from blotter.queries import run_query
from blotter.web.rendering import OpenGraph, absolute_url, display, portal_of, render

router = APIRouter(include_in_schema=False)
EXAMPLES = 3  # distinct values shown per column
EXAMPLE_LIMIT = 100  # rows the examples ask for
# A value the examples can put in a SoQL string, a shell argument and a URL without escaping
# that would make them hard to read.
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .,_-]{0,40}")


@dataclass
class Field:
    name: str
    field_name: str
    type: str
    description: str
    examples: list[str]
    top_count: int  # rows holding the first example: the examples' filter picks a common one


@dataclass
class Example:
    id: str
    label: str
    language: str  # "shell", "python", "r", "javascript": how the tests run it
    code: str


@dataclass
class ApiDatasetPage:
    title: str
    dataset_id: str
    dataset_name: str
    dataset_url: str
    soda2: list[str]  # absolute endpoint URLs, one per format
    soda3: str
    export: str
    metadata: str
    fields: list[Field]
    where: str  # the examples' filter, "" when no column offers a plain value
    limit: int
    examples: list[Example]
    # Reading an older version (``?version=N``): its number and the newest's, else None.
    older: tuple[int, int] | None = None


def example_values(portal: Portal, dataset: Dataset, column: Column) -> tuple[list[str], int]:
    """A few distinct values of a column from the current version, the commonest first, and
    how many rows hold the first (0 for points, which are not counted)."""
    name = f"`{column.field_name}`"
    params = {"$where": f"{name} IS NOT NULL", "$limit": str(EXAMPLES)}
    if column.type is ColumnType.POINT:  # points cannot be grouped; any few will do
        params["$select"] = name
    else:
        params |= {
            "$select": f"{name} AS value, count(*) AS n",
            "$group": name,
            "$order": "n DESC, value",
        }
    rows = run_query(portal.store, dataset, params, portal.settings).rows
    values, top = [], 0
    for row in rows:
        if column.type is ColumnType.POINT:
            values.append(display(column.type, tuple(row[:2])))
        else:
            values.append(display(column.type, row[0]))
            top = top or int(row[1])
    return values, top


def _fields(portal: Portal, dataset: Dataset) -> list[Field]:
    # A dataset made again under its id starts its versions over (its creation tells it
    # apart); the dictionary's words are edited without a version.
    key = (
        id(portal.store),
        dataset.id,
        dataset.created_at,
        dataset.version,
        tuple((c.field_name, c.name, c.description, str(c.type)) for c in dataset.columns),
    )
    if key not in _FIELDS:
        _FIELDS[key] = [
            Field(
                c.name,
                c.field_name,
                str(c.type),
                c.description,
                *example_values(portal, dataset, c),
            )
            for c in dataset.columns
        ]
    return _FIELDS[key]


# Versions never change, so a version's example values never go stale.
_FIELDS: dict[tuple[object, ...], list[Field]] = {}


def example_filter(fields: list[Field]) -> str:
    """A filter the examples share: the text value held by the most rows (a category, not a
    case number), when it needs no escaping."""
    plain = [
        f
        for f in fields
        if f.type == str(ColumnType.TEXT)
        and not f.field_name.endswith("_raw")  # "(as recorded)" twins: not for filtering
        and f.examples
        and _PLAIN.fullmatch(f.examples[0])
    ]
    if not plain:
        return ""
    best = max(plain, key=lambda f: f.top_count)
    return f"{best.field_name} = '{best.examples[0]}'"


def examples(base: str, dataset_id: str, where: str, limit: int) -> list[Example]:
    """The same rows read five ways; each prints what it got, so a reader (and the tests)
    can see it ran."""
    params = {"$where": where, "$limit": str(limit)} if where else {"$limit": str(limit)}
    query = urlencode(params, quote_via=quote, safe="$")
    every = "?" + urlencode({"$where": where}, quote_via=quote, safe="$") if where else ""
    resource = f"{base}/resource/{dataset_id}"
    host = base.split("://", 1)[-1]
    plain_http = base.startswith("http://")
    adapter = (
        '    session_adapter={"prefix": "http://", "adapter": requests.adapters.HTTPAdapter()},\n'
        if plain_http
        else ""
    )
    where_arg = f", where={where!r}" if where else ""
    statement = "SELECT *" + (f" WHERE {where}" if where else "")
    body = json.dumps({"query": statement, "page": {"pageNumber": 1, "pageSize": limit}})
    return [
        Example(
            "curl",
            "curl (SODA 2.1)",
            "shell",
            f"curl -sS '{resource}.json?{query}'",
        ),
        Example(
            "curl-soda3",
            "curl (SODA3)",
            "shell",
            f"curl -sS -X POST '{base}/api/v3/views/{dataset_id}/query.json' \\\n"
            "     -H 'Content-Type: application/json' \\\n"
            f"     --data-binary @- <<'JSON'\n{body}\nJSON",
        ),
        Example(
            "sodapy",
            "Python, sodapy",
            "python",
            ("import requests\n" if plain_http else "")
            + "from sodapy import Socrata\n\n"
            + f"client = Socrata(\n    {host!r},\n    None,\n{adapter})\n"
            + f"rows = client.get({dataset_id!r}{where_arg}, limit={limit})\n"
            + 'print(len(rows), "rows")',
        ),
        Example(
            "pandas",
            "Python, pandas",
            "python",
            "import pandas as pd\n\n"
            f'frame = pd.read_csv("{resource}.csv?{query}")\n'
            'print(len(frame), "rows")',
        ),
        Example(
            "rsocrata",
            "R, RSocrata",
            "r",
            "library(RSocrata)\n\n"
            # RSocrata pages through every row itself, adding $limit and $offset: a $limit
            # of ours would be sent twice.
            f'frame <- read.socrata("{resource}.csv{every}")\n'
            'print(paste(nrow(frame), "rows"))',
        ),
        Example(
            "javascript",
            "JavaScript, fetch (browsers and Node 18+)",
            "javascript",
            f'const url = new URL("{resource}.json");\n'
            + "".join(
                f"url.searchParams.set({json.dumps(k)}, {json.dumps(v)});\n"
                for k, v in params.items()
            )
            + "fetch(url)\n"
            "  .then((response) => response.json())\n"
            '  .then((rows) => console.log(rows.length, "rows"));',
        ),
    ]


@router.get("/datasets/{dataset_id}/api", response_class=HTMLResponse)
def dataset_api_page(request: Request, dataset_id: str) -> HTMLResponse:
    """How a program reads this dataset: endpoints, fields, runnable examples."""
    portal = portal_of(request)
    asked = request.query_params.get("version")
    number = check_version_number(asked, "version") if asked else None
    viewer = viewer_of(request, portal.store)
    dataset, newest = visible_version(portal.store, viewer, dataset_id, number)
    older = (dataset.version, newest) if dataset.version != newest else None
    pinned = f"?$$version={dataset.version}" if older else ""
    base = absolute_url(request)
    fields = _fields(portal, dataset)
    where = example_filter(fields)
    has_point = any(c.type is ColumnType.POINT for c in dataset.columns)
    formats = ["json", "csv"] + (["geojson"] if has_point else [])
    page = ApiDatasetPage(
        title=f"API: {dataset.meta.name}",
        dataset_id=dataset.id,
        dataset_name=dataset.meta.name,
        dataset_url=f"/datasets/{dataset.id}" + (f"?version={dataset.version}" if older else ""),
        soda2=[f"{base}/resource/{dataset.id}.{fmt}{pinned}" for fmt in formats],
        soda3=f"{base}/api/v3/views/{dataset.id}/query.json",
        export=f"{base}/api/v3/views/{dataset.id}/export.csv",
        metadata=f"{base}/api/views/{dataset.id}.json",
        fields=fields,
        where=where,
        limit=EXAMPLE_LIMIT,
        examples=examples(base, dataset.id, where, EXAMPLE_LIMIT),
        older=older,
    )
    og = OpenGraph(
        title=page.title,
        description=f"Read “{dataset.meta.name}” from programs: fields, endpoints and "
        "examples in curl, Python, R and JavaScript.",
        url=absolute_url(request, request.url.path),
    )
    return render(request, "dataset_api.html", page, og=og)
