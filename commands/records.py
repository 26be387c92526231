"""``ifb1 delete`` and ``ifb1 audit verify|log``.

The data folder is ``--data DIR``, else the environment variable
``IFB1_DATA``, else ``./ifb1-data``. These commands never create a record:
they fail (exit 2) when there is none in the data folder. A full or
failing disk is an environment fault: one line naming the folder and the
free space needed, exit status 2 (``audit verify`` exits 1 only for a
broken chain).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click

DATA_HELP = "The data folder holding ifb1.sqlite (env IFB1_DATA)."


class _Unusable(click.ClickException):
    """The record cannot be opened or the key cannot be read: exit 2."""

    exit_code = 2

    def __init__(self, message: str):
        from ifb1.printable import printable

        super().__init__(printable(message))


def _say(text: str) -> None:
    """One line for people: control characters from file names or barcodes escaped."""
    from ifb1.printable import printable

    click.echo(printable(text))


def _data_option(fn):
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="IFB1_DATA",
        default="ifb1-data",
        show_default=True,
        help=DATA_HELP,
    )(fn)


@contextlib.contextmanager
def _environment(data_dir: Path):
    """Turn a full or failing disk under the data folder into one line and exit status 2."""
    import sqlite3

    from ifb1.fileio import RECORD_MIN_FREE, storage_fault

    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        fault = storage_fault(exc, data_dir, RECORD_MIN_FREE)
        if fault is not None:
            raise _Unusable(str(fault)) from exc
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
            raise _Unusable(f"{data_dir}: the record cannot be read ({exc})") from exc
        raise


def _open(data_dir: Path, *, readonly: bool):
    import sqlite3

    from ifb1.fileio import RECORD_MIN_FREE, storage_fault
    from ifb1.records import RecordError, load_audit_key, open_record

    try:
        key = load_audit_key()
        return open_record(data_dir, create=False, readonly=readonly, audit_key=key)
    except (OSError, sqlite3.Error) as exc:
        fault = storage_fault(exc, data_dir, RECORD_MIN_FREE)
        if fault is not None:
            raise _Unusable(str(fault)) from exc
        raise _Unusable(f"{data_dir}: the record cannot be opened ({exc})") from exc
    except (RecordError, ValueError) as exc:
        raise _Unusable(str(exc)) from exc


@click.command("delete")
@_data_option
@click.option("--dry-run", is_flag=True, help="List what would be deleted; change nothing.")
@click.option("--actor", default=None, help="Who is deleting (default: the OS user name).")
@click.option(
    "--form-id",
    "form_ids",
    multiple=True,
    help="Only forms with this form id (repeatable); originals and suitable forms are refused.",
)
def delete(data_dir: Path, dry_run: bool, actor: str | None, form_ids: tuple[str, ...]) -> None:
    """Delete unsuitable scanned copies and every file derived from them.

    Each deletion is logged before any file is removed and logged as done,
    with its date and the case note, only once no file remains. Deletions
    left pending by a crash or an error are finished first. Exit status 1
    when a deletion stays pending or a requested form was refused.
    """
    from ifb1.records import RecordError, default_actor, delete_unsuitable

    who = actor or default_actor()
    # A dry run only reads: it does not wait for (or block) a running batch.
    with _environment(data_dir), _open(data_dir, readonly=dry_run) as record:
        keys = None
        if form_ids:
            keys = []
            for fid in form_ids:
                found = record.forms(form_id=fid)
                if not found:
                    raise click.ClickException(f"no form with form id {fid!r} in {record.data_dir}")
                keys.extend(f.form_key for f in found)
        try:
            report = delete_unsuitable(record, actor=who, dry_run=dry_run, form_keys=keys)
        except RecordError as exc:
            raise click.ClickException(str(exc)) from exc
    labels = {
        "deleted": "DELETED",
        "would-delete": "WOULD DELETE",
        "would-finish": "WOULD FINISH",
        "pending": "PENDING",
        "refused": "REFUSED",
    }
    for o in report.outcomes:
        name = o.form_id or f"(no form id, form {o.form_key})"
        _say(f"{labels[o.action]:<13} {name}  sha256 {o.scan_sha256[:12]}")
        if o.action in ("deleted", "would-delete", "would-finish"):
            _say(f"  files: {len(o.removed)}" + (" (already gone)" if not o.removed else ""))
            for f in o.removed:
                _say(f"    {f}")
        if o.note:
            _say(f"  note: {o.note}")
        for e in o.errors:
            _say(f"  ! {e}")
    if not report.outcomes:
        _say("nothing to delete")
    summary = (
        f"{len(report.deleted)} deleted, {len(report.pending)} pending, {len(report.refused)} refused"
        if not dry_run
        else f"dry run: {len(report.outcomes) - len(report.refused)} would be deleted, {len(report.refused)} refused"
    )
    _say(summary)
    if report.pending or report.refused:
        raise SystemExit(1)


@click.group("audit")
def audit() -> None:
    """Check and show the case record's hash-chained event log."""


@audit.command("verify")
@_data_option
def verify(data_dir: Path) -> None:
    """Verify the event log's hash chain (exit 0 intact, 1 broken, 2 unusable)."""
    from ifb1.records import verify_chain

    from ifb1.records.chain import ALG_HMAC, KEY_FILE_ENV

    with _environment(data_dir), _open(data_dir, readonly=True) as record:
        if record.audit_alg == ALG_HMAC and record.audit_key is None:
            raise _Unusable(f"{record.data_dir}: the event log is keyed (HMAC); set {KEY_FILE_ENV} to verify it")
        report = verify_chain(record)
    for w in report.warnings:
        _say(f"warning: {w}")
    kind = "HMAC-SHA-256" if report.keyed else "SHA-256"
    if report.intact:
        _say(f"intact: {report.events} events ({kind} chain), head seq {report.head_seq} {report.head_hash}")
        return
    _say(f"BROKEN at seq {report.first_broken_seq}: {report.events} events read ({kind} chain)")
    for p in report.problems:
        _say(f"  ! {p}")
    raise SystemExit(1)


@audit.command("log")
@_data_option
@click.option("--form-id", default=None, help="Only the events of forms with this form id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def log(data_dir: Path, form_id: str | None, as_json: bool) -> None:
    """Print the event log, oldest first."""
    with _environment(data_dir), _open(data_dir, readonly=True) as record:
        if form_id is None:
            events = list(record.events())
        else:
            forms = record.forms(form_id=form_id)
            if not forms:
                raise click.ClickException(f"no form with form id {form_id!r} in {record.data_dir}")
            events = sorted((e for f in forms for e in record.events(f.form_key)), key=lambda e: e.seq)
        ids = {f.form_key: f.form_id for f in record.forms()}
    for e in events:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "seq": e.seq,
                        "utc": e.utc,
                        "kind": e.kind,
                        "actor": e.actor,
                        "form_key": e.form_key,
                        "form_id": ids.get(e.form_key),
                        "details": e.details,
                        "hash": e.hash,
                    },
                    sort_keys=True,
                )
            )
        else:
            form = "-" if e.form_key is None else (ids.get(e.form_key) or f"form {e.form_key}")
            details = json.dumps(e.details, sort_keys=True, ensure_ascii=False)
            _say(f"{e.seq:>6} {e.utc} {e.kind:<15} {form:<16} {e.actor}  {details}")

