"""An iCalendar feed (RFC 5545) of a dataset's upcoming events, for datasets whose metadata
names their event fields (``calendar: {start, title, description, location, minutes,
timezone}``), so residents can subscribe to community meetings in their own calendar.

Start times are recorded as local wall time; with the dataset's ``timezone`` (an IANA name
such as ``America/New_York``) the feed gives them in UTC (``…Z``), which every calendar
converts to its reader's zone, daylight saving included. Without one they stay floating
local times, as recorded."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import Response

from blotter.access import visible_dataset
from blotter.auth import viewer_of
from blotter.errors import InvalidRequest, NotFound
from blotter.ingest.clean import CellError, parse_timestamp
from blotter.model import Dataset
from blotter.queries import run_query
from blotter.store.common import now
from blotter.web.filters import quote
from blotter.web.rendering import portal_of

router = APIRouter(include_in_schema=False)
MAX_EVENTS = 500


# Control characters TEXT may not hold (RFC 5545 3.3.11): all but tab. A bare CR or a line
# separator would otherwise end the line, and the text after it could start a new event.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u0085\u2028\u2029]")


def _escape(text: str) -> str:
    """A value as iCalendar TEXT: on one line, whatever it holds."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return _CONTROL.sub(lambda m: "\\n" if m.group() == "\n" else " ", text)


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1)."""
    out, current = [], ""
    for char in line:
        if len((current + char).encode()) > 75:
            out.append(current)
            current = " " + char
        else:
            current += char
    return "\r\n".join([*out, current])


def _stamp(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")  # floating local time, as the data records it


def event_fields(dataset: Dataset) -> dict[str, str]:
    """The dataset's event fields (``calendar:``) as its reader sees the dataset: a column
    staff hid from them is as if not named (the time zone names no column), so no event
    page asks for it and fails naming it; without a start and a title, none (no calendar)."""
    seen = {
        key: name
        for key, name in dataset.meta.calendar.items()
        if key == "timezone" or dataset.column(name) is not None
    }
    return seen if seen.get("start") and seen.get("title") else {}


def zone_of(fields: dict[str, str]) -> ZoneInfo | None:
    """The events' time zone, when the dataset names a valid one."""
    try:
        return ZoneInfo(fields["timezone"]) if fields.get("timezone") else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_now(fields: dict[str, str]) -> datetime:
    """Now, as wall time where the events happen (UTC when the zone is not named)."""
    zone = zone_of(fields)
    return datetime.now(zone).replace(tzinfo=None) if zone else now()


def _when(value: datetime, zone: ZoneInfo | None) -> str:
    """A recorded local time as iCalendar text: UTC when the zone is known, else floating."""
    if zone is None:
        return _stamp(value)
    return _stamp(value.replace(tzinfo=zone).astimezone(UTC)) + "Z"


def _ends(begins: datetime, minutes: object) -> datetime | None:
    """When an event lasting ``minutes`` (the publisher's number) ends; None, and the event
    has no end, when the number is no length an event can have: missing, not finite, not
    positive, or past the calendar's last year (a typo must not take the feed down)."""
    if minutes is None or isinstance(minutes, str | bool):
        return None
    try:
        length = float(minutes)  # type: ignore[arg-type]  # a number column's value
        if not math.isfinite(length) or length <= 0:
            return None
        return begins + timedelta(minutes=length)
    except (TypeError, ValueError, OverflowError):
        return None


@router.get("/datasets/{dataset_id}/events.ics")
def events(request: Request, dataset_id: str) -> Response:
    """Events starting from ``from`` (default: now), soonest first."""
    portal = portal_of(request)
    dataset = visible_dataset(portal.store, viewer_of(request, portal.store), dataset_id)
    fields = event_fields(dataset)
    if not fields:
        raise NotFound(f"Dataset {dataset_id} is not a calendar of events.")
    since_text = request.query_params.get("from", "")
    try:
        since = parse_timestamp(since_text) if since_text else local_now(fields)
    except CellError as err:
        raise InvalidRequest(f"'from' must be a date: {err}.", parameter="from") from None
    wanted = ["start", "title", "description", "location", "minutes"]
    present = [k for k in wanted if fields.get(k)]
    select = ", ".join(f"`{fields[k]}`" for k in present)
    start = f"`{fields['start']}`"
    params = {
        "$select": f":id, {select}",
        "$where": f"{start} >= {quote(since.isoformat(timespec='seconds'))}",
        "$order": start,
        "$limit": str(MAX_EVENTS),
    }
    result = run_query(portal.store, dataset, params, portal.settings)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:-//{portal.settings.site_name}//Blotter//EN",
        f"X-WR-CALNAME:{_escape(dataset.meta.name)}",
    ]
    stamp = _stamp(now()) + "Z"
    zone = zone_of(fields)
    domain = urlsplit(portal.settings.base_url).hostname or "blotter"
    for row in result.rows:
        event = dict(zip(["id", *present], row, strict=True))
        begins: datetime = event["start"]
        lines += [
            "BEGIN:VEVENT",
            f"UID:{dataset.id}-{event['id']}@{domain}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_when(begins, zone)}",
        ]
        ends = _ends(begins, event.get("minutes"))
        if ends is not None:
            lines.append(f"DTEND:{_when(ends, zone)}")
        lines.append(f"SUMMARY:{_escape(str(event['title'] or ''))}")
        if event.get("description"):
            lines.append(f"DESCRIPTION:{_escape(str(event['description']))}")
        if event.get("location"):
            lines.append(f"LOCATION:{_escape(str(event['location']))}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    body = "\r\n".join(_fold(line) for line in lines) + "\r\n"
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{dataset.id}.ics"'},
    )
