"""Who may see and change what. Every read and write above the store asks here.

A :class:`Viewer` is whoever sent a request: anonymous, a signed-in account, or an API token
(limited by its scopes). Datasets a viewer may not see do not exist for them (404, never 403,
so ids cannot be probed); columns marked internal are removed from the dataset before any
query is compiled, so no endpoint, page, export, search or count can reveal them.
"""

from __future__ import annotations

from dataclasses import dataclass

from blotter.errors import AuthenticationRequired, DatasetNotFound, PermissionDenied
from blotter.model import AuditEntry, Dataset, Role, User, Visibility
from blotter.store.base import Store
from blotter.store.common import now

STAFF = frozenset({Role.ADMIN, Role.PUBLISHER, Role.ANALYST})


@dataclass(frozen=True)
class Viewer:
    """The one asking. ``scopes`` is None for a password or session, whose role is whole."""

    user: User | None = None
    scopes: frozenset[str] | None = None
    address: str = ""
    via: str = "anonymous"  # anonymous, session, password, token

    @property
    def name(self) -> str:
        return self.user.name if self.user else ""

    def allows(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes or "admin" in self.scopes

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.role is Role.ADMIN and self.allows("admin")

    @property
    def reads_internal(self) -> bool:
        """Staff see internal datasets and columns; a token needs read-internal for it."""
        return self.user is not None and self.user.role in STAFF and self.allows("read-internal")


ANONYMOUS = Viewer()


def can_write(viewer: Viewer, dataset: Dataset) -> bool:
    """Whether the viewer may publish rows (upsert, replace, delete rows, upload a file):
    admins everywhere, publishers in the datasets of their agency (private ones only if
    they own them); a token also needs ``write:<id>`` or ``manage:<id>``."""
    return _role_may(viewer, dataset) and (
        viewer.allows(f"write:{dataset.id}") or viewer.allows(f"manage:{dataset.id}")
    )


def can_manage(viewer: Viewer, dataset: Dataset) -> bool:
    """Whether the viewer may change what the dataset is rather than its rows (metadata,
    data dictionary, visibility) or delete it: the same roles, and a token needs
    ``manage:<id>``, so a row-publishing script's token cannot open or remove a dataset."""
    return _role_may(viewer, dataset) and viewer.allows(f"manage:{dataset.id}")


def _role_may(viewer: Viewer, dataset: Dataset) -> bool:
    user = viewer.user
    if user is None:
        return False
    if user.role is Role.ADMIN:
        return True
    if user.role is not Role.PUBLISHER or user.agency != dataset.meta.agency:
        return False
    return dataset.meta.visibility is not Visibility.PRIVATE or dataset.meta.owner == user.name


def can_see(viewer: Viewer, dataset: Dataset) -> bool:
    visibility = dataset.meta.visibility
    if visibility is Visibility.PUBLIC:
        return True
    if visibility is Visibility.INTERNAL and viewer.reads_internal:
        return True
    owner = viewer.user is not None and dataset.meta.owner == viewer.name
    if visibility is Visibility.PRIVATE and viewer.reads_internal and (viewer.is_admin or owner):
        return True
    return can_write(viewer, dataset)


def sees_internal(viewer: Viewer, dataset: Dataset) -> bool:
    """Whether the viewer sees the dataset's internal columns (staff, its publishers)."""
    return viewer.reads_internal or can_write(viewer, dataset)


def as_seen_by(viewer: Viewer, dataset: Dataset) -> Dataset:
    """The dataset without the columns the viewer may not know about."""
    if sees_internal(viewer, dataset):
        return dataset
    return dataset.model_copy(update={"columns": [c for c in dataset.columns if not c.internal]})


def is_restricted(dataset: Dataset) -> bool:
    """Whether reading the dataset reads something the public cannot."""
    return dataset.meta.visibility is not Visibility.PUBLIC or any(
        c.internal for c in dataset.columns
    )


def visible_dataset(
    store: Store, viewer: Viewer, dataset_id: str, *, audit_read: bool = True
) -> Dataset:
    """The dataset as the viewer may see it; DatasetNotFound when they may not see it at all.

    A read of internal data is written to the audit log (``audit_read`` is off only for
    lookups that read no rows, such as checking a permission)."""
    dataset = store.get_dataset(dataset_id)
    if not can_see(viewer, dataset):
        raise DatasetNotFound(dataset_id)
    seen = as_seen_by(viewer, dataset)
    if audit_read and viewer.user is not None and is_restricted(dataset):
        audit(store, viewer, "read.internal", dataset_id)
    return seen


def visible_version(
    store: Store, viewer: Viewer, dataset_id: str, number: int | None
) -> tuple[Dataset, int]:
    """The dataset as the viewer may see it at version ``number`` (the newest when None),
    as it was served while that version was current, and the newest version's number.
    DatasetNotFound as :func:`visible_dataset`; VersionNotFound, VersionGone from the store.
    Who may see it is decided by the dataset as it is now."""
    newest = visible_dataset(store, viewer, dataset_id)
    if number is None or number == newest.version:
        return newest, newest.version
    return as_seen_by(viewer, store.dataset_at(dataset_id, number)), newest.version


def visible_datasets(store: Store, viewer: Viewer) -> list[Dataset]:
    return [as_seen_by(viewer, d) for d in store.list_datasets() if can_see(viewer, d)]


def writable_dataset(store: Store, viewer: Viewer, dataset_id: str) -> Dataset:
    """The whole dataset for a write of rows; 401 without credentials, 403 without the right."""
    require_account(viewer)
    dataset = visible_dataset(store, viewer, dataset_id, audit_read=False)
    if not can_write(viewer, dataset):
        raise PermissionDenied(
            f"{viewer.name} may not change dataset {dataset_id}: publishers write the "
            "datasets of their own agency, and tokens need the write:"
            f"{dataset_id} scope.",
            dataset_id=dataset_id,
        )
    return store.get_dataset(dataset_id)


def managed_dataset(store: Store, viewer: Viewer, dataset_id: str) -> Dataset:
    """The whole dataset for a change of its metadata, visibility or existence; 403 for a
    token that may only publish rows."""
    dataset = writable_dataset(store, viewer, dataset_id)
    if not can_manage(viewer, dataset):
        raise PermissionDenied(
            f"This token may publish rows of {dataset_id} but not change its metadata, "
            f"visibility or existence: that needs the manage:{dataset_id} scope.",
            dataset_id=dataset_id,
        )
    return dataset


def require_account(viewer: Viewer) -> User:
    if viewer.user is None:
        raise AuthenticationRequired(
            "Sign in, or send an account's credentials (HTTP Basic with a password or an API "
            "token, or the token as X-App-Token)."
        )
    return viewer.user


def require_admin(viewer: Viewer) -> User:
    user = require_account(viewer)
    if not viewer.is_admin:
        raise PermissionDenied("Only administrators may do this.")
    return user


def audit(
    store: Store, viewer: Viewer, action: str, dataset_id: str = "", **detail: object
) -> None:
    store.add_audit(
        AuditEntry(
            at=now(),
            actor=viewer.name,
            address=viewer.address,
            action=action,
            dataset_id=dataset_id,
            detail={"via": viewer.via, **detail},
        )
    )
