"""``ifb1 quality``: NFIQ 2 score and feedback for fingerprint image files, folders and whole sample sets.

The command parses its options, calls :func:`ifb1.sampleset.run.run_sampleset`
and prints. Heavy imports (numpy, OpenCV, onnxruntime, distributed) happen
inside, so ``ifb1 --help`` stays fast.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import click


def clean(v: Any) -> Any:
    """JSON-safe value: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(v, dict):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        return int(v) if v.is_integer() and abs(v) < 2**53 else v
    return v


def human_line(r: dict[str, Any]) -> str:
    """One file's answer as the plain line ``ifb1 quality`` prints."""
    src = r["source"]
    if r["quality"] is None and not r["feedback"]["codes"]:
        return f"ERROR {r['error']}"
    bits = []
    if r["resampled_from"] is not None:
        bits.append(f"resampled {r['resampled_from']:.0f} -> 500 ppi")
    elif r["ppi_source"] == "assumed":
        bits.append("no ppi in file, 500 assumed")
    who = "NIST NFIQ 2" if r.get("scorer") == "nist" else "NFIQ 2"
    q = "no score" if r["quality"] is None else f"{who} = {r['quality']}"
    msgs = "; ".join(r["feedback"]["messages"]) or "no problems found"
    head = f"{src}: {q}" + (f" ({', '.join(bits)})" if bits else "")
    return f"{head}. {msgs}" + (f" [{r['error']}]" if r["error"] else "")


def _fail(message: str) -> None:
    from ifb1.printable import printable

    click.echo(f"Error: {printable(message)}", err=True)
    sys.exit(2)


@click.command("quality")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, one per line.")
@click.option("--ppi", type=click.FloatRange(min=1.0), default=None,
              help="Resolution of the files (overrides their metadata); resampled to 500 ppi.")
@click.option("--scorer", type=click.Choice(["fast", "nist"]), default="fast", show_default=True,
              help="fast: ifb1's own NFIQ 2 (about 30 ms a print); nist: NIST's NFIQ 2 itself (nbis-py, "
                   "about 0.3-0.6 s a print).")
@click.option("--workers", type=click.IntRange(min=0), default=1, show_default=True,
              help="Processes scoring at once on this machine (0: one per core).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write NIST nfiq2's CSV (its -a -v columns) to FILE, owner-only; a rerun with the same FILE "
                   "skips the files already in it (same path and content) and appends.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar with rate and time left on standard error [default: on a terminal].")
@click.option("--summary/--no-summary", default=None,
              help="Count, failures and score histogram on standard error at the end "
                   "[default: with --csv or a folder].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Score on a Dask cluster: its scheduler's address (tcp://HOST:8786); the CSV is written here.")
@click.option("--ship-files", is_flag=True,
              help="With --scheduler: send each file's bytes to the workers (else they open the same path, "
                   "which they must share).")
def quality(images: tuple[str, ...], as_json: bool, ppi: float | None, scorer: str, workers: int,
            csv_path: str | None, progress: bool | None, summary: bool | None, scheduler: str | None,
            ship_files: bool) -> None:
    """NFIQ 2 quality (0-100) and plain-word feedback for fingerprint IMAGES (files or folders).

    Reads PNG, TIFF, JPEG, BMP and WSQ; images not at 500 ppi are resampled and
    the output says so. Folders are walked recursively (sorted, hidden files
    skipped). Without --csv one line (or JSON object) per file is printed; with
    --csv the rows go to the CSV. Exit status 0 when every file was scored, 1
    otherwise, 2 for a usage or environment problem (NIST scorer not installed,
    a CSV that cannot be resumed, a cluster that cannot be reached).
    """
    from ifb1.printable import printable
    from ifb1.sampleset.engine import available_cores
    from ifb1.sampleset.run import SampleSetOptions, run_sampleset

    if ship_files and scheduler is None:
        raise click.UsageError("--ship-files needs --scheduler")
    if scheduler is not None and workers != 1:
        raise click.UsageError("--workers is for this machine; with --scheduler the cluster's workers score")
    if scorer == "nist" and scheduler is None:
        from ifb1.quality.nist import NistScorerUnavailable, require_nist

        try:
            require_nist()
        except NistScorerUnavailable as exc:
            raise click.UsageError(f"--scorer nist: {exc}") from exc
    options = SampleSetOptions(scorer=scorer, ppi=ppi, workers=workers or available_cores(),
                               scheduler=scheduler, ship_files=ship_files)
    if summary is None:
        summary = csv_path is not None or any(os.path.isdir(p) for p in images)
    if progress is None:
        progress = sys.stderr.isatty() and (csv_path is not None or not sys.stdout.isatty())

    def on_result(r) -> None:
        if as_json:
            click.echo(json.dumps(clean(r.result), allow_nan=False))
        elif csv_path is None:
            click.echo(printable(human_line(r.result)))
        sys.stdout.flush()

    def make_bar(total: int):
        from ifb1.sampleset.progress import Progress

        return Progress(total, stream=sys.stderr, tty=sys.stderr.isatty())

    from ifb1.fileio import StorageFault
    from ifb1.sampleset.engine import WorkersDoNotStart
    from ifb1.sampleset.listing import ListingError
    from ifb1.sampleset.nfiq2csv import CsvError
    from ifb1.sampleset.run import ClusterError

    try:
        s = run_sampleset(images, options=options, csv_path=csv_path, on_result=on_result,
                          progress=make_bar if progress else None)
    except (ListingError, CsvError, ClusterError, StorageFault, WorkersDoNotStart) as exc:
        _fail(str(exc))
        return
    if s.files == 0:
        _fail(f"no image files in {', '.join(images)}")
    if summary:
        for line in s.lines():
            click.echo(printable(line), err=True)
    elif s.failed and not as_json:
        click.echo(f"{s.failed} of {s.files} file(s) not scored", err=True)
    if s.failed:
        sys.exit(1)
