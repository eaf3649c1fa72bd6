"""Events per activity: a dataset's rows per 100 or 1,000 rows of another dataset of the same
agency, period by period (arrests per 1,000 calls for service, force per 100 arrests).

The events are a Poisson count with the activity as exposure: each period's rate gets the
exact (Garwood) 95% interval, and the small-number rules of :mod:`blotter.analysis.rates`.
Only periods both datasets cover are compared.
"""

from __future__ import annotations

from dataclasses import dataclass

from blotter.analysis.rates import FLAG_BELOW, WITHHOLD_BELOW, Interval, poisson_interval
from blotter.analysis.trends import counts_by_period
from blotter.errors import InvalidRequest
from blotter.model import Dataset
from blotter.settings import Settings
from blotter.store.base import Store


@dataclass
class ActivityRate:
    period: str
    events: int
    activity: int
    rate: float | None
    interval: Interval | None
    note: str


def scope_mismatch(dataset: Dataset, activity: Dataset) -> str | None:
    """Why one dataset's rows cannot be read as a share of another's, if they cannot: their
    dataset files must declare the same scope (all arrests against all calls, not against
    an extract of traffic dispatches)."""
    if dataset.meta.scope and dataset.meta.scope == activity.meta.scope:
        return None
    return (
        f"{dataset.meta.row_noun or 'these rows'} cover "
        f"{dataset.meta.scope or 'an undeclared scope'} and {activity.meta.name} covers "
        f"{activity.meta.scope or 'an undeclared scope'}: "
        "a rate of one per the other would divide things that do not match."
    )


def activity_rates(
    store: Store,
    dataset: Dataset,
    activity: Dataset,
    settings: Settings,
    period: str = "year",
    where: str | None = None,
) -> list[ActivityRate]:
    """``dataset``'s rows per ``per`` rows of ``activity`` in each period both cover."""
    link = dataset.meta.activity
    if link is None:
        raise InvalidRequest(f"Dataset {dataset.id} names no activity to count against.")
    mismatch = scope_mismatch(dataset, activity)
    if mismatch is not None:
        raise InvalidRequest(f"No rate per {link.label or activity.meta.name}: {mismatch}")
    events, _ = counts_by_period(store, dataset, settings, period, where)
    exposure, _ = counts_by_period(store, activity, settings, period)
    rows = []
    for key in sorted(set(events) & set(exposure)):
        k, n = events[key], exposure[key]
        if k < WITHHOLD_BELOW:
            rows.append(ActivityRate(key, k, n, None, None, f"Withheld: {k} events is too few."))
            continue
        interval = poisson_interval(k)
        rows.append(
            ActivityRate(
                key,
                k,
                n,
                k / n * link.per,
                Interval(interval.low / n * link.per, interval.high / n * link.per),
                f"Few events ({k}): read with care." if k < FLAG_BELOW else "",
            )
        )
    return rows
