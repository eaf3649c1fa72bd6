"""Import profiles: a dataset file's columns and cleaning, saved by name."""

from __future__ import annotations

import re

from blotter.access import Viewer, audit, require_account
from blotter.errors import InvalidRequest, PermissionDenied
from blotter.ingest.spec import DatasetSpec, parse_spec
from blotter.model import Role, User
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
    _check_may_replace(store, user, name)
    spec = parse_spec(yaml_text, f"profile '{name}'", default_name=name)
    if not spec.columns:
        raise InvalidRequest(f"Profile '{name}' maps no columns.")
    store.save_profile(name, yaml_text, viewer.name, now())
    audit(store, viewer, "profile.save", name=name)
    return spec


def _check_may_replace(store: Store, user: User, name: str) -> None:
    """A publisher replaces only a profile saved in their own agency. Every agency's uploads
    (and their unattended scripts, ``?profile=``) publish through the profile they name, so
    one saved from another agency would change what that agency publishes; a profile saved
    by an administrator or the command line is theirs to change."""
    if user.role is Role.ADMIN:
        return
    saved_by = next((by for n, _, by in store.list_profiles() if n == name), None)
    if saved_by is None or saved_by == user.name:
        return
    found = store.user_credentials(saved_by)
    author = found[0] if found is not None else None
    if author is not None and author.role is Role.PUBLISHER and author.agency == user.agency:
        return
    raise PermissionDenied(
        f"Profile '{name}' was last saved by {saved_by or 'the command line'}, who does not "
        f"publish for {user.agency}: uploads of other agencies may depend on it. Save yours "
        "under another name, or ask an administrator to change it.",
        profile=name,
    )
