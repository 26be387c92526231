"""The verdict for a form: ``suitable``, ``unsuitable`` or ``review``, with reasons.

The rule is data, read from a TOML policy file (``default-policy.toml`` beside
this module documents every key and its default). Only scanned copies can be
``unsuitable`` (and so deleted); an original with poor prints goes to review.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from ifb1.export.ansi_nist import ExportConfig

DEFAULT_POLICY_PATH = Path(__file__).with_name("default-policy.toml")
ROLLED = tuple(range(1, 11))
ANNOTATIONS = ("XX", "UP", "AMP")


@dataclass(frozen=True)
class VerdictPolicy:
    """Thresholds of the verdict; see ``default-policy.toml`` for each key."""

    min_quality: int = 30
    max_defective_rolled: int = 2
    borderline_margin: int = 3
    annotated_missing_is_defect: bool = False
    unscored_is_defect: bool = True
    review_without_form_id: bool = True
    review_original_that_looks_like_copy: bool = True


@dataclass(frozen=True)
class QualityPolicy:
    """Which NFIQ 2 scorer gives the scores; see ``default-policy.toml`` ``[quality]``.

    Attributes
    ----------
    scorer : str
        ``"fast"`` (ifb1's own NFIQ 2, about 30 ms a print) or ``"nist"`` (NIST's
        NFIQ 2 for every print, about 0.3-0.6 s a print).
    reference : str
        ``"nist"``: NIST's NFIQ 2 scores every print again before a copy is found
        unsuitable (deletion) and before a form is exported; ``"none"``: never.
    require_reference_for_deletion : bool
        Without NIST's NFIQ 2 installed, a copy that would be unsuitable goes to
        review instead.
    """

    scorer: str = "fast"
    reference: str = "nist"
    require_reference_for_deletion: bool = True

    def __post_init__(self) -> None:
        if self.scorer not in ("fast", "nist"):
            raise ValueError(f"scorer must be \"fast\" or \"nist\", got {self.scorer!r}")
        if self.reference not in ("nist", "none"):
            raise ValueError(f"reference must be \"nist\" or \"none\", got {self.reference!r}")

    @property
    def reference_scorer(self) -> str | None:
        """The reference scorer's name, None for ``reference = "none"``."""
        return None if self.reference == "none" else self.reference


@dataclass(frozen=True)
class Policy:
    """A whole policy file: the verdict rule, the scorers and the export settings."""

    verdict: VerdictPolicy = field(default_factory=VerdictPolicy)
    export: ExportConfig = field(default_factory=ExportConfig)
    quality: QualityPolicy = field(default_factory=QualityPolicy)
    source: str = str(DEFAULT_POLICY_PATH)


@dataclass(frozen=True)
class PrintOutcome:
    """What the verdict needs to know of one print box.

    Attributes
    ----------
    position : int
        ANSI/NIST finger position 1-14.
    present : bool
        A print is in the box.
    quality : int or None
        NFIQ 2 unified score, None when not computed.
    annotation : str or None
        ``"XX"``, ``"UP"`` or ``"AMP"`` written in an empty box.
    feedback : tuple of str
        Plain-words problems found (e.g. ``"too dark (over-inked)"``).
    """

    position: int
    present: bool
    quality: int | None = None
    annotation: str | None = None
    feedback: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The decision for one form."""

    verdict: str  # "suitable" | "unsuitable" | "review"
    reasons: tuple[str, ...]
    defective_positions: tuple[int, ...]
    scorer: str = "fast"  # whose NFIQ 2 scores decided: "fast" (ifb1's) or "nist" (NIST's)


def _typed(section: dict, cls, where: str):
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key, value in section.items():
        if key not in known:
            raise ValueError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        default = known[key].default
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ValueError(f"{where}: {key} must be true or false, got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool) and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{where}: {key} must be a whole number, got {value!r}")
        values[key] = value
    return values


def load_policy(path: str | Path | None = None) -> Policy:
    """Read a policy file; the bundled defaults when ``path`` is None.

    Raises
    ------
    ValueError
        Naming the file and the key, for a malformed policy.
    """
    path = Path(path) if path is not None else DEFAULT_POLICY_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the policy file: {exc}") from exc
    unknown = set(data) - {"verdict", "export", "quality"}
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; expected [verdict], [quality] and [export]")
    verdict = VerdictPolicy(**_typed(data.get("verdict", {}), VerdictPolicy, f"{path} [verdict]"))
    if not 0 <= verdict.min_quality <= 100:
        raise ValueError(f"{path} [verdict]: min_quality must be 0-100, got {verdict.min_quality}")
    qsec = data.get("quality", {})
    for key in ("scorer", "reference"):
        if key in qsec and not isinstance(qsec[key], str):
            raise ValueError(f"{path} [quality]: {key} must be a string, got {qsec[key]!r}")
    qvalues = _typed(qsec, QualityPolicy, f"{path} [quality]")
    try:
        quality = QualityPolicy(**qvalues)
    except ValueError as exc:
        raise ValueError(f"{path} [quality]: {exc}") from exc
    exp = dict(data.get("export", {}))
    type2 = {k: exp.pop(f"type2_{k}") for k in ("form_id", "case_ref", "comment") if f"type2_{k}" in exp}
    allowed = {"transaction_type", "originating_agency", "destination_agency", "comment", "priority",
               "local_quality_vendor", "local_quality_product"}
    bad = set(exp) - allowed
    if bad:
        raise ValueError(f"{path} [export]: unknown key(s) {sorted(bad)}")
    base = ExportConfig()
    try:
        export = ExportConfig(**exp, type2_fields={**base.type2_fields, **type2})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path} [export]: {exc}") from exc
    return Policy(verdict=verdict, export=export, quality=quality, source=str(path))


def decide(
    prints: list[PrintOutcome] | tuple[PrintOutcome, ...],
    *,
    is_copy: bool,
    looks_like_copy: bool = False,
    form_id: str | None = "unknown",
    policy: VerdictPolicy = VerdictPolicy(),
    scorer: str = "fast",
) -> Verdict:
    """Decide a form's verdict from its rolled prints.

    Parameters
    ----------
    prints : sequence of PrintOutcome
        The form's boxes (plain boxes are reported but only rolled prints
        decide, as the plain impressions are not scored per finger yet).
    is_copy : bool
        The scan is a scanned copy (operator flag or manifest).
    looks_like_copy : bool
        The copy detector's warning for a scan marked original.
    form_id : str or None
        The form id, None when the barcode could not be read.
    policy : VerdictPolicy
        Thresholds.
    scorer : str
        Whose scores ``prints`` carry (``"fast"`` or ``"nist"``), recorded in the verdict.

    Returns
    -------
    Verdict
    """
    reasons: list[str] = []
    defective: list[int] = []
    borderline: list[int] = []
    by_pos = {p.position: p for p in prints}
    for pos in ROLLED:
        p = by_pos.get(pos)
        if p is None or not p.present:
            annotated = p is not None and p.annotation in ANNOTATIONS
            if annotated and not policy.annotated_missing_is_defect:
                continue
            defective.append(pos)
            reasons.append(f"finger {pos}: no print" + (f" (marked {p.annotation})" if annotated else " and no reason marked"))
        elif p.quality is None:
            if policy.unscored_is_defect:
                defective.append(pos)
                reasons.append(f"finger {pos}: quality could not be measured")
        elif p.quality < policy.min_quality:
            defective.append(pos)
            what = "; ".join(p.feedback) if p.feedback else "low ridge quality"
            reasons.append(f"finger {pos}: NFIQ 2 score {p.quality} below {policy.min_quality} ({what})")
            if p.quality >= policy.min_quality - policy.borderline_margin:
                borderline.append(pos)

    too_many = len(defective) > policy.max_defective_rolled
    firm = len(defective) - len(borderline) > policy.max_defective_rolled
    if too_many:
        reasons.insert(0, f"{len(defective)} of 10 rolled prints are poor or missing (at most {policy.max_defective_rolled} allowed)")

    review: list[str] = []
    if form_id is None and policy.review_without_form_id:
        review.append("the barcode could not be read: enter the form id by hand")
    if not is_copy and looks_like_copy and policy.review_original_that_looks_like_copy:
        review.append("marked as an original but looks like a scanned copy (halftone or second-generation compression)")

    if is_copy and too_many and firm:
        verdict = "unsuitable"
    elif too_many:
        verdict = "review"
        if is_copy:
            review.append("unsuitable only because of borderline scores: check by eye before deleting")
        else:
            review.append("an original with poor prints is never deleted: ask the force for new prints")
    elif review:
        verdict = "review"
    else:
        verdict = "suitable"
    if verdict == "suitable":
        reasons = reasons or ["all rolled prints meet the quality threshold"]
    return Verdict(verdict=verdict, reasons=tuple(review + reasons), defective_positions=tuple(defective),
                   scorer=scorer)
