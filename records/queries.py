"""Read-only bulk queries over the case record, for reports over many forms.

:meth:`Record.forms` and :meth:`Record.prints` hand out one form at a time;
a quality report over 10,000 forms needs them all at once, in two queries
(``ifb1 report``, :mod:`ifb1.reports`). Nothing here writes to the record,
and the rows are plain immutable tuples (fast to build in bulk).
"""

from __future__ import annotations

import json
from typing import NamedTuple

from ifb1.records.db import Record


class FormFacts(NamedTuple):
    """What a quality report needs to know of one form.

    ``received_utc`` is the record's ISO 8601 UTC text; ``form_id_source``
    says where the form id came from (``"barcode"``, ``"operator"`` when typed
    by hand, None when unknown or not read); ``deletion`` is the deletion's
    status (``"pending"``, ``"done"``) or None when none was started.
    """

    form_key: int
    form_id: str | None
    force: str | None
    is_copy: bool
    verdict: str | None
    status: str
    received_utc: str
    form_id_source: str | None
    deletion: str | None


class PrintFacts(NamedTuple):
    """One print box's row (as :class:`ifb1.records.PrintEntry`) with its form's key."""

    form_key: int
    position: int
    present: bool
    quality: float | None
    feedback: tuple[str, ...]
    annotation_code: str | None
    crop_path: str | None
    scorer: str | None


def _range_sql(received_from: str | None, received_before: str | None) -> tuple[str, list[str]]:
    sql, args = "", []
    if received_from is not None:
        sql += " AND f.received_utc >= ?"
        args.append(received_from)
    if received_before is not None:
        sql += " AND f.received_utc < ?"
        args.append(received_before)
    return sql, args


def quality_facts(
    record: Record, *, received_from: str | None = None, received_before: str | None = None
) -> tuple[tuple[FormFacts, ...], tuple[PrintFacts, ...]]:
    """Every form received in a period, and all their print rows, in two queries.

    Parameters
    ----------
    record : Record
        An open record (read-only is enough).
    received_from, received_before : str, optional
        ISO 8601 UTC texts as the record stores them (``"2025-01-01"`` works:
        the texts compare in time order); forms received at or after
        ``received_from`` and before ``received_before``. Default: all.

    Returns
    -------
    (forms, prints)
        Forms in order of receipt; prints by form key and position.
    """
    conn = record._conn  # this package owns the connection; nothing here writes
    where, args = _range_sql(received_from, received_before)
    forms = tuple(
        FormFacts(r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6], r[7], r[8])
        for r in conn.execute(
            "SELECT f.form_key, f.form_id, f.force, f.is_copy, f.verdict, f.status, f.received_utc,"
            " (SELECT json_extract(e.details, '$.form_id_source') FROM events e"
            "   WHERE e.form_key = f.form_key AND e.kind = 'received' ORDER BY e.seq LIMIT 1),"
            " d.status"
            " FROM forms f LEFT JOIN deletions d ON d.form_key = f.form_key"
            " WHERE 1 = 1" + where + " ORDER BY f.form_key",
            args,
        )
    )
    # Most prints carry no feedback or one of a few combinations: decode each text once.
    decoded: dict[str, tuple[str, ...]] = {"[]": ()}

    def feedback(text: str) -> tuple[str, ...]:
        out = decoded.get(text)
        if out is None:
            out = decoded[text] = tuple(str(x) for x in json.loads(text))
        return out

    prints = tuple(
        PrintFacts(r[0], r[1], bool(r[2]), r[3], feedback(r[4]), r[5], r[6], r[7])
        for r in conn.execute(
            "SELECT p.form_key, p.position, p.present, p.quality, p.feedback, p.annotation_code, p.crop_path,"
            " p.scorer FROM prints p JOIN forms f ON f.form_key = p.form_key"
            " WHERE 1 = 1" + where + " ORDER BY p.form_key, p.position",
            args,
        )
    )
    return forms, prints


def live_crops(record: Record, form_keys) -> dict[int, set[str]]:
    """The crop files registered now (not removed) to each of these forms, as absolute paths.

    The paths are those of :attr:`ifb1.records.Artefact.path` (the record's
    folders resolved); compare a stored ``crop_path`` after resolving its folder
    (``os.path.realpath`` of its parent joined with its name). A deleted form's
    crops are gone and their registrations closed, so they are not here.
    """
    conn = record._conn  # this package owns the connection; nothing here writes
    roots = record.roots()
    keys = sorted({int(k) for k in form_keys})
    out: dict[int, set[str]] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        rows = conn.execute(
            "SELECT form_key, root, relpath FROM artefacts WHERE kind = 'crop' AND removed_utc IS NULL"
            f" AND form_key IN ({', '.join('?' * len(chunk))})",
            chunk,
        )
        for key, root, relpath in rows:
            base = roots.get(root)
            if base is not None:
                out.setdefault(key, set()).add(str(base / relpath))
    return out
