"""``ifb1 batch`` (nightly tray processing) and ``ifb1 export`` (export suitable forms).

The data folder is ``--data DIR``, else the environment variable ``IFB1_DATA``,
else ``./ifb1-data`` (as for ``ifb1 delete`` and ``ifb1 audit``). Exit status:
0 when everything went through, 1 when any file or export failed, 2 when the
command could not start (bad options, manifest or record busy) or the disk is
full or failing (one line naming the folder and the free space needed; the
record stays intact and a rerun finishes the work).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


class _CannotStart(click.ClickException):
    exit_code = 2

    def __init__(self, message: str):
        from ifb1.printable import printable

        super().__init__(printable(message))


def _say(text: str, **kwargs) -> None:
    """One line for people: control characters from file names escaped."""
    from ifb1.printable import printable

    click.echo(printable(text), **kwargs)


def _disk_fault(exc: BaseException, *, data_dir: Path, out_dir: Path | None, need_out: int) -> _CannotStart | None:
    """A full or failing disk as one line (exit 2): the data folder for SQLite, else the folder of the file."""
    import os
    import sqlite3

    from ifb1.fileio import RECORD_BATCH_FREE, StorageFault, storage_fault

    if isinstance(exc, StorageFault):
        return _CannotStart(str(exc))
    folder, need = data_dir, RECORD_BATCH_FREE
    name = getattr(exc, "filename", None)
    if isinstance(exc, OSError) and out_dir is not None and name is not None:
        here = os.path.abspath(os.fsdecode(name))
        if not here.startswith(os.path.abspath(data_dir) + os.sep):
            folder, need = out_dir, need_out
    fault = storage_fault(exc, folder, need) if isinstance(exc, (OSError, sqlite3.Error)) else None
    return None if fault is None else _CannotStart(str(fault))


def _data_option(fn):
    return click.option(
        "--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), envvar="IFB1_DATA",
        default="ifb1-data", show_default=True, help="The data folder holding ifb1.sqlite (env IFB1_DATA).",
    )(fn)


def _policy(path: Path | None):
    from ifb1.pipeline.policy import load_policy

    try:
        return load_policy(path)
    except ValueError as exc:
        raise _CannotStart(str(exc)) from exc


def _audit_key():
    from ifb1.records import load_audit_key

    try:
        return load_audit_key()
    except (ValueError, OSError) as exc:
        raise _CannotStart(str(exc)) from exc


@click.command("batch")
@click.argument("tray", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: forms/ (crops, previews, results) and exports/ (ANSI/NIST-ITL).")
@_data_option
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes (1 runs in this process).")
@click.option("--copy", "is_copy", is_flag=True, help="Every scan in the tray is a scanned copy.")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CSV with columns file,copy,force,case_ref (file relative to TRAY); every scan must be listed.")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Verdict/export policy TOML (default: the bundled default-policy.toml).")
@click.option("--force-name", default=None, help="The sending police force, where the manifest names none.")
@click.option("--json-summary", "json_summary", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the summary as JSON to this file (owner-only).")
def batch(tray: Path, out_dir: Path, data_dir: Path, workers: int, is_copy: bool, manifest: Path | None,
          policy_path: Path | None, force_name: str | None, json_summary: Path | None) -> None:
    """Process every scan under TRAY: record, verdict, export suitable forms.

    Resumable: scans already in the record are skipped (a suitable one not yet
    exported is exported), and a batch killed at any moment finishes its work
    when run again. Files in TRAY are never moved or changed; a bad file is
    reported and stays where it is. Unsuitable copies are flagged for
    `ifb1 delete`; forms for review wait for a person.
    """
    import sqlite3

    from ifb1.fileio import FORM_OUTPUT_FREE, StorageFault, storage_fault
    from ifb1.batch import BatchError, ManifestError, run_batch
    from ifb1.fileio import write_json_private
    from ifb1.records import RecordError

    if is_copy and manifest is not None:
        raise click.UsageError("give either --copy or --manifest, not both")
    policy = _policy(policy_path)
    key = _audit_key()
    try:
        summary = run_batch(tray, out=out_dir, data=data_dir, workers=workers, copy=is_copy, manifest=manifest,
                            policy=policy, force_name=force_name, audit_key=key)
    except (BatchError, ManifestError, RecordError) as exc:
        raise _CannotStart(str(exc)) from exc
    except (StorageFault, OSError, sqlite3.Error) as exc:
        fault = _disk_fault(exc, data_dir=data_dir, out_dir=out_dir, need_out=FORM_OUTPUT_FREE)
        if fault is None:
            raise
        raise fault from exc
    click.echo(summary.text())  # (each line made printable by the summary)
    if json_summary is not None:
        try:
            write_json_private(json_summary, summary.to_dict())
        except OSError as exc:
            fault = storage_fault(exc, json_summary.parent, 1_000_000)
            if fault is not None:
                raise _CannotStart(f"the batch finished but its JSON summary was not written: {fault}") from exc
            _say(f"ifb1 batch: cannot write the JSON summary {json_summary}: {exc}", err=True)
            sys.exit(1)
    if not summary.ok:
        sys.exit(1)


@click.command("export")
@_data_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the <form id>.an2 files (created owner-only).")
@click.option("--form-id", "form_ids", multiple=True,
              help="Only this form id (repeatable); a form that is not suitable is refused.")
@click.option("--force", is_flag=True, help="Export again forms that were exported before.")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Policy TOML whose [export] settings are used (default: the bundled one).")
def export(data_dir: Path, out_dir: Path, form_ids: tuple[str, ...], force: bool, policy_path: Path | None) -> None:
    """Export suitable forms of the record that were not exported yet (ANSI/NIST-ITL).

    Each export is registered in the record before its file is written and
    logged once written. Exit status 1 when any named form was refused or an
    export failed.
    """
    import sqlite3

    from ifb1.fileio import FORM_OUTPUT_FREE, StorageFault
    from ifb1.batch import export_pending
    from ifb1.fileio import ensure_private_dir
    from ifb1.records import RecordError, default_actor, open_record

    policy = _policy(policy_path)
    key = _audit_key()
    actor = default_actor()
    try:
        with open_record(data_dir, create=False, audit_key=key) as rec:
            ensure_private_dir(out_dir)
            rec.add_root(out_dir, kind="export", actor=actor)
            outcomes = export_pending(rec, exports_dir=Path(out_dir).resolve(), policy=policy, actor=actor,
                                      form_ids=form_ids, force=force)
    except RecordError as exc:
        raise _CannotStart(str(exc)) from exc
    except (StorageFault, OSError, sqlite3.Error) as exc:
        fault = _disk_fault(exc, data_dir=data_dir, out_dir=out_dir, need_out=FORM_OUTPUT_FREE)
        if fault is None:
            raise
        raise fault from exc
    failed = 0
    for o in outcomes:
        if o.action == "held":
            _say(f"HELD {o.form_id}: {o.note}")
        elif o.ok:
            _say(f"{o.action.upper()} {o.form_id}: {o.path}")
        else:
            failed += 1
            _say(f"{o.action.upper()} {o.form_id or o.form_key}: {o.error}")
    done = sum(o.action in ("exported", "completed") for o in outcomes)
    _say(f"ifb1 export: {done} exported, {failed} refused or failed, "
         f"{sum(o.action == 'already' for o in outcomes)} already exported"
         + (f", {sum(o.action == 'held' for o in outcomes)} held (another scan of the form id was exported)"
            if any(o.action == "held" for o in outcomes) else ""))
    if failed:
        sys.exit(1)
