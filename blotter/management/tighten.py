"""Privacy rules made stricter on a dataset with published rows take effect at once on what
the public can read, now and before: the served rows are written again under them as a new
version, and every earlier version is withdrawn (pruned, with the reason). The same when the
rules are the same but this Blotter applies them more strictly than the one that published
the rows (an upgrade: ``blotter versions reapply-privacy``, :func:`apply_rules_again`).

The engines cannot store the rules, write the version and prune in one transaction, so the
steps run in the order where the public never reads more than before, and a failure raises
(the edit's answer is an error, never a silent success):

1. the "(as recorded)" copies of newly protected fields made internal (less is public);
2. the new version written under the new rules (the rules stated are still the old ones,
   which the rows now exceed);
3. the new rules stored; a write that arrived between 2 and 3 ran under the old rules, so the
   served rows are protected again if the version served is no longer the one of step 2;
4. every version but the newest withdrawn: their rows, diffs, exports and pages answer 410.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from blotter.access import Viewer, audit
from blotter.errors import InvalidRequest
from blotter.model import Dataset, DatasetMeta
from blotter.privacy import reapply_problems, withdrawn_reason, withdrawn_words
from blotter.store.base import Store
from blotter.store.common import now
from blotter.store.protect import raw_copies_internal
from blotter.store.retention import Retention


@dataclass
class RulesApplied:
    """What applying stricter rules to the published rows did."""

    version: int  # the version written under them
    changed: int  # rows a rule changed
    left_out: int  # rows a rule now leaves out (a juvenile's, by a drop rule)
    withdrawn: list[int] = field(default_factory=list)  # the versions withdrawn
    counts: dict[str, int] = field(default_factory=dict)  # as a write counts them
    reason: str = ""

    def message(self) -> str:
        parts = [f"version {self.version}", f"{self.changed:,} {_rows(self.changed)} changed"]
        if self.left_out:
            parts.append(f"{self.left_out:,} {_rows(self.left_out)} left out")
        text = "Privacy rules applied to the published rows: " + ", ".join(parts)
        if self.withdrawn:
            text += f"; {withdrawn_words(self.withdrawn)} ({self.reason})"
        return text + "."

    def as_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "rowsChanged": self.changed,
            "rowsLeftOut": self.left_out,
            "withdrawn": self.withdrawn,
            "privacy": self.counts,
            "message": self.message(),
        }


def _rows(n: int) -> str:
    return "row" if n == 1 else "rows"


def store_stricter_rules(
    store: Store, viewer: Viewer, dataset: Dataset, meta: DatasetMeta
) -> RulesApplied:
    """Store ``meta``, whose privacy rules are stricter than those ``dataset``'s served rows
    were published under, applying them to the served rows and withdrawing every earlier
    version (see the module's steps). InvalidRequest, with nothing changed, when a rule
    cannot be applied to published rows."""
    old, new = dataset.meta.privacy, meta.privacy
    problems = reapply_problems(old, new)
    if problems:
        raise InvalidRequest(
            "Privacy rules: " + "; ".join(problems) + ".", field="privacy", problems=problems
        )
    columns = raw_copies_internal(new, dataset.columns)
    if columns != dataset.columns:
        store.update_columns(dataset.id, columns)
    at = now()
    reason = withdrawn_reason(at.date())
    note = f"The privacy rules of {at.date().isoformat()} applied to the published rows."
    version, changes = store.protect_published(
        dataset.id, old, new, source="privacy rules", note=note
    )
    changed, left_out = changes.updated, changes.deleted
    counts = Counter(version.privacy)
    store.update_metadata(dataset.id, meta)
    if store.get_dataset(dataset.id).version != version.number:
        # Written under ``old`` in between: applying old → new again is safe (every part of
        # it is idempotent), and reaches that write's rows.
        version, changes = store.protect_published(
            dataset.id, old, new, source="privacy rules", note=note
        )
        changed, left_out = changed + changes.updated, left_out + changes.deleted
        counts.update(version.privacy)
    (pruned,) = store.prune_versions(Retention(last=1), dataset_id=dataset.id, reason=reason)
    applied = RulesApplied(version.number, changed, left_out, pruned.versions, dict(counts), reason)
    _audit(store, viewer, "dataset.privacy-applied", dataset.id, applied)
    return applied


def apply_rules_again(store: Store, viewer: Viewer, dataset: Dataset) -> RulesApplied | None:
    """The dataset's own privacy rules applied again to its served rows, as this Blotter
    applies them (a rule made stricter by an upgrade: a hundred block that now also catches
    ``1234-A Main St``), written as a new version when they change a row, every earlier
    version then withdrawn; None when they change nothing (no version is written)."""
    rules = dataset.meta.privacy
    if not dataset.version or rules.is_empty():
        return None
    if store.privacy_changes(dataset.id, rules, rules) == (0, 0):
        return None
    at = now()
    reason = f"published before the privacy rules were applied again on {at.date().isoformat()}"
    note = (
        f"The dataset's privacy rules applied again to the published rows "
        f"({at.date().isoformat()}), as this version of Blotter applies them."
    )
    version, changes = store.protect_published(
        dataset.id, rules, rules, source="privacy rules", note=note
    )
    (pruned,) = store.prune_versions(Retention(last=1), dataset_id=dataset.id, reason=reason)
    applied = RulesApplied(
        version.number,
        changes.updated,
        changes.deleted,
        pruned.versions,
        dict(version.privacy),
        reason,
    )
    _audit(store, viewer, "dataset.privacy-reapplied", dataset.id, applied)
    return applied


def _audit(store: Store, viewer: Viewer, action: str, dataset_id: str, done: RulesApplied) -> None:
    audit(
        store,
        viewer,
        action,
        dataset_id,
        version=done.version,
        changed=done.changed,
        left_out=done.left_out,
        withdrawn=done.withdrawn,
        privacy=done.counts,
    )
