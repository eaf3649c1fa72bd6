"""Which versions the retention setting keeps (``BLOTTER_KEEP_VERSIONS``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from blotter.errors import InvalidRequest
from blotter.model import Version

_RULE = re.compile(r"^last:(\d+)(,monthly)?$")


@dataclass(frozen=True)
class Retention:
    """Keep every version (``last`` None), or the last ``last`` versions, plus with
    ``monthly`` the last version of each calendar month. The newest is always kept."""

    last: int | None = None
    monthly: bool = False

    @classmethod
    def parse(cls, text: str) -> Retention:
        rule = text.strip().lower().replace(" ", "")
        if rule == "all":
            return cls()
        match = _RULE.match(rule)
        if not match or int(match.group(1)) < 1:
            raise InvalidRequest(
                f"BLOTTER_KEEP_VERSIONS is '{text}': it must be 'all', 'last:N' or "
                "'last:N,monthly' with N at least 1 (the last N versions, and with 'monthly' "
                "the last version of each calendar month).",
                setting="keep_versions",
            )
        return cls(last=int(match.group(1)), monthly=bool(match.group(2)))

    def kept(self, versions: list[Version]) -> list[int]:
        """The numbers kept among ``versions`` (any order), ascending."""
        numbers = sorted(v.number for v in versions)
        if self.last is None:
            return numbers
        keep = set(numbers[-self.last :])
        if self.monthly:
            month_last: dict[tuple[int, int], int] = {}
            for v in versions:
                month = (v.created_at.year, v.created_at.month)
                month_last[month] = max(month_last.get(month, 0), v.number)
            keep |= set(month_last.values())
        return sorted(keep)

    def words(self) -> str:
        if self.last is None:
            return "every version"
        last = "the last version" if self.last == 1 else f"the last {self.last} versions"
        return last + (" and the last of each calendar month" if self.monthly else "")


@dataclass
class Pruned:
    """What a prune removed (or, on a dry run, would remove) from one dataset."""

    dataset_id: str
    versions: list[int] = field(default_factory=list)  # newly pruned
    history_rows: int = 0  # rows of history tables no kept version reads
    tables: list[str] = field(default_factory=list)  # history tables dropped whole
    kept: list[int] = field(default_factory=list)  # the versions still readable
