"""NIST's own NFIQ 2 as a second scorer: the reference for what cannot be undone.

ifb1 has two scorers of the same measure, the NFIQ 2 unified quality score
(ISO/IEC 29794-4):

- ``fast``: ifb1's own reimplementation (:func:`ifb1.quality.feedback.assess_print`),
  about 30 ms a print, with plain-word feedback;
- ``nist``: NIST's NFIQ 2 itself, with its FingerJet FX minutiae, through the
  ``nbis-py`` bindings (NBIS + NFIQ 2.3), about 0.3-0.6 s a print (it always runs
  mindtct as well).

The fast scorer is for answers within a second at the scanner desk; the NIST
scorer decides what cannot be undone (a scanned copy flagged for deletion) and
gives the value exported in ANSI/NIST-ITL 14.024, which tells the receiver "this
is NIST NFIQ 2 of this image". A print NIST's NFIQ 2 cannot score gets no number:
``quality`` None with the reason, as NFIQ 2 reports it.

The extractor handle is created once per process (:func:`_extractor`): it
holds only its settings, so caching it is not hidden state; it saves the
set-up cost per print.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

#: Scorer names, as results, the record and the policy file spell them.
SCORER_FAST = "fast"
SCORER_NIST = "nist"
SCORERS = (SCORER_FAST, SCORER_NIST)

#: Below this side (px, after NFIQ 2's near-white frame crop) NIST's NFIQ 2 in
#: nbis-py 0.1.3 computes no score: measured on generated prints, 130 px fails and
#: 140 px is scored. Used only to word the reason of a failure.
MIN_SIDE_PX = 135


class NistScorerUnavailable(RuntimeError):
    """``nbis-py`` (NIST's NFIQ 2) is not installed or does not load on this machine."""


@dataclass(frozen=True)
class NistQuality:
    """NIST NFIQ 2's answer for one print.

    Attributes
    ----------
    quality : int or None
        Unified score 0-100; None when NFIQ 2 computed none.
    error : str or None
        Why there is no score (NFIQ 2's failure, with the likely cause).
    features : dict
        The 69 native quality measures by their NFIQ 2 names (empty on failure).
    actionable : dict
        NFIQ 2's four actionable feedback values (empty on failure).
    """

    quality: int | None
    error: str | None = None
    features: dict = field(default_factory=dict, repr=False)
    actionable: dict = field(default_factory=dict, repr=False)


def require_nist() -> None:
    """Load NIST's NFIQ 2 now.

    Raises
    ------
    NistScorerUnavailable
        With the reason, when ``nbis-py`` is not installed or does not load.
    """
    _extractor()


def nist_available() -> bool:
    """Whether NIST's NFIQ 2 (``nbis-py``) loads here."""
    try:
        require_nist()
    except NistScorerUnavailable:
        return False
    return True


def nist_version() -> str:
    """What the NIST scorer is, for results and the model card: ``"NIST NFIQ 2.3 (nbis-py 0.1.3)"``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("nbis-py")
    except PackageNotFoundError:
        v = "not installed"
    return f"NIST NFIQ 2.3 (nbis-py {v})"


@functools.lru_cache(maxsize=1)
def _extractor():
    try:
        import nbis
    except Exception as exc:  # ImportError, or OSError from a shared library that does not load
        raise NistScorerUnavailable(
            "NIST's NFIQ 2 is not available: the nbis-py package is not installed or does not load here "
            f"({type(exc).__name__}: {exc}); it is built for Linux x86_64 with glibc 2.34 or newer") from exc
    settings = nbis.NbisExtractorSettings(min_quality=0.0, get_center=False, check_fingerprint=False,
                                          compute_nfiq2=True, ppi=500.0)
    return nbis.new_nbis_extractor(settings)


def _why_no_score(image: np.ndarray) -> str:
    """The likely reason NFIQ 2 computed no score, from the image's size after the white-frame crop."""
    from ifb1.quality.blocks import remove_near_white_frame

    cropped, _ = remove_near_white_frame(image)
    h, w = cropped.shape[:2] if cropped.size else (0, 0)
    if h == 0 or w == 0 or float(cropped.std()) < 1.0:
        return "the image is blank or uniform (no ridges)"
    if w < MIN_SIDE_PX or h < MIN_SIDE_PX:
        return f"the fingerprint area is too small ({w} x {h} px after NFIQ 2's white-frame crop)"
    return "FingerJet FX found too little fingerprint (too few minutiae or too little foreground)"


def score_nist(image: np.ndarray, *, ppi: float = 500.0) -> NistQuality:
    """NIST NFIQ 2 unified score of one 500 ppi print.

    Parameters
    ----------
    image : np.ndarray
        uint8 grey ``(H, W)`` at 500 ppi: exactly the pixels to be stored and exported.
    ppi : float
        Must be 500: NFIQ 2 is defined at 500 ppi, and ifb1 resamples once, at the
        boundary (:mod:`ifb1.quality.io`, the form reader).

    Returns
    -------
    NistQuality
        ``quality`` None with ``error`` when NFIQ 2 computes no score.

    Raises
    ------
    NistScorerUnavailable
        When ``nbis-py`` is not installed or does not load.
    ValueError
        For an image that is not 2-D uint8 or not at 500 ppi.
    """
    import cv2

    if abs(float(ppi) - 500.0) > 0.5:
        raise ValueError(f"NIST NFIQ 2 scores 500 ppi images; resample this {ppi:g} ppi image first")
    img = np.asarray(image)
    if img.ndim != 2 or img.dtype != np.uint8 or img.size == 0:
        raise ValueError(f"expected a non-empty 2-D uint8 image, got {img.dtype} {img.shape}")
    ex = _extractor()
    # The bindings take an encoded image: lossless PNG of the same pixels.
    ok, png = cv2.imencode(".png", np.ascontiguousarray(img), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("could not encode the print for NIST NFIQ 2")
    try:
        q = ex.extract_minutiae(png.tobytes()).quality()
    except Exception as exc:  # nbis.NbisError.*: NFIQ 2 (or FingerJet FX) computed no score
        return NistQuality(None, f"NIST NFIQ 2 computed no score: {_why_no_score(img)} [{type(exc).__name__}{exc.args!r}]")
    return NistQuality(int(q.score), None,
                       {v.name: float(v.value) for v in q.features},
                       {v.name: float(v.value) for v in q.actionable})
