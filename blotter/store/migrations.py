"""The catalog's schema, as numbered migrations, written once for every SQL engine.

A migration's number is its position (from 1); each store records the numbers it applied in
``blotter_schema`` and applies the rest in order when it opens. Only type names differ
between engines, so they are filled in per engine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    text: str  # VARCHAR / TEXT
    json: str  # JSON / JSONB
    version_owner: str  # how a version row refers to its dataset


DUCKDB = Dialect(text="VARCHAR", json="JSON", version_owner="VARCHAR NOT NULL")
POSTGRES = Dialect(
    text="TEXT",
    json="JSONB",
    version_owner="TEXT NOT NULL REFERENCES blotter_datasets (id) ON DELETE CASCADE",
)


def migrations(d: Dialect) -> tuple[tuple[str, ...], ...]:
    """Every migration's statements, oldest first. Never edit one: add the next."""
    return (
        (
            f"""CREATE TABLE blotter_datasets (
                id {d.text} PRIMARY KEY,
                meta {d.json} NOT NULL,
                columns {d.json} NOT NULL,
                created_at TIMESTAMP NOT NULL,
                updated_at TIMESTAMP NOT NULL,
                data_as_of TIMESTAMP,
                current_version INTEGER NOT NULL DEFAULT 0,
                next_row_id BIGINT NOT NULL DEFAULT 1
            )""",
            f"""CREATE TABLE blotter_versions (
                dataset_id {d.version_owner},
                number INTEGER NOT NULL,
                table_name {d.text} NOT NULL,
                columns {d.json} NOT NULL,
                row_count BIGINT NOT NULL,
                created_at TIMESTAMP NOT NULL,
                source {d.text} NOT NULL,
                PRIMARY KEY (dataset_id, number)
            )""",
        ),
        (
            f"""CREATE TABLE blotter_users (
                name {d.text} PRIMARY KEY,
                role {d.text} NOT NULL,
                agency {d.text} NOT NULL,
                password_hash {d.text} NOT NULL,
                created_at TIMESTAMP NOT NULL
            )""",
        ),
        (
            f"""CREATE TABLE blotter_tokens (
                id {d.text} PRIMARY KEY,
                user_name {d.text} NOT NULL,
                label {d.text} NOT NULL,
                scopes {d.json} NOT NULL,
                secret_hash {d.text} NOT NULL,
                created_at TIMESTAMP NOT NULL,
                last_used_at TIMESTAMP,
                revoked_at TIMESTAMP
            )""",
        ),
        (
            "ALTER TABLE blotter_users ADD COLUMN failed_logins INTEGER DEFAULT 0",
            "ALTER TABLE blotter_users ADD COLUMN locked_until TIMESTAMP",
            "ALTER TABLE blotter_users ADD COLUMN disabled BOOLEAN DEFAULT false",
            f"""CREATE TABLE blotter_sessions (
                id_hash {d.text} PRIMARY KEY,
                user_name {d.text} NOT NULL,
                csrf {d.text} NOT NULL,
                created_at TIMESTAMP NOT NULL,
                expires_at TIMESTAMP NOT NULL
            )""",
            # Append-only: the application has no statement that updates or deletes here.
            f"""CREATE TABLE blotter_audit (
                logged_at TIMESTAMP NOT NULL,
                actor {d.text} NOT NULL,
                address {d.text} NOT NULL,
                action {d.text} NOT NULL,
                dataset_id {d.text} NOT NULL,
                detail {d.json} NOT NULL
            )""",
            "CREATE INDEX blotter_audit_logged_at ON blotter_audit (logged_at)",
            f"""CREATE TABLE blotter_profiles (
                name {d.text} PRIMARY KEY,
                spec {d.text} NOT NULL,
                updated_at TIMESTAMP NOT NULL,
                updated_by {d.text} NOT NULL
            )""",
        ),
        (
            # How often each dataset page was opened, for the catalog's "most viewed".
            f"""CREATE TABLE blotter_views (
                dataset_id {d.text} PRIMARY KEY,
                views BIGINT NOT NULL
            )""",
        ),
        (
            # Each write's data-quality report (blotter/quality.py), newest shown.
            f"""CREATE TABLE blotter_quality (
                dataset_id {d.text} NOT NULL,
                version INTEGER NOT NULL,
                created_at TIMESTAMP NOT NULL,
                report {d.json} NOT NULL,
                PRIMARY KEY (dataset_id, version)
            )""",
        ),
        (
            # Verifiable history: what each version changed against the one before, the
            # publisher's note, the agency that published it, and whether the retention
            # setting removed it. Counts of versions written before are filled in when the
            # store opens (store/history.py), from the version tables.
            "ALTER TABLE blotter_versions ADD COLUMN rows_added BIGINT",
            "ALTER TABLE blotter_versions ADD COLUMN rows_changed BIGINT",
            "ALTER TABLE blotter_versions ADD COLUMN rows_removed BIGINT",
            f"ALTER TABLE blotter_versions ADD COLUMN note {d.text} DEFAULT ''",
            f"ALTER TABLE blotter_versions ADD COLUMN agency {d.text} DEFAULT ''",
            "ALTER TABLE blotter_versions ADD COLUMN pruned BOOLEAN DEFAULT false",
        ),
        (
            # The history table (store/segments.py) that keeps each version's rows; versions
            # written before are moved into one when the store opens (store/history.py).
            f"ALTER TABLE blotter_versions ADD COLUMN segment {d.text}",
        ),
        (
            # Answers of a version's first public view computed once, when it was published
            # (queries/stored_answers.py): a version never changes, so they stay exact.
            f"""CREATE TABLE blotter_answers (
                dataset_id {d.text} NOT NULL,
                version INTEGER NOT NULL,
                created_at TIMESTAMP NOT NULL,
                answers {d.text} NOT NULL,
                PRIMARY KEY (dataset_id, version)
            )""",
        ),
        (
            # Every SHA-256 a version's public rows.csv has had (history.checksum): staff
            # hiding a column later changes the bytes, and a checksum taken before must still
            # be found, with when it stopped being the one served.
            f"""CREATE TABLE blotter_checksums (
                dataset_id {d.text} NOT NULL,
                created_at TIMESTAMP NOT NULL,
                version INTEGER NOT NULL,
                sha256 {d.text} NOT NULL,
                first_given TIMESTAMP NOT NULL,
                PRIMARY KEY (dataset_id, created_at, version, sha256)
            )""",
        ),
        (
            # Why a version was pruned, when not by the retention setting (withdrawn because
            # it was published before the dataset's privacy rules were tightened).
            f"ALTER TABLE blotter_versions ADD COLUMN pruned_reason {d.text} DEFAULT ''",
        ),
        (
            # Failed sign-ins of names that are no account, kept where every worker sees
            # them as it sees an account's (auth.sign_in): a lockout then comes after the
            # same number of tries for both, whichever worker answers. Kept a day.
            f"""CREATE TABLE blotter_name_failures (
                name {d.text} PRIMARY KEY,
                failed INTEGER NOT NULL,
                locked_until TIMESTAMP,
                last_failed TIMESTAMP NOT NULL
            )""",
            "CREATE INDEX blotter_name_failures_last ON blotter_name_failures (last_failed)",
        ),
    )
