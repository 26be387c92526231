"""The case record's schema: its constants, errors, tables and the ordered migrations.

:data:`MIGRATIONS` is the ordered list of steps; :func:`ifb1.records.db.open_record`
applies the pending ones in one transaction and refuses a database newer than this code.
"""

from __future__ import annotations

import re

from ifb1.records import chain


DB_FILE = "ifb1.sqlite"
LOCK_FILE = "ifb1.lock"
DATA_ROOT = "data"  # artefacts.root value meaning "the data folder, wherever it is now"

EVENT_KINDS = frozenset(
    {
        "record-created",  # the database was created
        "schema-migrated",  # a migration was applied
        "root-added",  # a folder was registered as holding files of this record
        "received",  # a scan was received (form row created)
        "processed",  # prints and verdict recorded
        "flagged",  # verdict unsuitable: the form needs action
        "exported",  # an ANSI/NIST-ITL export was written
        "failed",  # processing failed with an error
        "delete-intent",  # a deletion started (before any file is removed)
        "delete-blocked",  # a deletion could not finish; files remain
        "deleted",  # every file of the form is gone
        "note",  # free-text remark by an operator
    }
)
ARTEFACT_KINDS = frozenset({"scan", "crop", "preview", "export", "result"})
FORM_STATUSES = ("received", "processed", "flagged", "exported", "deletion-pending", "deleted")
VERDICT_UNSUITABLE = "unsuitable"

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class RecordError(Exception):
    """A problem with the case record, with a message naming the file or form."""


class SchemaTooNewError(RecordError):
    """The database was written by a newer ifb1 whose schema this version does not know."""


class RecordBusyError(RecordError):
    """Another process holds the record for writing."""


class PathOutsideRootsError(RecordError):
    """A file path lies outside the folders registered for this record."""


class ScanPathTakenError(RecordError):
    """A new scan's file name is registered to a form whose deletion still needs that name."""


class DuplicateScanError(RecordError):
    """A scan with this SHA-256 is already in the record (``form_key`` names it)."""

    def __init__(self, message: str, form_key: int):
        super().__init__(message)
        self.form_key = form_key


# --------------------------------------------------------------------------
# Schema. Each migration is a list of single statements (so that they run in
# one transaction: ``executescript`` would commit first).

_V1 = [
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "INSERT INTO schema_version (version) VALUES (0)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE roots (
        root_id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        added_utc TEXT NOT NULL)""",
    f"""CREATE TABLE forms (
        form_key INTEGER PRIMARY KEY,
        form_id TEXT,
        scan_sha256 TEXT NOT NULL UNIQUE CHECK (length(scan_sha256) = 64),
        source_path TEXT NOT NULL,
        received_utc TEXT NOT NULL,
        is_copy INTEGER NOT NULL CHECK (is_copy IN (0, 1)),
        force TEXT,
        case_ref TEXT,
        verdict TEXT,
        verdict_reasons TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in FORM_STATUSES)})))""",
    "CREATE INDEX forms_form_id ON forms (form_id)",
    """CREATE TABLE prints (
        form_key INTEGER NOT NULL REFERENCES forms (form_key),
        position INTEGER NOT NULL CHECK (position BETWEEN 1 AND 14),
        present INTEGER NOT NULL CHECK (present IN (0, 1)),
        quality REAL,
        feedback TEXT NOT NULL DEFAULT '[]',
        crop_path TEXT,
        PRIMARY KEY (form_key, position))""",
    f"""CREATE TABLE artefacts (
        artefact_id INTEGER PRIMARY KEY,
        form_key INTEGER NOT NULL REFERENCES forms (form_key),
        kind TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in sorted(ARTEFACT_KINDS))})),
        root TEXT NOT NULL,
        relpath TEXT NOT NULL,
        added_utc TEXT NOT NULL,
        removed_utc TEXT,
        UNIQUE (root, relpath))""",
    "CREATE INDEX artefacts_form ON artefacts (form_key)",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        form_key INTEGER REFERENCES forms (form_key),
        kind TEXT NOT NULL,
        utc TEXT NOT NULL,
        actor TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL)""",
    "CREATE INDEX events_form ON events (form_key)",
    """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, 'ifb1: the event log is append-only'); END""",
    """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, 'ifb1: the event log is append-only'); END""",
    """CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL)""",
    f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{chain.GENESIS_HASH}')",
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
       BEGIN SELECT RAISE(ABORT, 'ifb1: the audit head cannot be removed'); END""",
    """CREATE TRIGGER forms_no_delete BEFORE DELETE ON forms
       BEGIN SELECT RAISE(ABORT, 'ifb1: forms are never removed from the record'); END""",
    """CREATE TABLE deletions (
        form_key INTEGER PRIMARY KEY REFERENCES forms (form_key),
        form_id TEXT,
        scan_sha256 TEXT NOT NULL,
        received_on TEXT NOT NULL,
        deleted_on TEXT,
        reason TEXT NOT NULL,
        note TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'done')),
        intent_seq INTEGER NOT NULL REFERENCES events (seq),
        done_seq INTEGER REFERENCES events (seq),
        last_error TEXT)""",
    """CREATE TRIGGER deletions_no_delete BEFORE DELETE ON deletions
       BEGIN SELECT RAISE(ABORT, 'ifb1: deletion records are never removed'); END""",
    """CREATE TRIGGER deletions_done_is_final BEFORE UPDATE ON deletions WHEN OLD.status = 'done'
       BEGIN SELECT RAISE(ABORT, 'ifb1: a completed deletion cannot be changed'); END""",
]

#: The texts an officer writes in an empty print box (:mod:`ifb1.pipeline.annotation`):
#: "AMP" and "XX" (amputated) export as ANSI/NIST-ITL 14.018 ``XX``, "UP" (unable to print) as ``UP``.
ANNOTATION_CODES = ("AMP", "UP", "XX")

# v2: the annotation read in an empty box, so that an export rebuilt from the
# record (``ifb1 export``, a resumed batch) carries field 14.018 like the
# batch's own. Rows recorded before get NULL (not read then). The codes are
# spelt out (not taken from ANNOTATION_CODES) so that this step never changes.
_V2 = [
    """ALTER TABLE prints ADD COLUMN annotation_code TEXT
        CHECK (annotation_code IS NULL OR (annotation_code IN ('AMP', 'UP', 'XX') AND present = 0))""",
]

# v3: each registered file's SHA-256, so that deletion removes a file only when it
# still holds what was registered (a scan name reused by the scanner for another
# scan must never be taken for the old one); and a path is unique among the
# files registered *now* (``removed_utc IS NULL``) rather than for ever, so that a
# name freed by a deletion, or by a form whose scan was overwritten, can be
# registered again. SQLite cannot drop a UNIQUE constraint, hence the copy.
_V3 = [
    """CREATE TABLE artefacts_v3 (
        artefact_id INTEGER PRIMARY KEY,
        form_key INTEGER NOT NULL REFERENCES forms (form_key),
        kind TEXT NOT NULL CHECK (kind IN ('crop', 'export', 'preview', 'result', 'scan')),
        root TEXT NOT NULL,
        relpath TEXT NOT NULL,
        added_utc TEXT NOT NULL,
        removed_utc TEXT,
        sha256 TEXT CHECK (sha256 IS NULL OR length(sha256) = 64))""",
    """INSERT INTO artefacts_v3 (artefact_id, form_key, kind, root, relpath, added_utc, removed_utc, sha256)
        SELECT a.artefact_id, a.form_key, a.kind, a.root, a.relpath, a.added_utc, a.removed_utc,
               CASE WHEN a.kind = 'scan' THEN (SELECT f.scan_sha256 FROM forms f WHERE f.form_key = a.form_key) END
        FROM artefacts a""",
    "DROP TABLE artefacts",
    "ALTER TABLE artefacts_v3 RENAME TO artefacts",
    "CREATE INDEX artefacts_form ON artefacts (form_key)",
    "CREATE UNIQUE INDEX artefacts_live_path ON artefacts (root, relpath) WHERE removed_utc IS NULL",
]

# v4: which NFIQ 2 scorer gave a print's quality ("fast": ifb1's own; "nist":
# NIST's NFIQ 2), so that an export rebuilt from the record never writes an
# estimate under NIST's CBEFF ids. Rows recorded before get NULL (unknown: taken
# as the fast scorer, the only one then).
_V4 = [
    "ALTER TABLE prints ADD COLUMN scorer TEXT CHECK (scorer IS NULL OR scorer IN ('fast', 'nist'))",
]

#: Ordered ``(version, description, statements)``; append new steps, never edit old ones.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "forms, prints, artefacts, roots, hash-chained events, deletions", _V1),
    (2, "prints.annotation_code: AMP/XX/UP written in an empty box (ANSI/NIST-ITL 14.018)", _V2),
    (3, "artefacts.sha256 (deletion checks a file's content first); a path is unique among live files only", _V3),
    (4, "prints.scorer: which NFIQ 2 (fast or nist) gave the quality", _V4),
]
