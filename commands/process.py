"""``ifb1 process``: read, score and judge scanned IFB1 forms, one at a time or as they arrive at the desk.

Each scan goes through :func:`ifb1.pipeline.form.process_form`, the same code
path as ``ifb1 batch``; its outputs are written by :mod:`ifb1.outputs.folder` and
the watch loop is :func:`ifb1.desk.watch.watch_folder`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ifb1.desk.watch import show_result, watch_folder
from ifb1.fileio import ensure_private_dir
from ifb1.intake.watch import WATCH_POLL_S
from ifb1.outputs.folder import process_one, recorded_output_holder
from ifb1.pipeline.preview import PREVIEW_HEIGHT_PX


class _CannotUse(click.ClickException):
    """The output folder cannot be used (its disk is full or failing, or it holds recorded files): exit status 2."""

    exit_code = 2

    def __init__(self, message: str):
        from ifb1.printable import printable

        super().__init__(printable(message))



@click.command("process")
@click.argument("scans", nargs=-1, type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (created owner-only).")
@click.option("--watch", "watch_dir", default=None,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Stay running and process each new scan saved into this folder (instead of SCAN arguments).")
@click.option("--poll", default=None, type=click.FloatRange(min=0.05),
              help=f"With --watch: seconds between looks at the folder (default {WATCH_POLL_S}).")
@click.option("--max-files", default=None, type=click.IntRange(min=1), hidden=True,
              help="With --watch: stop after N scans processed (tests).")
@click.option("--idle-exit", default=None, type=click.FloatRange(min=0, min_open=True), hidden=True,
              help="With --watch: stop after SECONDS with nothing new (tests).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per form (JSON Lines).")
@click.option("--form-id", "form_id", default=None,
              help="Form id to use where no barcode can be read (validated; not with --watch).")
@click.option("--copy", "is_copy", is_flag=True,
              help="The scans are scanned copies, not originals (only copies can be judged unsuitable).")
@click.option("--policy", "policy_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Verdict policy TOML (default: the bundled default-policy.toml).")
@click.option("--scorer", type=click.Choice(["fast", "nist"]), default=None,
              help="NFIQ 2 scorer for every print: fast (ifb1's, about 30 ms a print) or nist (NIST's NFIQ 2, "
                   "about 0.3-0.6 s a print); default: the policy's [quality] scorer (fast).")
def process(scans: tuple[str, ...], out_dir: Path, watch_dir: Path | None, poll: float | None,
            max_files: int | None, idle_exit: float | None, as_json: bool, form_id: str | None, is_copy: bool,
            policy_file: Path | None, scorer: str | None) -> None:
    """Read scanned IFB1 forms: barcode, the fourteen prints, their quality and the verdict.

    For each scan: the form id (or MANUAL ENTRY), the verdict (SUITABLE,
    UNSUITABLE or REVIEW) with its reasons, each print's NFIQ 2 score and
    problems in plain words, and where the files went (OUT/<form>/: prints,
    preview.jpg, result.json). Exit status 0 when every input was read, 1 when
    any was rejected.

    With --watch DIR (no SCAN arguments) it stays running at the scanner desk:
    each new scan saved into DIR is processed once it has finished being
    written (size and time unchanged over two looks), each content once per
    session. Scans already in DIR when it starts are listed, not processed
    (pass them as arguments). Files in DIR are only read. Ctrl-C stops it
    with a tally.
    """
    from ifb1.barcode.ids import FORM_ID_PATTERN, validate_form_id
    from ifb1.pipeline.form import ProcessOptions
    from ifb1.pipeline.policy import load_policy

    if watch_dir is not None:
        if scans:
            raise click.UsageError("give either SCAN files or --watch DIR, not both")
        if form_id is not None:
            raise click.UsageError("--form-id is for one scan, not for every scan of a --watch session: "
                                   "process a form with no readable barcode again with SCAN --form-id ID")
        if os.path.realpath(out_dir) == os.path.realpath(watch_dir):
            raise click.UsageError("--out must not be the watched folder (files in it are only read): "
                                   "use another folder or a subfolder")
    else:
        if not scans:
            raise click.UsageError("give the SCAN files to process, or --watch DIR to process each new scan "
                                   "saved into a folder")
        given = [n for n, v in (("--poll", poll), ("--max-files", max_files), ("--idle-exit", idle_exit))
                 if v is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} only go with --watch DIR")
    if form_id is not None and validate_form_id(form_id) is None:
        raise click.BadParameter(f"{form_id!r} is not a valid form id (pattern {FORM_ID_PATTERN})",
                                 param_hint="--form-id")
    try:
        policy = load_policy(policy_file)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--policy") from exc
    if scorer is not None:
        from dataclasses import replace

        from ifb1.quality.nist import NistScorerUnavailable, require_nist

        if scorer == "nist":
            try:
                require_nist()
            except NistScorerUnavailable as exc:
                raise click.UsageError(f"--scorer nist: {exc}") from exc
        policy = replace(policy, quality=replace(policy.quality, scorer=scorer))
    options = ProcessOptions(is_copy=is_copy, form_id=form_id, policy=policy, preview_height=PREVIEW_HEIGHT_PX)
    holder = recorded_output_holder(out_dir)
    if holder is not None:
        raise _CannotUse(f"--out: {holder}; give ifb1 process a folder of its own")
    try:
        ensure_private_dir(out_dir)
    except OSError as exc:
        from ifb1.fileio import FORM_OUTPUT_FREE, storage_fault

        fault = storage_fault(exc, out_dir, FORM_OUTPUT_FREE)
        if fault is None:
            raise
        raise _CannotUse(str(fault)) from exc
    if watch_dir is not None:
        tally, _ = watch_folder(watch_dir, options=options, out_dir=out_dir, as_json=as_json,
                                poll=WATCH_POLL_S if poll is None else poll, max_files=max_files, idle_exit=idle_exit)
        if tally.rejected:
            sys.exit(1)
        return
    all_ok = True
    for src in scans:
        result = process_one(src, options=options, out_dir=out_dir)
        if result.get("fault"):  # a full disk: every next scan would fail the same way
            raise _CannotUse(result["error"])
        all_ok &= result["status"] == "ok"
        show_result(result, as_json=as_json, min_quality=policy.verdict.min_quality, out_dir=out_dir)
    if not all_ok:
        sys.exit(1)
