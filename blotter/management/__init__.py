"""What publishers do to datasets, shared by the publisher API, the staff pages and the
command line: create, edit metadata and the data dictionary (``metadata``; privacy rules made
stricter applied to the published rows, ``tighten``), write rows from
a payload (``rows``), keep uploads on disk (``uploads``), preview and publish files
(``files``), import profiles (``profiles``).

Every function checks the viewer's right first and writes an audit entry after. The edges
import from here, whichever module does the work.
"""

from __future__ import annotations

from blotter.management.files import (
    Cancelled,
    Preview,
    default_mode,
    preview_file,
    publish_file,
    upload_file,
)
from blotter.management.metadata import (
    Edited,
    MetadataChange,
    apply_metadata_change,
    check_row_identifier,
    create_dataset,
)
from blotter.management.profiles import PROFILE_NAME, profile_spec, save_profile
from blotter.management.rows import delete_row, publish_records
from blotter.management.uploads import (
    named_as_sent,
    remove_stale_uploads,
    save_upload,
    staged_upload,
    upload_name,
    uploads_dir,
)

__all__ = [
    "PROFILE_NAME",
    "Cancelled",
    "Edited",
    "MetadataChange",
    "Preview",
    "apply_metadata_change",
    "check_row_identifier",
    "create_dataset",
    "default_mode",
    "delete_row",
    "named_as_sent",
    "preview_file",
    "profile_spec",
    "publish_file",
    "publish_records",
    "remove_stale_uploads",
    "save_profile",
    "save_upload",
    "staged_upload",
    "upload_file",
    "upload_name",
    "uploads_dir",
]
