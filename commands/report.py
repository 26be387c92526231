"""``ifb1 report``: quality reports for the police forces, from the case record.

Parses the options, calls :func:`ifb1.reports.write_reports`, prints what it
wrote (or, with ``--json``, the figures). Exit status 2 when the record cannot
be read or the options are wrong.
"""

from __future__ import annotations

from pathlib import Path

import click


class _Unusable(click.ClickException):
    exit_code = 2

    def __init__(self, message: str):
        from ifb1.printable import printable

        super().__init__(printable(message))


@click.command("report")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), envvar="IFB1_DATA",
              default="ifb1-data", show_default=True, help="The data folder holding ifb1.sqlite (env IFB1_DATA).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the pages (owner-only); it holds the latest report, e.g. OUT/reports.")
@click.option("--from", "date_from", metavar="DATE", default=None, help="First day received (YYYY-MM-DD, UTC).")
@click.option("--to", "date_to", metavar="DATE", default=None, help="Last day received (YYYY-MM-DD, UTC).")
@click.option("--force", "forces", metavar="NAME", multiple=True,
              help='Pages for this force only (repeat for more; "force not recorded" for forms without one).')
@click.option("--no-examples", is_flag=True, help="No example prints (the pages then hold no fingerprint images).")
@click.option("--pdf", "pdf", is_flag=True, help="Also print each page to OUT/pdf/ (needs headless Chromium).")
@click.option("--json", "as_json", is_flag=True, help="Also write the figures to OUT/report.json and print them.")
def report(data_dir: Path, out_dir: Path, date_from: str | None, date_to: str | None, forces: tuple[str, ...],
           no_examples: bool, pdf: bool, as_json: bool) -> None:
    """Write quality reports for the police forces from the case record.

    One page per force (what goes wrong, on which fingers, how to fix it, with
    example prints), a national overview ranking the forces, all as
    self-contained HTML in OUT; with --pdf also as PDFs, with --json the
    figures as JSON.
    """
    import sqlite3

    from ifb1.fileio import storage_fault
    from ifb1.records import RecordError
    from ifb1.reports import ReportError, parse_day, write_reports
    from ifb1.reports.pdf import PdfError

    try:
        outcome = write_reports(
            data_dir, out_dir,
            received_from=parse_day(date_from, "--from") if date_from else None,
            received_to=parse_day(date_to, "--to") if date_to else None,
            forces=forces, examples=not no_examples, pdf=pdf, json_figures=as_json,
        )
    except (ReportError, RecordError, PdfError) as exc:
        raise _Unusable(str(exc)) from exc
    except sqlite3.Error as exc:
        raise _Unusable(f"{data_dir}: the record cannot be read ({exc})") from exc
    except OSError as exc:
        fault = storage_fault(exc, out_dir, 1_000_000)
        where = exc.filename or out_dir
        raise _Unusable(str(fault) if fault else f"{where}: cannot write the report ({exc.strerror or exc})") from exc
    if as_json and outcome.json_path is not None:
        click.echo(outcome.json_path.read_text(encoding="utf-8"), nl=False)
    else:
        click.echo(outcome.text())
