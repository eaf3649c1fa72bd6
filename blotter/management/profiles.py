"""Import profiles: a dataset file's columns and cleaning, saved by name."""

from __future__ import annotations

import re

from blotter.access import Viewer, audit, require_account
from blotter.errors import InvalidRequest, PermissionDenied
from blotter.ingest.spec import DatasetSpec, parse_spec
from blotter.model import Role
from blotter.store.base import Store
from blotter.store.common import now

PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")


def profile_spec(store: Store, name: str) -> DatasetSpec:
    text = store.get_profile(name)
    if text is None:
        known = ", ".join(n for n, _, _ in store.list_profiles()) or "none yet"
        raise InvalidRequest(f"There is no import profile '{name}' (profiles: {known}).")
    return parse_spec(text, f"profile '{name}'", default_name=name)


def save_profile(store: Store, viewer: Viewer, name: str, yaml_text: str) -> DatasetSpec:
    """Check and save an import profile: a dataset file's columns and cleaning, by name."""
    user = require_account(viewer)
    if user.role not in (Role.ADMIN, Role.PUBLISHER):
        raise PermissionDenied("Only publishers and administrators save import profiles.")
    if not PROFILE_NAME.match(name):
        raise InvalidRequest(
            f"'{name}' is not a profile name: lowercase letters, digits, '-' and '_'."
        )
    spec = parse_spec(yaml_text, f"profile '{name}'", default_name=name)
    if not spec.columns:
        raise InvalidRequest(f"Profile '{name}' maps no columns.")
    store.save_profile(name, yaml_text, viewer.name, now())
    audit(store, viewer, "profile.save", name=name)
    return spec
