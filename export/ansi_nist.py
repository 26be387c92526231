"""ANSI/NIST-ITL 1-2011 Update 2015 transactions: Type-1, Type-2 and Type-14 records.

One transaction per form: a Type-1 header with the validated form id as
transaction control number, a Type-2 with the form id, the case reference and
"Op Innerste" in the comments (as the team enters them by hand today), and one
Type-14 record per print box: WSQ-compressed 500 ppi image, finger position,
impression type, the NFIQ 2 unified score in 14.024 (FQM), and 14.018 (AMP) for
amputated (``XX``) or unable-to-print (``UP``) fingers. Since the 2013 update,
image fields in Type-14 are present only with image data (14.999), so a finger
that could not be printed gets a Type-14 with FGP and AMP and no image.

References: ANSI/NIST-ITL 1-2011 Update 2015 (NIST SP 500-290e3), sections 8.1,
8.2 and 8.14; NBIS WSQ (FBI IAFIS-IC-0110 v3.1); NFIQ 2 CBEFF identifiers from
NIST's ``nfiq2_constants.cpp``.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ifb1.fileio import write_private_atomic

# ANSI/NIST-ITL 1-2011 Update 2015 version number (field 1.002).
VERSION = "0502"
# Type-14 impression types (Table 7) for ink on paper ("non-live scan").
IMPRESSION_CODE = {"plain": "2", "rolled": "3"}
# 14.024 quality value when no score was attempted / when scoring failed.
QUALITY_NOT_COMPUTED = 254
QUALITY_FAILED = 255
# Amputated or bandaged codes (14.018 ABC).
AMPUTATION_CODES = ("XX", "UP")
# Finger positions inside the four-finger slaps (13 right, 14 left).
SLAP_FINGERS = {13: (2, 3, 4, 5), 14: (7, 8, 9, 10)}
# Plain thumbs (11 right, 12 left) are the same fingers as rolled 1 and 6.
PLAIN_THUMB_FINGER = {11: 1, 12: 6}

_ORI_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")


@dataclass(frozen=True)
class ExportConfig:
    """Transaction settings (the policy file's ``[export]`` table).

    Attributes
    ----------
    transaction_type : str
        Type of transaction (1.004 TOT), 1-16 letters/digits agreed with IABS.
    originating_agency : str
        Originating agency identifier (1.008 ORI, also 14.004 SRC).
    destination_agency : str
        Destination agency identifier (1.007 DAI).
    priority : int or None
        1.006 PRY, 1 (highest) to 9, or None to omit.
    type2_fields : dict
        Type-2 field numbers for ``form_id``, ``case_ref`` and ``comment``
        (user-defined in ANSI/NIST-ITL; the defaults follow the EBTS usage of
        2.010 CIN, 2.009 OCA and 2.056 ICO, to be confirmed with IABS).
    comment : str
        Text placed in the Type-2 comment field.
    quality_vendor : int
        14.024 QAV: CBEFF vendor of NFIQ 2 (ISO/IEC JTC 1 SC 37, 0x0101).
    quality_product : int
        14.024 QAP: CBEFF product code of the NFIQ 2 revision whose forest we
        run (NFIQ 2.3's model, ``NFIQ2Rev3`` = 0x39 in nfiq2_constants.cpp).
        These two identify NIST's NFIQ 2: they are written only with a score
        NIST's NFIQ 2 computed (``ExportPrint.quality_scorer == "nist"``).
    local_quality_vendor : str
        14.024 QAV for a score from ifb1's own fast scorer: the agency's own
        4-hex-digit CBEFF vendor id, assigned by the IBIA (ANSI/NIST-ITL 1-2011
        Update 2015, 8.14.x: "This 4-digit hex value is assigned by IBIA").
        Empty (the default): no such id, so a fast score is not exported and
        14.024 is left out for that print (the field is optional).
    local_quality_product : int
        14.024 QAP with ``local_quality_vendor`` (1-65535, chosen by that vendor).
    """

    transaction_type: str = "IFB1"
    originating_agency: str = "NSEC"
    destination_agency: str = "IABS"
    priority: int | None = None
    type2_fields: dict = field(default_factory=lambda: {"form_id": 10, "case_ref": 9, "comment": 56})
    comment: str = "Op Innerste"
    quality_vendor: int = 0x0101
    quality_product: int = 0x39
    local_quality_vendor: str = ""
    local_quality_product: int = 1

    def __post_init__(self) -> None:
        if self.local_quality_vendor and not re.fullmatch(r"[0-9A-Fa-f]{4}", self.local_quality_vendor):
            raise ValueError("export local_quality_vendor must be 4 hex digits (a CBEFF vendor id from the IBIA) "
                             f"or empty, got {self.local_quality_vendor!r}")
        if not 1 <= self.local_quality_product <= 65535:
            raise ValueError(f"export local_quality_product must be 1-65535, got {self.local_quality_product}")
        if not re.fullmatch(r"[A-Za-z0-9]{1,16}", self.transaction_type):
            raise ValueError(f"export transaction_type must be 1-16 letters or digits, got {self.transaction_type!r}")
        for name in ("originating_agency", "destination_agency"):
            if not _ORI_RE.fullmatch(getattr(self, name)):
                raise ValueError(f"export {name} must be 1-32 letters or digits, got {getattr(self, name)!r}")
        if self.priority is not None and not 1 <= self.priority <= 9:
            raise ValueError(f"export priority must be 1-9, got {self.priority}")
        nums = sorted(self.type2_fields.get(k, 0) for k in ("form_id", "case_ref", "comment"))
        if len(set(nums)) != 3 or nums[0] < 3 or nums[-1] > 998:
            raise ValueError(f"export type2_fields must give three distinct field numbers 3-998, got {self.type2_fields}")


@dataclass(frozen=True)
class ExportPrint:
    """One print box to export.

    Attributes
    ----------
    position : int
        ANSI/NIST finger position, 1-14.
    impression : str
        ``"rolled"`` or ``"plain"``.
    image : numpy.ndarray or None
        uint8 grey image at 500 ppi; None when the box holds no print.
    quality : int or None
        NFIQ 2 unified score 0-100; None when not computed.
    quality_failed : bool
        True when scoring was attempted and failed (QVU 255 rather than 254).
    missing : tuple of (int, str)
        ``(finger position, "XX" | "UP")`` for fingers that were amputated or
        could not be printed (one entry for a rolled box; up to four for a slap).
    quality_scorer : str or None
        Who computed ``quality``: ``"nist"`` (NIST's NFIQ 2: written with its CBEFF
        ids), ``"fast"`` (ifb1's estimate: written only under
        ``ExportConfig.local_quality_vendor``, else 14.024 is left out), None
        (not attempted: QVU 254 under NFIQ 2's ids, as for four-finger slaps).
    wsq : bytes or None
        WSQ bytes of ``image`` to embed as they are (the bytes the score was
        computed on after decoding); encoded from ``image`` when None.
    """

    position: int
    impression: str
    image: np.ndarray | None = None
    quality: int | None = None
    quality_failed: bool = False
    missing: tuple[tuple[int, str], ...] = ()
    quality_scorer: str | None = None
    wsq: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ParsedPrint:
    """A Type-14 record read back from a transaction."""

    idc: int
    position: int
    impression_code: str
    image: np.ndarray | None
    ppi: int | None
    quality: tuple[tuple[int, int, str, int], ...]  # (finger, QVU, QAV, QAP)
    missing: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class ParsedTransaction:
    """The parts of a transaction the tests and ``ifb1 export`` check."""

    version: str
    transaction_type: str
    date: str
    control_number: str
    originating_agency: str
    destination_agency: str
    type2: dict[int, str]
    prints: tuple[ParsedPrint, ...]


def wsq_encode(image: np.ndarray) -> bytes:
    """WSQ-compress a 500 ppi uint8 grey image at 0.75 bit per pixel.

    The NBIS codec in the ``wsq`` package fixes the bit rate at 0.75 bpp and
    the recorded resolution at 500 ppi, which is what Type-14 asks for.
    """
    import _wsq  # the wsq package's NBIS extension

    img = np.ascontiguousarray(image, dtype=np.uint8)
    if img.ndim != 2 or min(img.shape) < 32:
        raise ValueError(f"WSQ needs a 2-D grey image of at least 32 x 32 pixels, got shape {img.shape}")
    return _wsq.compress(img.tobytes(), img.shape[0], img.shape[1], 0.75)


def wsq_decode(data: bytes) -> tuple[np.ndarray, int]:
    """Decode WSQ bytes to a uint8 image and its recorded ppi."""
    import _wsq

    buf, width, height, ppi = _wsq.decompress(bytes(data))
    return np.frombuffer(buf, dtype=np.uint8).reshape(height, width).copy(), int(ppi)


def validate_form_id(form_id: str) -> str:
    """Return ``form_id`` if it is a valid form id (safe as control number and file name)."""
    from ifb1.barcode.ids import is_valid_form_id

    if not is_valid_form_id(form_id):
        raise ValueError(f"form id {form_id!r} is not valid for export (4-32 of A-Z, 0-9 and '-', starting with a letter or digit)")
    return form_id


def _text(value: str, what: str, limit: int = 300) -> str:
    """Printable ASCII only, so no separator byte can enter a field."""
    value = str(value)
    if len(value) > limit or any(not (0x20 <= ord(c) < 0x7F) for c in value):
        raise ValueError(f"{what} must be at most {limit} printable ASCII characters, got {value!r}")
    return value


def build_transaction(
    prints: list[ExportPrint] | tuple[ExportPrint, ...],
    *,
    form_id: str,
    case_ref: str | None = None,
    capture_date: _dt.date | None = None,
    now: _dt.datetime | None = None,
    config: ExportConfig = ExportConfig(),
) -> bytes:
    """Build one ANSI/NIST-ITL transaction for a form.

    Parameters
    ----------
    prints : sequence of ExportPrint
        The form's print boxes; a box with neither an image nor a missing
        finger is left out.
    form_id : str
        The validated form id, used as transaction control number (1.009).
    case_ref : str, optional
        Case reference for the Type-2 record.
    capture_date : datetime.date, optional
        When the prints were taken (14.005); the transaction date if unknown.
    now : datetime.datetime, optional
        Transaction time (UTC); the current time if omitted.
    config : ExportConfig
        Agencies, transaction type and Type-2 field numbers.

    Returns
    -------
    bytes
        The transaction as written to disk.
    """
    import nistitl

    form_id = validate_form_id(form_id)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    date = now.strftime("%Y%m%d")
    fcd = (capture_date or now.date()).strftime("%Y%m%d")

    msg = nistitl.Message()
    t1 = msg[0]
    t1._2 = VERSION
    msg.TOT = config.transaction_type
    t1._5 = date
    if config.priority is not None:
        t1._6 = str(config.priority)
    t1._7 = config.destination_agency
    t1._8 = config.originating_agency
    t1._9 = form_id
    t1._14 = now.strftime("%Y%m%d%H%M%SZ")  # GMT

    t2 = nistitl.AsciiRecord(2)
    t2.IDC = 0
    setattr(t2, f"_{config.type2_fields['form_id']}", form_id)
    if case_ref:
        setattr(t2, f"_{config.type2_fields['case_ref']}", _text(case_ref, "case reference", 64))
    setattr(t2, f"_{config.type2_fields['comment']}", _text(config.comment, "comment", 126))
    msg += t2

    idc = 0
    for p in sorted(prints, key=lambda p: p.position):
        if p.image is None and not p.missing:
            continue
        idc += 1
        msg += _type14(p, idc=idc, fcd=fcd, config=config)
    return msg.NIST


def _type14(p: ExportPrint, *, idc: int, fcd: str, config: ExportConfig):
    import nistitl

    if p.impression not in IMPRESSION_CODE:
        raise ValueError(f"position {p.position}: impression must be rolled or plain, got {p.impression!r}")
    r = nistitl.AsciiRecord(14)
    r.IDC = idc
    r._3 = IMPRESSION_CODE[p.impression]
    r._4 = config.originating_agency
    r._5 = fcd
    r._13 = str(p.position)
    if p.missing:
        amp = nistitl.Field(14, 18)
        for finger, code in p.missing:
            if code not in AMPUTATION_CODES:
                raise ValueError(f"position {p.position}: amputation code must be XX or UP, got {code!r}")
            amp.add_subfields(nistitl.SubField([str(finger), code]))
        r += amp
    if p.image is not None:
        img = np.ascontiguousarray(p.image, dtype=np.uint8)
        r._6 = str(img.shape[1])  # HLL
        r._7 = str(img.shape[0])  # VLL
        r._8 = "1"  # SLC: pixels per inch
        r._9 = "500"  # THPS
        r._10 = "500"  # TVPS
        r._11 = "WSQ20"  # CGA
        r._12 = "8"  # BPX
        ids = _quality_ids(p, config)
        if ids is not None:
            fqm = nistitl.Field(14, 24)
            present = [f for f in _fingers_of(p.position) if f not in {m[0] for m in p.missing}]
            qvu = p.quality if p.quality is not None else (QUALITY_FAILED if p.quality_failed else QUALITY_NOT_COMPUTED)
            for finger in present:
                fqm.add_subfields(nistitl.SubField([str(finger), str(int(qvu)), *ids]))
            r += fqm
        r += nistitl.BinaryField(14, 999, p.wsq if p.wsq is not None else wsq_encode(img))
    return r


def _quality_ids(p: ExportPrint, config: ExportConfig) -> tuple[str, str] | None:
    """14.024's (QAV, QAP) for this print's score, or None to leave 14.024 out.

    NIST NFIQ 2's CBEFF ids go only with a value NIST's NFIQ 2 computed (or with
    254, "no attempt made"); a value from ifb1's own estimate goes under the
    agency's own IBIA vendor id when it has one, else it is not exported.
    """
    nist = (f"{config.quality_vendor:04X}", str(config.quality_product))
    if p.quality_scorer == "nist":
        return nist
    if p.quality_scorer is None:
        return nist if p.quality is None and not p.quality_failed else None
    if config.local_quality_vendor:
        return (config.local_quality_vendor.upper(), str(config.local_quality_product))
    return None


def _fingers_of(position: int) -> tuple[int, ...]:
    if position in SLAP_FINGERS:
        return SLAP_FINGERS[position]
    return (PLAIN_THUMB_FINGER.get(position, position),)


def parse_transaction(data: bytes) -> ParsedTransaction:
    """Parse a transaction written by :func:`build_transaction` and decode its images."""
    import nistitl

    msg = nistitl.Message()
    msg.parse(bytes(data))
    t1 = msg[0]

    def val(rec, tag):
        f = rec[tag]
        return None if f is None else f.value

    type2: dict[int, str] = {}
    prints = []
    for rec in msg.iter(2):
        for tag in range(3, 999):
            if rec[tag] is not None:
                type2[tag] = rec[tag].value
    for rec in msg.iter(14):
        image = ppi = None
        data_field = rec[999]
        if data_field is not None and data_field.value:
            image, ppi = wsq_decode(data_field.value)
        quality = tuple(
            (int(sf.values[0]), int(sf.values[1]), sf.values[2], int(sf.values[3]))
            for sf in (rec[24]._subfields if rec[24] is not None else [])
        )
        missing = tuple((int(sf.values[0]), sf.values[1]) for sf in (rec[18]._subfields if rec[18] is not None else []))
        prints.append(
            ParsedPrint(
                idc=int(val(rec, 2)),
                position=int(val(rec, 13)),
                impression_code=val(rec, 3),
                image=image,
                ppi=ppi,
                quality=quality,
                missing=missing,
            )
        )
    return ParsedTransaction(
        version=val(t1, 2),
        transaction_type=val(t1, 4),
        date=val(t1, 5),
        control_number=val(t1, 9),
        originating_agency=val(t1, 8),
        destination_agency=val(t1, 7),
        type2=type2,
        prints=tuple(prints),
    )


def write_transaction(data: bytes, out_dir: Path, *, form_id: str, force: bool = False) -> Path:
    """Write a transaction atomically as ``<form id>.an2`` in ``out_dir``.

    The name comes from the validated form id only. The file is written to a
    temporary file in the same folder, flushed, made owner-only and renamed,
    so a crash never leaves a half-written export under the final name.

    Raises
    ------
    FileExistsError
        When the form was exported before and ``force`` is false.
    """
    form_id = validate_form_id(form_id)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = out_dir / f"{form_id}.an2"
    if target.exists() and not force:
        raise FileExistsError(f"{target}: form {form_id} was already exported (use --force to export it again)")
    write_private_atomic(target, data)
    return target
