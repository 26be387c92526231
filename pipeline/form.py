"""One form end to end: read the scan, score its prints, check for a copy, decide.

:func:`process_form` is the whole per-form algorithm, one call per stage::

    reading = read_scan(path)                    # decode, register, barcode, 14 boxes at 500 ppi
    prints  = score_prints(reading.boxes)        # the exported image of each print, its NFIQ 2 score, feedback
    copy    = copy_check(reading, is_copy=...)   # does a scan marked "original" look like a copy (halftone)?
    verdict = decide(outcomes, ...)              # suitable / unsuitable / review, with reasons
    prints, verdict = confirm_on_reference(...)  # NIST's NFIQ 2 before anything that cannot be undone

Each print's image is the one stored and exported: the print's region (its
foreground plus a margin, inside the box border) after the WSQ round trip that
the ANSI/NIST-ITL export applies, so the score shown, recorded and written in
14.024 is the score of the pixels the receiver decodes.

It is a pure function of the file and its options: it writes nothing, keeps no
state between calls and returns frozen dataclasses (picklable, so it runs in a
worker process of :mod:`ifb1.batch`). The print crops and the
preview come back in memory; the caller decides where they are written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ifb1.pipeline.policy import Policy, PrintOutcome, Verdict, decide, load_policy
from ifb1.pipeline.read import ReadParams

#: Boxes holding four-finger plain slaps (13 right, 14 left): not scored as
#: one print; they need splitting into fingers first.
SLAP_POSITIONS = (13, 14)
SLAP_NOT_SCORED = "four-finger slap: not scored until slaps are split into fingers"
#: Quality status of one box.
QUALITY_STATUSES = ("scored", "failed", "not-scored", "absent")


@dataclass(frozen=True)
class ProcessOptions:
    """How to process one form.

    Attributes
    ----------
    is_copy : bool
        The scan is a scanned copy (operator flag or manifest), not the original.
    form_id : str or None
        Operator-supplied form id, used when the barcode cannot be read.
    policy : Policy
        Verdict thresholds and export settings (:func:`ifb1.pipeline.policy.load_policy`).
    read : ReadParams
        Parameters of the reader's stages.
    layout_path : str or None
        Layout template; the bundled IFB1 template when None.
    preview_height : int
        Height in pixels of the preview JPEG of the page (0: no preview).
    copy_check : CopyCheckParams or None
        Copy detector parameters (:mod:`ifb1.pipeline.copy_detect`); its defaults when None.
    for_export : bool
        The caller exports suitable forms (the nightly batch): a suitable form's prints
        are then scored by the reference scorer too, so exports carry its value.
    """

    is_copy: bool = False
    form_id: str | None = None
    policy: Policy = field(default_factory=load_policy)
    read: ReadParams = ReadParams()
    layout_path: str | None = None
    preview_height: int = 1000
    copy_check: Any = None
    for_export: bool = False


@dataclass(frozen=True)
class PrintResult:
    """One print box after reading and scoring.

    Attributes
    ----------
    position : int
        ANSI/NIST finger position 1-14.
    finger, impression : str
        As printed on the form (``"rolled"`` or ``"plain"``).
    present : bool
        A print was found in the box.
    quality : int or None
        NFIQ 2 unified score 0-100, None when not scored.
    quality_status : str
        ``"scored"``, ``"failed"`` (scoring attempted, no score), ``"not-scored"``
        (four-finger slap) or ``"absent"``.
    quality_note : str or None
        Why there is no score.
    feedback_codes : tuple of str
        Problem codes (:data:`ifb1.quality.feedback.MESSAGES` keys).
    feedback : tuple of str
        Plain-word messages for the police force, one per code.
    area_mm2 : float
        Area of the print region.
    image : np.ndarray or None
        The print's image as stored and exported: uint8 grey at ``ppi`` (500), the
        print's region of the box after the WSQ round trip (:func:`print_image`);
        None when absent.
    ppi : float
        Resolution of ``image``.
    scorer : str or None
        Which scorer gave ``quality``: ``"nist"`` (NIST's NFIQ 2) or ``"fast"``
        (ifb1's own); None when no scorer ran (absent box, slap).
    scores : dict
        Every scorer's answer, ``{"fast": 41, "nist": 38}`` (None for no score).
    image_box_px : tuple of int or None
        ``(x0, y0, x1, y1)`` of ``image`` within the box's 500 ppi crop.
    wsq : bytes or None
        The WSQ bytes ``image`` was decoded from (what the export embeds).
    annotation : Annotation or None
        What an empty box holds (:class:`ifb1.pipeline.annotation.Annotation`:
        blank, hand-written "AMP"/"XX"/"UP", or print-like marks); None when a
        print is present.
    """

    position: int
    finger: str
    impression: str
    present: bool
    quality: int | None
    quality_status: str
    quality_note: str | None = None
    feedback_codes: tuple[str, ...] = ()
    feedback: tuple[str, ...] = ()
    area_mm2: float = 0.0
    image: Any = field(default=None, repr=False, compare=False)
    ppi: float = 500.0
    annotation: Any = None
    scorer: str | None = None
    scores: dict = field(default_factory=dict)
    image_box_px: tuple[int, int, int, int] | None = None
    wsq: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def annotation_code(self) -> str | None:
        """The text read in an empty box ("AMP", "XX" or "UP"), None when not annotated."""
        a = self.annotation
        return a.code if a is not None and not self.present and a.kind == "annotated" else None

    def outcome(self) -> PrintOutcome:
        """What the verdict needs of this box."""
        return PrintOutcome(
            position=self.position,
            present=self.present,
            quality=self.quality,
            annotation=self.annotation_code,
            feedback=tuple(c.replace("_", " ") for c in self.feedback_codes),
        )

    def to_dict(self) -> dict:
        """JSON-ready box (no image): one entry of :meth:`FormResult.to_dict`'s ``prints``.

        ``feedback`` is ``{"codes": [...], "messages": [...]}``; a box with no
        score and no problem found gives the reason there (code ``not_scored``).
        """
        codes, messages = list(self.feedback_codes), list(self.feedback)
        if self.quality_status in ("not-scored", "failed") and not codes and self.quality_note:
            # No score and no problem found in the print: the reason is the feedback.
            codes, messages = ["not_scored"], [self.quality_note]
        return {
            "position": self.position,
            "finger": self.finger,
            "impression": self.impression,
            "present": self.present,
            "area_mm2": round(float(self.area_mm2), 1),
            "annotation": None if self.annotation is None else self.annotation.as_dict(),
            "quality": None if self.quality is None else int(self.quality),
            "quality_status": self.quality_status,
            "quality_note": self.quality_note,
            "scorer": self.scorer,
            "scores": {k: (None if v is None else int(v)) for k, v in self.scores.items()},
            "image_box_px": None if self.image_box_px is None else list(self.image_box_px),
            "feedback": {"codes": codes, "messages": messages},
        }


@dataclass(frozen=True)
class CopyCheck:
    """The copy detector's answer for one scan.

    Attributes
    ----------
    looks_like_copy : bool
        The scan shows signs of being a copy (halftone, second-generation compression).
    checked : bool
        Whether a detector actually ran.
    note : str
        What was done.
    """

    looks_like_copy: bool
    checked: bool
    note: str


@dataclass(frozen=True)
class FormResult:
    """Everything learnt from one scan file.

    Attributes
    ----------
    source : str
        The path as given.
    status : str
        ``"ok"`` or ``"rejected"``.
    error : str or None
        A sentence naming the file and the problem when rejected.
    sha256 : str or None
        Of the file's bytes (None when it could not be read at all).
    form_id, form_id_source : str or None
        Validated form id and where it came from (``"barcode"``, ``"operator"``).
    manual_entry : bool
        No valid id was read from the barcode.
    is_copy : bool
        As given in the options.
    copy : CopyCheck or None
    prints : tuple of PrintResult
        The fourteen boxes by position (empty when rejected).
    verdict : Verdict or None
        None when rejected.
    reading : dict
        The reader's JSON result (barcode, ppi, registration, boxes).
    preview_jpeg : bytes or None
        A small JPEG of the page with the boxes drawn.
    timings_ms : dict
        Wall time per stage.
    warnings : tuple of str
    """

    source: str
    status: str
    error: str | None = None
    sha256: str | None = None
    form_id: str | None = None
    form_id_source: str | None = None
    manual_entry: bool = True
    is_copy: bool = False
    copy: CopyCheck | None = None
    prints: tuple[PrintResult, ...] = ()
    verdict: Verdict | None = None
    reading: dict = field(default_factory=dict)
    preview_jpeg: bytes | None = field(default=None, repr=False, compare=False)
    timings_ms: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def without_images(self) -> "FormResult":
        """The same result without the crops and preview (small to send between processes)."""
        return replace(self, preview_jpeg=None, prints=tuple(replace(p, image=None, wsq=None) for p in self.prints))

    def to_dict(self) -> dict:
        """The form's JSON result (no images): one line of ``ifb1 process --json``, the batch's ``result.json``.

        The reader's keys (:meth:`ifb1.pipeline.read.FormReading.to_dict`:
        ``source``, ``status``, ``sha256``, ``form_id``, ``form_id_source``,
        ``manual_entry``, ``barcode``, ``ppi``, ``ppi_source``,
        ``resampled_from``, ``upside_down``, ``rotation_deg``, ...), with per
        print the reader's box keys (``corners_px``, ``bbox_px``,
        ``annotation``, ...) and :meth:`PrintResult.to_dict` (``quality``,
        ``quality_status``, ``quality_note``, ``feedback {codes, messages}``),
        and per form ``is_copy``, ``copy {marked_copy, looks_like_copy,
        checked, note}``, ``verdict {verdict, reasons, defective_positions}``
        (null when rejected), ``timings_ms`` per stage, ``warnings`` (with one
        for an original that looks like a copy) and ``error`` when rejected.

        Returns
        -------
        dict
            A fresh dict (callers may add keys such as ``output`` or ``files``).
        """
        d = dict(self.reading) if self.reading else {
            "source": self.source, "sha256": self.sha256, "form_id": None, "form_id_source": None,
            "manual_entry": True, "prints": []}
        d["status"] = self.status
        if self.ok:
            d.update(form_id=self.form_id, form_id_source=self.form_id_source, manual_entry=self.manual_entry)
        scored = {p.position: p for p in self.prints}
        prints = []
        for entry in d.get("prints", []):
            pr = scored.pop(entry["position"], None)
            prints.append(dict(entry) if pr is None else {**entry, **pr.to_dict()})
        prints += [p.to_dict() for p in scored.values()]  # boxes the reading does not list (none in practice)
        d["prints"] = sorted(prints, key=lambda p: p["position"])
        d["is_copy"] = self.is_copy
        c = self.copy
        d["copy"] = None if c is None else {"marked_copy": self.is_copy, "looks_like_copy": c.looks_like_copy,
                                            "checked": c.checked, "note": c.note}
        v = self.verdict
        d["verdict"] = None if v is None else {"verdict": v.verdict, "reasons": list(v.reasons),
                                               "defective_positions": list(v.defective_positions),
                                               "scorer": v.scorer}
        d["timings_ms"] = {k: round(float(ms), 1) for k, ms in self.timings_ms.items()}
        warnings = list(self.warnings)
        if c is not None and c.looks_like_copy and not self.is_copy:
            warnings.append(f"marked as an original but looks like a scanned copy ({c.note}); if it is a copy, "
                            "process it again marked as one (--copy, or copy=yes in the batch manifest)")
        d["warnings"] = warnings
        if self.error is not None:
            d["error"] = self.error
        return d


# ----------------------------------------------------------------------------- stages


@dataclass(frozen=True)
class PrintImage:
    """The image of one print as it is stored and exported (:func:`print_image`).

    Attributes
    ----------
    image : np.ndarray
        uint8 grey at 500 ppi: ``wsq`` decoded, as the receiver of the export sees it.
    wsq : bytes
        WSQ at 0.75 bit per pixel of the print's region (ANSI/NIST-ITL 14.999).
    box_px : tuple of int
        ``(x0, y0, x1, y1)`` of the region within the box crop (exclusive ends).
    """

    image: Any = field(repr=False)
    wsq: bytes = field(repr=False)
    box_px: tuple[int, int, int, int] = (0, 0, 0, 0)


def print_image(box, *, margin_mm: float = 1.5) -> PrintImage:
    """The image of a present print that is stored, scored and exported.

    The print's own region of the box: its foreground's bounding box widened by
    ``margin_mm`` and kept inside the box border (whose printed label the reader
    has already blanked), so that ridge counts, annotations and signatures
    written beside the print stay out while the whole print stays in. It then
    makes the WSQ round trip of the export (0.75 bpp, NBIS codec): WSQ raises
    NFIQ 2 scores by a few points on scanned forms (it smooths scan noise), so the
    score of the decoded image is the score of what the receiver has.

    Parameters
    ----------
    box : BoxRegion
        A present box from the reader (``crop`` uint8 at 500 ppi, ``bbox`` set).
    margin_mm : float
        Background kept around the foreground box (1.5 mm, ~30 px at 500 ppi: the
        foreground is found on 0.4 mm cells, so its edge may fall a cell or two
        inside a faint print edge; a wider margin takes in more of the writing
        beside the print).

    Returns
    -------
    PrintImage
    """
    from ifb1.export.ansi_nist import wsq_decode, wsq_encode

    h, w = box.crop.shape[:2]
    x0, y0, x1, y1 = (0, 0, w, h) if box.bbox is None else box.bbox
    m = int(round(margin_mm * box.ppi / 25.4))
    # WSQ needs 32 px a side; a print's region is always larger in practice.
    ax0, ax1 = _at_least(max(0, x0 - m), min(w, x1 + m), 32, w)
    ay0, ay1 = _at_least(max(0, y0 - m), min(h, y1 + m), 32, h)
    region = (ax0, ay0, ax1, ay1)
    sub = box.crop[region[1]:region[3], region[0]:region[2]]
    data = wsq_encode(sub)
    decoded, _ = wsq_decode(data)
    return PrintImage(image=decoded, wsq=data, box_px=tuple(int(v) for v in region))


def _at_least(a0: int, a1: int, n: int, size: int) -> tuple[int, int]:
    """The span ``[a0, a1)`` widened about its centre to ``n`` px, kept inside ``[0, size)``."""
    if a1 - a0 >= n:
        return a0, a1
    start = max(0, min((a0 + a1) // 2 - n // 2, size - n))
    return start, start + n


def score_print(box, *, scorer: str = "fast", margin_mm: float = 1.5) -> PrintResult:
    """The stored image of one segmented box, its NFIQ 2 score and feedback.

    Rolled prints and plain thumbs get the NFIQ 2 unified score of
    :func:`print_image` and plain-word feedback
    (:func:`ifb1.quality.feedback.assess_print`; centring and cut-off edges are
    judged within the whole box); four-finger slaps get their image but no
    score (NFIQ 2 scores single fingers).

    Parameters
    ----------
    box : BoxRegion
        From the reader; ``crop`` is uint8 at 500 ppi.
    scorer : str
        ``"fast"`` (ifb1's own NFIQ 2, about 30 ms) or ``"nist"`` (NIST's NFIQ 2
        as well, about 0.3-0.6 s; its value becomes the score, the feedback stays ifb1's).
    margin_mm : float
        Background kept around the print (:func:`print_image`).

    Returns
    -------
    PrintResult
    """
    from ifb1.quality.feedback import assess_print

    base = dict(position=box.position, finger=box.finger, impression=box.impression,
                present=bool(box.present), area_mm2=float(box.area_mm2), ppi=float(box.ppi),
                annotation=getattr(box, "annotation", None))
    if not box.present:
        return PrintResult(**base, quality=None, quality_status="absent", quality_note="no print in the box")
    try:
        pim = print_image(box, margin_mm=margin_mm)
    except Exception as exc:  # one print's failure must not lose the form
        return PrintResult(**base, quality=None, quality_status="failed",
                           quality_note=f"the print's image could not be made ({type(exc).__name__}: {exc})")
    base.update(image=pim.image, wsq=pim.wsq, image_box_px=pim.box_px)
    if box.position in SLAP_POSITIONS:
        return PrintResult(**base, quality=None, quality_status="not-scored", quality_note=SLAP_NOT_SCORED)
    # The fast scorer judges position and cut-off edges against the whole box:
    # the stored (decoded) pixels are put back in place and only they are scored.
    x0, y0, x1, y1 = pim.box_px
    context = box.crop.copy()
    context[y0:y1, x0:x1] = pim.image
    try:
        q = assess_print(context, region=pim.box_px)
    except Exception as exc:  # one print's failure must not lose the form: it counts as unscored
        return PrintResult(**base, quality=None, quality_status="failed", scorer="fast", scores={"fast": None},
                           quality_note=f"quality assessment failed ({type(exc).__name__}: {exc})")
    result = PrintResult(
        **base,
        quality=q.quality,
        quality_status="scored" if q.quality is not None else "failed",
        quality_note=q.error,
        feedback_codes=tuple(q.feedback.codes),
        feedback=tuple(q.feedback.messages),
        scorer="fast",
        scores={"fast": q.quality},
    )
    return rescore_print(result, scorer=scorer) if scorer != "fast" else result


def rescore_print(pr: PrintResult, *, scorer: str = "nist") -> PrintResult:
    """The same print scored by NIST's NFIQ 2: its value becomes the print's score.

    The feedback in plain words stays that of ifb1's scorer; the fast score is
    kept in ``scores``. A print NIST's NFIQ 2 cannot score gets no score, with
    NFIQ 2's reason (it then counts as unscored in the verdict).

    Raises
    ------
    NistScorerUnavailable
        When NIST's NFIQ 2 is not installed here.
    """
    from ifb1.quality.nist import SCORER_NIST, score_nist

    if scorer != SCORER_NIST:
        raise ValueError(f"unknown scorer {scorer!r} (fast or nist)")
    if pr.image is None or pr.quality_status not in ("scored", "failed") or pr.scorer == SCORER_NIST:
        return pr
    nq = score_nist(pr.image, ppi=pr.ppi)
    return replace(pr, quality=nq.quality, scorer=SCORER_NIST, scores={**pr.scores, SCORER_NIST: nq.quality},
                   quality_status="scored" if nq.quality is not None else "failed", quality_note=nq.error)


def score_prints(boxes, *, scorer: str = "fast") -> tuple[PrintResult, ...]:
    """:func:`score_print` for each box, by position."""
    return tuple(score_print(b, scorer=scorer) for b in sorted(boxes, key=lambda b: b.position))


def confirm_on_reference(prints, verdict: Verdict, *, decide_again, reference: str | None, for_export: bool,
                         require_reference: bool = True) -> tuple[tuple[PrintResult, ...], Verdict]:
    """Score with NIST's NFIQ 2 before a decision that cannot be undone.

    A scanned copy found ``unsuitable`` is deleted later, and an exported score
    tells the receiver "this is NIST NFIQ 2 of this image". So:

    - an ``unsuitable`` verdict is confirmed on the reference scorer: prints are
      scored again, lowest fast score first, until the prints scored by NIST
      alone (and the empty boxes) make the copy unsuitable, or the verdict on
      the scores so far is no longer ``unsuitable``;
    - a ``suitable`` form that the caller exports has every scored print scored
      again, and is decided again on those scores.

    Forms in review, and suitable forms not exported here, keep the fast scores
    (nothing irreversible follows).

    Parameters
    ----------
    prints : tuple of PrintResult
    verdict : Verdict
        The verdict on ``prints`` as scored.
    decide_again : callable
        ``decide_again(outcomes, scorer) -> Verdict`` with the form's other facts fixed.
    reference : str or None
        ``"nist"``, or None for no reference scorer (policy ``reference = "none"``).
    for_export : bool
        Suitable forms are exported by the caller.
    require_reference : bool
        Without the reference scorer installed, an ``unsuitable`` copy goes to
        review instead (a deletion is never decided on the fast scorer alone).

    Returns
    -------
    (prints, verdict)
        ``verdict.scorer`` says which scorer's values decided: ``"nist"`` (for an
        unsuitable copy: NIST's scores alone make it unsuitable, while the other
        prints may keep fast scores, each print saying whose score it has),
        ``"mixed"`` (the NIST scores so far undid an unsuitable verdict; nothing
        irreversible follows) or the fast scorer's name.
    """
    from ifb1.quality.nist import NistScorerUnavailable

    prints = tuple(prints)
    if reference is None or verdict.verdict not in ("unsuitable", "suitable"):
        return prints, verdict
    if verdict.verdict == "suitable" and not for_export:
        return prints, verdict

    def on_reference_only(current) -> Verdict:
        # A print not yet scored by the reference cannot count against the form.
        outs = [replace(p.outcome(), quality=100, feedback=()) if p.scorer not in (None, reference) else p.outcome()
                for p in current]
        return decide_again(outs, reference)

    by_pos = {p.position: p for p in prints}
    todo = [p.position for p in sorted(prints, key=lambda p: (p.quality is not None, p.quality or 0))
            if p.scorer not in (None, reference)]
    try:
        if verdict.verdict == "unsuitable":
            for pos in todo:
                by_pos[pos] = rescore_print(by_pos[pos], scorer=reference)
                current = tuple(by_pos[q] for q in sorted(by_pos))
                mixed = decide_again([p.outcome() for p in current], verdict.scorer)
                if on_reference_only(current).verdict == "unsuitable":
                    # NIST's scores alone make the copy unsuitable; the reasons list every defect.
                    return current, replace(mixed, scorer=reference)
                if mixed.verdict != "unsuitable":
                    break
            else:  # every print scored by the reference
                current = tuple(by_pos[q] for q in sorted(by_pos))
                return current, decide_again([p.outcome() for p in current], reference)
            verdict = mixed
            if not (verdict.verdict == "suitable" and for_export):
                return current, replace(verdict, scorer="mixed")
        for pos in todo:
            by_pos[pos] = rescore_print(by_pos[pos], scorer=reference)
    except NistScorerUnavailable as exc:
        if verdict.verdict == "unsuitable" and require_reference:
            return prints, replace(
                verdict, verdict="review",
                reasons=verdict.reasons + (f"{exc}: a deletion is never decided on ifb1's fast scorer alone; "
                                           "check by eye, or install nbis-py",))
        return prints, verdict
    current = tuple(by_pos[q] for q in sorted(by_pos))
    return current, decide_again([p.outcome() for p in current], reference)


def copy_check(reading, *, is_copy: bool, params=None) -> CopyCheck:
    """Whether a scan marked as an original looks like a scanned copy.

    Runs :func:`ifb1.pipeline.copy_detect.check_copy` (halftone/dither texture)
    on the page. A scan already marked as a copy is not checked: the answer
    would not change its verdict.

    Parameters
    ----------
    reading : FormReading
        A successful read (``page_image`` and ``ppi`` set).
    is_copy : bool
        The operator's or manifest's flag.
    params : CopyCheckParams, optional
        Detector parameters (its documented defaults when None).

    Returns
    -------
    CopyCheck
    """
    if is_copy:
        return CopyCheck(looks_like_copy=False, checked=False, note="marked as a scanned copy: not checked")
    from ifb1.pipeline.copy_detect import CopyCheckParams, check_copy

    ev = check_copy(reading.page_image, ppi=float(reading.ppi), params=params or CopyCheckParams())
    return CopyCheck(looks_like_copy=ev.looks_like_copy, checked=True, note=ev.reason)


# ----------------------------------------------------------------------------- driver


def process_form(path: str | Path, *, options: ProcessOptions) -> FormResult:
    """Read, score and decide one scanned IFB1 form; never raises for bad input.

    Parameters
    ----------
    path : str or Path
        The scan (PNG, TIFF, JPEG, BMP or a PDF with one page).
    options : ProcessOptions
        Copy flag, operator form id, policy and reader parameters.

    Returns
    -------
    FormResult
        ``status`` ``"rejected"`` with ``error`` naming the file and the problem
        when the file cannot be read, is not an IFB1 form or holds several pages.
    """
    from ifb1.forms import load_layout
    from ifb1.pipeline.read import read_scan

    source = str(path)
    layout = load_layout(options.layout_path)

    readings = read_scan(path, layout=layout, params=options.read, form_id=options.form_id)
    reading = readings[0]
    timings = dict(reading.timings_ms)
    base = dict(source=source, sha256=reading.sha256, is_copy=options.is_copy, warnings=reading.warnings)
    if len(readings) > 1:
        # The record keeps one form per scan file (its SHA-256 is the key).
        return FormResult(**base, status="rejected", timings_ms=timings,
                          error=f"{source}: the file holds {len(readings)} pages; put one form per file")
    if not reading.ok:
        return FormResult(**base, status="rejected", error=reading.error, timings_ms=timings,
                          reading=reading.to_dict())

    qp = options.policy.quality
    t = time.perf_counter()
    prints = score_prints(reading.boxes, scorer=qp.scorer)
    timings["quality"] = (time.perf_counter() - t) * 1000.0

    t = time.perf_counter()
    copy = copy_check(reading, is_copy=options.is_copy, params=options.copy_check)
    timings["copy_check"] = (time.perf_counter() - t) * 1000.0

    t = time.perf_counter()

    def decide_on(outcomes, scorer: str) -> Verdict:
        return decide(outcomes, is_copy=options.is_copy, looks_like_copy=copy.looks_like_copy,
                      form_id=reading.form_id, policy=options.policy.verdict, scorer=scorer)

    verdict = decide_on([p.outcome() for p in prints], qp.scorer)
    timings["verdict"] = (time.perf_counter() - t) * 1000.0

    t = time.perf_counter()
    prints, verdict = confirm_on_reference(prints, verdict, decide_again=decide_on, reference=qp.reference_scorer,
                                           for_export=options.for_export,
                                           require_reference=qp.require_reference_for_deletion)
    timings["reference"] = (time.perf_counter() - t) * 1000.0

    preview = None
    if options.preview_height > 0:
        from ifb1.pipeline.preview import render_preview

        t = time.perf_counter()
        preview = render_preview(reading.page_image, reading, height=options.preview_height)
        timings["preview"] = (time.perf_counter() - t) * 1000.0

    return FormResult(
        **base,
        status="ok",
        form_id=reading.form_id,
        form_id_source=reading.form_id_source,
        manual_entry=reading.manual_entry,
        copy=copy,
        prints=prints,
        verdict=verdict,
        reading=reading.to_dict(),
        preview_jpeg=preview,
        timings_ms=timings,
    )
