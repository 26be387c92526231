"""The figures of a quality report, computed from the case record's rows (no drawing here).

Everything is counted from what the record holds for each form (its force,
copy flag, verdict, deletion, the form id's source) and for each print box
(position, presence, NFIQ 2 score, feedback codes, annotation):

- a rolled print (positions 1-10) is *poor* as the verdict counts it
  (:func:`ifb1.pipeline.policy.decide`): a score below the policy's
  ``min_quality``, a box left empty with no reason written, and (as the policy
  says) an unscored print or an annotated empty box;
- a form *has poor prints* when it was found unsuitable or has more poor
  rolled prints than the policy allows (``max_defective_rolled``), i.e. it
  would need new prints whether it is an original or a copy;
- shares come with a 95 % Wilson score interval (E. B. Wilson, "Probable
  inference, the law of succession, and statistical inference", JASA 22,
  1927), so that a force with 3 forms is not ranked like one with 300:
  forces are ranked by the interval's lower end. Forms, not prints, are the
  unit for the ranking: the prints of one form share one officer, one
  inking and one scan, so they are not independent trials.

Forms without a force are one group, "force not recorded", reported like a
force but never ranked.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from ifb1.reports.advice import MISSING, NO_CAUSE, advice_for, code_of, problem_codes

NOT_RECORDED = "force not recorded"
Z95 = 1.959963984540054  # two-sided 95 % normal quantile
ROLLED = 10
N_POSITIONS = 14
#: How many example prints are looked for per problem (the page shows the first that can be read).
EXAMPLE_CANDIDATES = 12

POSITION_NAMES: dict[int, str] = {
    1: "Right thumb", 2: "Right index", 3: "Right middle", 4: "Right ring", 5: "Right little",
    6: "Left thumb", 7: "Left index", 8: "Left middle", 9: "Left ring", 10: "Left little",
    11: "Right thumb (plain)", 12: "Left thumb (plain)",
    13: "Right four fingers (plain)", 14: "Left four fingers (plain)",
}


def wilson(count: int, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a share ``count / total`` (``(0, 1)`` when ``total`` is 0).

    Unlike the normal approximation it stays inside [0, 1] and is honest for
    small counts and shares near 0 or 1 (Wilson 1927; Brown, Cai and DasGupta,
    "Interval estimation for a binomial proportion", Statistical Science 16, 2001).
    """
    if total <= 0:
        return 0.0, 1.0
    p = count / total
    z2 = z * z
    denom = 1.0 + z2 / total
    centre = (p + z2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Share:
    """``count`` of ``total``, with its 95 % Wilson interval ``low``-``high``."""

    count: int
    total: int
    low: float
    high: float

    @property
    def value(self) -> float | None:
        """The share, None when there is nothing to share."""
        return self.count / self.total if self.total else None

    def to_dict(self) -> dict:
        v = self.value
        return {"count": self.count, "total": self.total, "share": None if v is None else round(v, 4),
                "low": round(self.low, 4), "high": round(self.high, 4)}


def share(count: int, total: int) -> Share:
    """A :class:`Share` with its interval."""
    low, high = wilson(int(count), int(total))
    return Share(int(count), int(total), low, high)


@dataclass(frozen=True)
class PositionFigures:
    """One finger position of a group.

    ``boxes`` counts the processed forms; ``scored`` the prints with a score;
    ``median`` their median score (None without any); ``below`` the scored
    prints below the threshold (``below_share`` of the scored).
    """

    position: int
    name: str
    boxes: int
    scored: int
    median: float | None
    below: Share
    missing_unannotated: int
    annotated: int
    unscored: int

    def to_dict(self) -> dict:
        return {"position": self.position, "name": self.name, "boxes": self.boxes, "scored": self.scored,
                "median": self.median, "below_threshold": self.below.to_dict(),
                "missing_unannotated": self.missing_unannotated, "annotated": self.annotated,
                "unscored": self.unscored}


@dataclass(frozen=True)
class ProblemFigures:
    """One problem of a group's rolled prints.

    ``prints`` carry it; ``poor`` of them are poor prints (below the threshold
    or missing); ``share_of_poor`` is ``poor`` over all the group's poor
    rolled prints (a print may have more than one problem).
    """

    code: str
    label: str
    advice: str
    prints: int
    poor: int
    share_of_poor: float | None

    def to_dict(self) -> dict:
        return {"code": self.code, "label": self.label, "advice": self.advice, "prints": self.prints,
                "poor_prints": self.poor,
                "share_of_poor_prints": None if self.share_of_poor is None else round(self.share_of_poor, 4)}


@dataclass(frozen=True)
class MonthFigures:
    """One calendar month (``YYYY-MM``) of a group."""

    month: str
    forms: int
    poor_forms: Share
    poor_prints: Share
    median: float | None

    def to_dict(self) -> dict:
        return {"month": self.month, "forms": self.forms, "forms_with_poor_prints": self.poor_forms.to_dict(),
                "poor_rolled_prints": self.poor_prints.to_dict(), "median_rolled_score": self.median}


@dataclass(frozen=True)
class ExampleCandidate:
    """A print that could show a problem: its form, position, score and recorded crop file."""

    form_key: int
    position: int
    quality: float | None
    crop_path: str
    month: str


@dataclass(frozen=True)
class GroupFigures:
    """The figures of one force (or of the whole country, or of the forms without a force).

    ``forms`` = ``originals`` + ``copies``; ``suitable`` + ``review`` +
    ``unsuitable`` + ``undecided`` = ``forms`` (undecided: received, not yet
    processed, or failed); ``processed`` forms have print rows.
    ``deleted`` counts completed deletions of unsuitable copies,
    ``deletion_pending`` those started; ``manual_entries`` the forms whose id
    was typed by hand or not read from the barcode.
    """

    name: str
    slug: str
    recorded: bool
    forms: int
    originals: int
    copies: int
    suitable: int
    review: int
    unsuitable: int
    undecided: int
    processed: int
    deleted: int
    deletion_pending: int
    manual_entries: int
    poor_forms: Share
    poor_prints: Share
    median: float | None
    positions: tuple[PositionFigures, ...]
    problems: tuple[ProblemFigures, ...]
    months: tuple[MonthFigures, ...]
    scorers: dict[str, int] = field(default_factory=dict)
    examples: dict[str, tuple[ExampleCandidate, ...]] = field(default_factory=dict, repr=False)
    rank: int | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name, "page": f"{self.slug}.html", "force_recorded": self.recorded, "rank": self.rank,
            "forms": {"total": self.forms, "originals": self.originals, "copies": self.copies,
                      "processed": self.processed},
            "verdicts": {"suitable": self.suitable, "review": self.review, "unsuitable": self.unsuitable,
                         "undecided": self.undecided},
            "deletions": {"done": self.deleted, "pending": self.deletion_pending},
            "manual_entries": self.manual_entries,
            "forms_with_poor_prints": self.poor_forms.to_dict(),
            "poor_rolled_prints": self.poor_prints.to_dict(),
            "median_rolled_score": self.median,
            "positions": [p.to_dict() for p in self.positions],
            "problems": [p.to_dict() for p in self.problems],
            "months": [m.to_dict() for m in self.months],
            "scorers": dict(self.scorers),
        }


@dataclass(frozen=True)
class ReportFigures:
    """All figures of one report: the country, each force (ranked first, then unranked) and the rule used."""

    national: GroupFigures
    groups: tuple[GroupFigures, ...]
    threshold: int
    max_defective_rolled: int
    months: tuple[str, ...]
    received_from: str | None
    received_to: str | None

    def group(self, name: str | None) -> GroupFigures:
        """A group by its name (None: the forms without a force).

        Raises
        ------
        KeyError
            When there is no such group.
        """
        key = _group_key(name)
        for g in self.groups:
            if _group_key(None if not g.recorded else g.name) == key:
                return g
        raise KeyError(name)


def _group_key(force: str | None) -> str | None:
    if force is None or not force.strip():
        return None
    return " ".join(force.split()).casefold()


def force_slug(name: str | None) -> str:
    """A file name stem for a force's page: letters, digits and hyphens only, never from the raw text.

    A short hash of the name keeps two names that reduce to the same letters apart.
    """
    key = _group_key(name)
    if key is None:
        return "force-not-recorded"
    stem = re.sub(r"[^a-z0-9]+", "-", key.encode("ascii", "ignore").decode("ascii")).strip("-")[:40] or "force"
    return f"force-{stem}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:6]}"


def _month_range(first: str, last: str) -> tuple[str, ...]:
    y, m = int(first[:4]), int(first[5:7])
    y1, m1 = int(last[:4]), int(last[5:7])
    out = []
    while (y, m) <= (y1, m1):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return tuple(out)


def _median(values: np.ndarray) -> float | None:
    v = values[~np.isnan(values)]
    return None if v.size == 0 else float(np.median(v))


def compute_figures(forms, prints, *, min_quality: int, max_defective_rolled: int,
                    annotated_missing_is_defect: bool = False, unscored_is_defect: bool = True,
                    received_from: date | None = None, received_to: date | None = None) -> ReportFigures:
    """The figures of a report from the record's rows.

    Parameters
    ----------
    forms, prints : sequences
        :class:`ifb1.records.queries.FormFacts` and
        :class:`~ifb1.records.queries.PrintFacts` (:func:`ifb1.records.queries.quality_facts`).
    min_quality, max_defective_rolled, annotated_missing_is_defect, unscored_is_defect
        The verdict policy's rule (:class:`ifb1.pipeline.policy.VerdictPolicy`).
    received_from, received_to : date, optional
        The period asked for (inclusive); it sets the months of the trend.
        Default: the months of the first and last form received.

    Returns
    -------
    ReportFigures
    """
    n = len(forms)
    index = {f.form_key: i for i, f in enumerate(forms)}
    thr = float(min_quality)

    # -- forms
    keys = [_group_key(f.force) for f in forms]
    spellings: dict[str | None, Counter] = {}
    for k, f in zip(keys, forms):
        spellings.setdefault(k, Counter())[" ".join(f.force.split()) if k is not None else NOT_RECORDED] += 1
    group_keys = sorted(spellings, key=lambda k: (k is None, k or ""))
    gid = {k: i for i, k in enumerate(group_keys)}
    group = np.array([gid[k] for k in keys], dtype=np.int32)
    is_copy = np.array([f.is_copy for f in forms], dtype=bool)
    verdict = np.array([f.verdict or "" for f in forms], dtype=object)
    deletion = np.array([f.deletion or "" for f in forms], dtype=object)
    manual = np.array([f.form_id is None or f.form_id_source == "operator" for f in forms], dtype=bool)
    gone = np.array([f.status in ("deleted", "deletion-pending") or f.deletion is not None for f in forms], dtype=bool)
    month_text = [f.received_utc[:7] for f in forms]
    first = received_from.strftime("%Y-%m") if received_from else min(month_text, default=None)
    last = received_to.strftime("%Y-%m") if received_to else max(month_text, default=None)
    months = _month_range(first or last, last or first) if (first or last) else ()
    month_id = {m: i for i, m in enumerate(months)}
    month = np.array([month_id.get(m, -1) for m in month_text], dtype=np.int32)

    # -- prints, as dense (form, position) matrices
    codes = problem_codes()
    bit = {c: i for i, c in enumerate(codes)}
    mask_of: dict[tuple[str, ...], int] = {(): 0}
    Q = np.full((n, N_POSITIONS), np.nan)
    present = np.zeros((n, N_POSITIONS), bool)
    has_row = np.zeros((n, N_POSITIONS), bool)
    annotated = np.zeros((n, N_POSITIONS), bool)
    C = np.zeros((n, N_POSITIONS), np.int64)
    crop = np.full((n, N_POSITIONS), None, dtype=object)
    scorer_counts: list[Counter] = [Counter() for _ in group_keys]
    if prints:
        fi = np.fromiter((index[p.form_key] for p in prints), np.int64, len(prints))
        pi = np.fromiter((p.position - 1 for p in prints), np.int64, len(prints))
        has_row[fi, pi] = True
        present[fi, pi] = np.fromiter((p.present for p in prints), bool, len(prints))
        Q[fi, pi] = np.fromiter((np.nan if p.quality is None else p.quality for p in prints), float, len(prints))
        annotated[fi, pi] = np.fromiter((p.annotation_code is not None for p in prints), bool, len(prints))

        def bits(fb: tuple[str, ...]) -> int:
            m = mask_of.get(fb)
            if m is None:
                m = 0
                for text in fb:
                    c = code_of(text)
                    if c is not None:
                        m |= 1 << bit[c]
                mask_of[fb] = m
            return m

        C[fi, pi] = np.fromiter((bits(p.feedback) for p in prints), np.int64, len(prints))
        crop[fi, pi] = np.array([p.crop_path for p in prints], dtype=object)
        for p, f in zip(prints, fi):
            if p.scorer is not None and p.position <= ROLLED:
                scorer_counts[group[f]][p.scorer] += 1
    processed = has_row.any(axis=1)

    # -- the rolled prints as the verdict counts them
    q10, pres10, ann10 = Q[:, :ROLLED], present[:, :ROLLED], annotated[:, :ROLLED]
    proc10 = processed[:, None]
    missing_unann = proc10 & ~pres10 & ~ann10
    annotated_missing = proc10 & ~pres10 & ann10
    unscored = pres10 & np.isnan(q10)
    with np.errstate(invalid="ignore"):
        low = pres10 & (q10 < thr)
    defect = low | missing_unann
    if annotated_missing_is_defect:
        defect |= annotated_missing
    if unscored_is_defect:
        defect |= unscored
    boxes = proc10 & ~(annotated_missing & (not annotated_missing_is_defect))
    poor_form = processed & ((defect.sum(axis=1) > max_defective_rolled) | (verdict == "unsuitable"))
    c10 = C[:, :ROLLED]
    has_code = [((c10 >> b) & 1).astype(bool) for b in range(len(codes))]
    no_cause = defect & pres10 & (c10 == 0)

    def figures(sel: np.ndarray, name: str, recorded: bool, scorers: Counter, *,
                with_examples: bool = True) -> GroupFigures:
        sel_proc = sel & processed
        d, bx = defect[sel], boxes[sel]
        n_poor = int(d.sum())
        problems = []
        for c in codes:
            h = has_code[bit[c]][sel]
            k = int(h.sum())
            if k:
                problems.append((c, k, int((h & d).sum())))
        k = int(missing_unann[sel].sum())
        if k:
            problems.append((MISSING, k, k))
        k = int(no_cause[sel].sum())
        if k:
            problems.append((NO_CAUSE, k, k))
        order = {c: i for i, c in enumerate((*codes, MISSING, NO_CAUSE))}
        problems.sort(key=lambda t: (-t[2], -t[1], order[t[0]]))
        prob_figs = []
        examples: dict[str, tuple[ExampleCandidate, ...]] = {}
        rows = np.flatnonzero(sel & ~gone)
        for c, k, poor in problems:
            a = advice_for(c)
            prob_figs.append(ProblemFigures(c, a.label, a.advice, k, poor, poor / n_poor if n_poor else None))
            if c == MISSING or not with_examples:
                continue  # nothing to show for an empty box
            flag = (no_cause if c == NO_CAUSE else has_code[bit[c]])[rows]
            rr, pp = np.nonzero(flag)
            cands = [(rows[r], p) for r, p in zip(rr, pp) if crop[rows[r], p] is not None]
            # The worst first; an unscored print is worse than any score.
            cands.sort(key=lambda t: (-1.0 if np.isnan(Q[t]) else Q[t], forms[t[0]].form_key, t[1]))
            examples[c] = tuple(
                ExampleCandidate(forms[r].form_key, int(p) + 1, None if np.isnan(Q[r, p]) else float(Q[r, p]),
                                 str(crop[r, p]), month_text[r])
                for r, p in cands[:EXAMPLE_CANDIDATES])
        positions = []
        for p in range(N_POSITIONS):
            col_q, col_p = Q[sel_proc, p], present[sel_proc, p]
            scored_q = col_q[col_p & ~np.isnan(col_q)]
            positions.append(PositionFigures(
                position=p + 1, name=POSITION_NAMES[p + 1], boxes=int(sel_proc.sum()), scored=int(scored_q.size),
                median=None if scored_q.size == 0 else float(np.median(scored_q)),
                below=share(int((scored_q < thr).sum()), int(scored_q.size)),
                missing_unannotated=int((~col_p & ~annotated[sel_proc, p]).sum()),
                annotated=int((~col_p & annotated[sel_proc, p]).sum()),
                unscored=int((col_p & np.isnan(col_q)).sum()),
            ))
        month_figs = []
        for mi, m in enumerate(months):
            ms = sel & (month == mi)
            mp = ms & processed
            rolled_q = q10[mp][pres10[mp]]
            month_figs.append(MonthFigures(
                m, int(ms.sum()), share(int(poor_form[mp].sum()), int(mp.sum())),
                share(int(defect[ms].sum()), int(boxes[ms].sum())), _median(rolled_q)))
        v = verdict[sel]
        return GroupFigures(
            name=name, slug=force_slug(name if recorded else None), recorded=recorded,
            forms=int(sel.sum()), originals=int((sel & ~is_copy).sum()), copies=int((sel & is_copy).sum()),
            suitable=int((v == "suitable").sum()), review=int((v == "review").sum()),
            unsuitable=int((v == "unsuitable").sum()), undecided=int((v == "").sum()),
            processed=int(sel_proc.sum()),
            deleted=int((deletion[sel] == "done").sum()), deletion_pending=int((deletion[sel] == "pending").sum()),
            manual_entries=int(manual[sel].sum()),
            poor_forms=share(int(poor_form[sel].sum()), int(sel_proc.sum())),
            poor_prints=share(n_poor, int(bx.sum())),
            median=_median(q10[sel_proc][pres10[sel_proc]]),
            positions=tuple(positions), problems=tuple(prob_figs), months=tuple(month_figs),
            scorers=dict(sorted(scorers.items())), examples=examples,
        )

    national_scorers: Counter = Counter()
    for c in scorer_counts:
        national_scorers.update(c)
    national = replace(figures(np.ones(n, bool), "All forces", True, national_scorers, with_examples=False),
                       slug="index")
    groups = [figures(group == gid[k], spellings[k].most_common(1)[0][0], k is not None, scorer_counts[gid[k]])
              for k in group_keys]
    ranked = sorted((g for g in groups if g.recorded),
                    key=lambda g: (-g.poor_forms.low, -(g.poor_forms.value or 0.0), -g.forms, g.name.casefold()))
    ordered = [replace(g, rank=i + 1) for i, g in enumerate(ranked)]
    ordered += [g for g in groups if not g.recorded]
    return ReportFigures(
        national=national, groups=tuple(ordered), threshold=int(min_quality),
        max_defective_rolled=int(max_defective_rolled), months=months,
        received_from=received_from.isoformat() if received_from else None,
        received_to=received_to.isoformat() if received_to else None,
    )
