"""The case record: forms, prints, derived files, a hash-chained event log and deletions.

An SQLite database (standard library, WAL) in the data folder, ``ifb1.sqlite``:

- :func:`open_record` opens (and creates or migrates) it and returns a
  :class:`Record`, the only handle; there is no module-level state.
- :func:`verify_chain` checks the append-only event log's hash chain.
- :func:`delete_unsuitable` removes unsuitable scanned copies with a
  crash-safe protocol that logs the intent, removes every registered file and
  then logs the deletion with its date.

Only this package's modules touch the database; nothing here imports numpy.
"""

from ifb1.records.audit import AuditReport, load_audit_key, verify_chain
from ifb1.records.db import Record, open_record
from ifb1.records.rows import Artefact, Deletion, Event, FormRow, PrintEntry, default_actor, system_actor
from ifb1.records.schema import (
    ANNOTATION_CODES,
    DuplicateScanError,
    PathOutsideRootsError,
    RecordBusyError,
    RecordError,
    ScanPathTakenError,
    SchemaTooNewError,
)
from ifb1.records.delete import DeletionOutcome, DeletionReport, case_note, delete_unsuitable

__all__ = [
    "ANNOTATION_CODES",
    "Artefact",
    "AuditReport",
    "Deletion",
    "DeletionOutcome",
    "DeletionReport",
    "DuplicateScanError",
    "Event",
    "FormRow",
    "PathOutsideRootsError",
    "PrintEntry",
    "Record",
    "RecordBusyError",
    "RecordError",
    "ScanPathTakenError",
    "SchemaTooNewError",
    "case_note",
    "default_actor",
    "delete_unsuitable",
    "load_audit_key",
    "open_record",
    "system_actor",
    "verify_chain",
]
