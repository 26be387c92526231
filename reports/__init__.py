"""Quality reports for the police forces that send IFB1 forms (``ifb1 report``).

From the case record (read-only, :mod:`ifb1.records.queries`): one page per
force (forms received, verdicts, deletions, manual entries, a hand diagram of
each finger's median score and share below the threshold, the problems that
cost most with advice, a month-by-month trend, the force beside all forces,
example prints), a national overview ranking the forces with confidence, and
optionally the same as PDF and the figures as JSON.

- :func:`write_reports` makes a report; :class:`ReportOutcome` says what it wrote.
- :func:`latest_reports` / :func:`reports_summary_line`: where the current
  report is, for the batch's morning summary.

Importing this package imports neither numpy nor matplotlib.
"""

from ifb1.reports.build import ReportError, ReportOutcome, parse_day, write_reports
from ifb1.reports.latest import LatestReport, latest_reports, reports_summary_line

__all__ = [
    "LatestReport",
    "ReportError",
    "ReportOutcome",
    "latest_reports",
    "parse_day",
    "reports_summary_line",
    "write_reports",
]
