"""Rates against a population, with honest uncertainty and small-number rules.

A count of events in a group is treated as Poisson: its rate per 1,000 residents gets the
exact (Garwood) 95% interval. The ratio of a group's rate to a reference group's gets the
exact conditional interval: given both counts, the first is binomial with probability
r·n1 / (r·n1 + n2), so the Clopper-Pearson interval for that probability maps onto the ratio.
Small counts are withheld or flagged, with the reason, rather than shown as if firm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONFIDENCE = 0.95
WITHHOLD_BELOW = 5  # events: fewer and no rate is shown
FLAG_BELOW = 20  # events: fewer and the rate is shown with a warning


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def poisson_interval(count: int, confidence: float = CONFIDENCE) -> Interval:
    """Exact (Garwood) interval for the mean of a Poisson count."""
    from scipy.stats import chi2  # SciPy loads on first use, not with every process

    alpha = 1 - confidence
    low = 0.0 if count == 0 else chi2.ppf(alpha / 2, 2 * count) / 2
    high = chi2.ppf(1 - alpha / 2, 2 * count + 2) / 2
    return Interval(float(low), float(high))


def clopper_pearson(successes: int, trials: int, confidence: float = CONFIDENCE) -> Interval:
    """Exact interval for a binomial proportion."""
    from scipy.stats import beta

    alpha = 1 - confidence
    low = 0.0 if successes == 0 else beta.ppf(alpha / 2, successes, trials - successes + 1)
    high = (
        1.0 if successes == trials else beta.ppf(1 - alpha / 2, successes + 1, trials - successes)
    )
    return Interval(float(low), float(high))


def rate_ratio_interval(
    count: int, population: int, ref_count: int, ref_population: int
) -> Interval | None:
    """Exact conditional interval for (count/population) / (ref_count/ref_population)."""
    total = count + ref_count
    if total == 0:
        return None
    p = clopper_pearson(count, total)
    scale = ref_population / population

    def ratio(q: float) -> float:
        return float("inf") if q >= 1 else q / (1 - q) * scale

    return Interval(ratio(p.low), ratio(p.high))


@dataclass
class GroupRate:
    """One group's figures; ``None`` where a figure is withheld (``note`` says why)."""

    group: str
    count: int
    population: int
    rate: float | None  # per ``per`` residents per year
    rate_interval: Interval | None
    ratio: float | None  # against the reference group
    ratio_interval: Interval | None
    note: str = ""


@dataclass
class MethodCard:
    """What a figure is made of, in words a reader can check."""

    numerator: str
    denominator: str
    source: str
    vintage: str
    period: str = ""  # the period the events cover, and the exposure it gives
    view: str = ""  # the filters and unit of the view the figures belong to
    method: str = (
        "Rate = events ÷ years covered ÷ population × 1,000 (per 1,000 residents per year), "
        "with an exact Poisson (Garwood) 95% interval on the events. "
        "Ratio = a group's rate ÷ the reference group's, with an exact conditional "
        "(Clopper-Pearson) 95% interval."
    )
    small_numbers: str = (
        f"Fewer than {WITHHOLD_BELOW} events: no rate or ratio is shown. Fewer than "
        f"{FLAG_BELOW}: shown, flagged, read with care: the interval is wide."
    )
    limits: list[str] = field(default_factory=list)


def disparities(
    counts: dict[str, int],
    population: dict[str, int],
    reference: str,
    per: int = 1000,
    years: float = 1.0,
) -> list[GroupRate]:
    """Rates per ``per`` residents per year for every group with a population, over
    ``years`` of events, and ratios against ``reference`` (the years cancel out)."""
    ref_count = counts.get(reference, 0)
    ref_pop = population.get(reference, 0)
    rows: list[GroupRate] = []
    for group, pop in population.items():
        if pop <= 0:
            continue
        k = counts.get(group, 0)
        if k < WITHHOLD_BELOW:
            rows.append(
                GroupRate(
                    group,
                    k,
                    pop,
                    None,
                    None,
                    None,
                    None,
                    note=f"Withheld: {k} event{'s' if k != 1 else ''}, fewer than "
                    f"{WITHHOLD_BELOW}, is too few for a rate.",
                )
            )
            continue
        interval = poisson_interval(k)
        exposure = pop * years  # person-years
        rate = k / exposure * per
        ratio = ratio_interval = None
        if group != reference and ref_count >= WITHHOLD_BELOW and ref_pop > 0:
            ratio = (k / pop) / (ref_count / ref_pop)
            ratio_interval = rate_ratio_interval(k, pop, ref_count, ref_pop)
        note = f"Few events ({k}): the interval is wide; read with care." if k < FLAG_BELOW else ""
        rows.append(
            GroupRate(
                group,
                k,
                pop,
                rate,
                Interval(interval.low / exposure * per, interval.high / exposure * per),
                ratio,
                ratio_interval,
                note,
            )
        )
    return rows
