"""The nightly batch: the received-mail tray processed, recorded and exported, resumable at any moment.

- :mod:`~ifb1.batch.manifest`: which scans are copies, their force and case reference;
- :mod:`~ifb1.batch.tray`: every scan under the tray, in sorted order;
- :mod:`~ifb1.batch.pool`: one process pool, whole forms to workers, each staging its outputs;
- :mod:`~ifb1.batch.run`: :func:`run_batch`, the parent that alone writes the record, with resumption;
- :mod:`~ifb1.batch.export`: one ANSI/NIST-ITL transaction per suitable form (also ``ifb1 export``);
- :mod:`~ifb1.batch.summary`: the progress line and the morning summary.
"""

from ifb1.batch.export import ExportOutcome, build_export, export_form, export_held, export_pending
from ifb1.batch.manifest import MANIFEST_COLUMNS, ManifestEntry, ManifestError, read_manifest
from ifb1.batch.run import CRASH_ENV, CRASH_STAGES, run_batch
from ifb1.batch.summary import BatchSummary, FileOutcome, Progress
from ifb1.batch.tray import BatchError, TrayListing, list_tray

__all__ = [
    "CRASH_ENV",
    "CRASH_STAGES",
    "MANIFEST_COLUMNS",
    "BatchError",
    "BatchSummary",
    "ExportOutcome",
    "FileOutcome",
    "ManifestEntry",
    "ManifestError",
    "Progress",
    "TrayListing",
    "build_export",
    "export_form",
    "export_held",
    "export_pending",
    "list_tray",
    "read_manifest",
    "run_batch",
]
