"""Form-id validation and safe output names.

A barcode's text is untrusted input: it is validated against a strict pattern
before being used anywhere, and never used raw in a file path.
"""

from __future__ import annotations

import re

# IFB1 label ids look like ``IFB1-2026-000123``; the accepted set is any
# upper-case alphanumeric id with hyphens, 4-32 characters, starting with an
# alphanumeric (so never ``.``, ``..``, ``/``, ``\\``, a drive letter or a
# leading ``-`` that a shell tool could read as an option).
FORM_ID_PATTERN = r"^[A-Z0-9][A-Z0-9-]{3,31}$"
_FORM_ID_RE = re.compile(FORM_ID_PATTERN)
_HEX_RE = re.compile(r"^[0-9a-f]{8,64}$")


def validate_form_id(text: str | None) -> str | None:
    """The form id carried by ``text``, or None when it is not a valid id.

    Surrounding white space (some scanners' keyboard wedges add it) is
    removed; nothing else is changed, so a wrong read is rejected rather than
    silently repaired.

    Parameters
    ----------
    text : str or None
        Decoded barcode text or an operator-typed id.

    Returns
    -------
    str or None
        The id when it matches ``FORM_ID_PATTERN``, else None.
    """
    if not isinstance(text, str):
        return None
    t = text.strip()
    return t if _FORM_ID_RE.fullmatch(t) else None


def is_valid_form_id(text: str | None) -> bool:
    """Whether ``text`` is a valid form id as it stands (no stripping)."""
    return isinstance(text, str) and _FORM_ID_RE.fullmatch(text) is not None


def safe_output_name(form_id: str | None, sha256_hex: str, *, page: int = 0, n_pages: int = 1) -> str:
    """A folder name for one form's outputs that nothing in a scan can steer.

    ``<form id>-<first 12 hex digits of the scan's SHA-256>`` when the id is
    valid, else ``scan-<first 16 hex digits>``; ``-p<N>`` is appended for page N
    of a multi-page file. The hash keeps two different scans of the same form
    (an original and a copy) from overwriting each other, and makes a rerun
    write to the same place.

    Raises
    ------
    ValueError
        When ``sha256_hex`` is not a lower-case hex digest.
    """
    if not _HEX_RE.fullmatch(sha256_hex or ""):
        raise ValueError(f"not a SHA-256 hex digest: {sha256_hex!r}")
    fid = form_id if is_valid_form_id(form_id) else None
    name = f"{fid}-{sha256_hex[:12]}" if fid else f"scan-{sha256_hex[:16]}"
    if n_pages > 1:
        name += f"-p{int(page) + 1}"
    # Belt and braces: the pattern above already excludes these.
    assert "/" not in name and "\\" not in name and ".." not in name and not name.startswith("-")
    return name
