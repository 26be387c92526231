"""A synthetic case record: many forms from invented police forces, built directly through the Record API.

For what needs a record of thousands of forms without scanning any (the
report benchmark, the README's report screenshot, report tests): each form
gets a force, a copy flag, a date of receipt and fourteen print rows with
NFIQ 2-like scores and feedback codes drawn from its force's profile
(:class:`ForceProfile`: how good its prints are, which faults it habitually
makes, how often it leaves a box empty without a reason). The verdict is the
product's own rule (:func:`ifb1.pipeline.policy.decide`); some unsuitable
copies are deleted through the record's deletion steps. With a pool of
generated print images (:func:`print_pool`) every print gets a real crop
file (a hard link to a pool image showing its fault), registered like the
batch's crops; a deleted form's crops are removed.

The truth of every form is returned (:class:`SyntheticForm`), so that
figures computed from the record can be checked against it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

#: The faults a profile may have (feedback codes of :mod:`ifb1.quality.feedback`).
FAULTS = ("too_dark", "too_light", "smudged", "partial", "creased", "off_centre", "too_small")
#: Generator damage kind drawn for a pool image of each fault (:class:`ifb1.samples.ink.Damage`).
POOL_DAMAGE = {"clean": None, "too_dark": "over_ink", "too_light": "under_ink", "smudged": "smudge",
               "partial": "partial", "creased": "crease"}
# Scores drop on small fingers (less ridge area), a little less on thumbs (NIST SD14-like).
_FINGER_OFFSET = {1: 3.0, 2: 0.0, 3: 0.0, 4: -3.0, 5: -8.0, 6: 3.0, 7: 0.0, 8: 0.0, 9: -3.0, 10: -8.0,
                  11: 2.0, 12: 2.0}
SLAP_NOTE = "four-finger slap: not scored until slaps are split into fingers"
_PLACES = ("North", "South", "East", "West", "Mid", "Upper", "Lower", "Great", "Little")
_LANDS = ("shire", "vale", "moor", "ford", "wick", "dale", "fell", "mouth")
_KINDS = ("Police", "Constabulary")


@dataclass(frozen=True)
class ForceProfile:
    """How an invented force's forms come out.

    Attributes
    ----------
    name : str or None
        The force; None for forms sent without a force.
    weight : float
        Relative number of forms it sends.
    quality : float
        Mean score of its rolled prints before faults (NFIQ 2-like, 0-100).
    faults : tuple of (str, float)
        Habitual faults: a feedback code (:data:`FAULTS`) and its chance per print;
        a print with a fault loses 8-28 points.
    missing_rate : float
        Chance per rolled box of being left empty without a reason.
    copy_rate : float
        Share of its forms that are scanned copies.
    trend : float
        Change of ``quality`` per month (positive: improving).
    """

    name: str | None
    weight: float
    quality: float
    faults: tuple[tuple[str, float], ...] = ()
    missing_rate: float = 0.01
    copy_rate: float = 0.3
    trend: float = 0.0


@dataclass(frozen=True)
class SyntheticForm:
    """The truth of one form put in the record."""

    form_key: int
    force: str | None
    is_copy: bool
    received_utc: str
    verdict: str
    prints: tuple  # of ifb1.records.PrintEntry
    deleted: bool
    manual_entry: bool


def invented_forces(n: int, *, seed: int = 0, without_force: float = 0.02) -> tuple[ForceProfile, ...]:
    """``n`` invented forces with varied volumes (Zipf-like), quality and faults, and the forms without a force.

    Parameters
    ----------
    n : int
        Number of forces.
    seed : int
        Drives the draw.
    without_force : float
        Share of the forms sent without a force (a profile with ``name`` None); 0 for none.
    """
    rng = np.random.default_rng(seed)
    names: list[str] = []
    for place in _PLACES:
        for land in _LANDS:
            names.append(f"{place}{land} {_KINDS[(len(names) * 7) % 2]}")
    order = rng.permutation(len(names))
    if n > len(names):
        raise ValueError(f"at most {len(names)} invented forces, asked for {n}")
    out = []
    for i in range(n):
        faults = tuple((str(c), float(rng.uniform(0.04, 0.3)))
                       for c in rng.choice(FAULTS[:5], size=int(rng.integers(1, 3)), replace=False))
        faults += (("off_centre", 0.03),)
        out.append(ForceProfile(
            name=names[order[i]], weight=float(1.0 / (i + 1) ** 0.9), quality=float(rng.uniform(45, 72)),
            faults=faults, missing_rate=float(rng.uniform(0.0, 0.04)), copy_rate=float(rng.uniform(0.1, 0.5)),
            trend=float(rng.normal(0.3, 0.6))))
    if without_force > 0:
        total = sum(p.weight for p in out)
        out.append(ForceProfile(None, weight=total * without_force / (1 - without_force), quality=58.0,
                                faults=(("too_light", 0.1),), missing_rate=0.02))
    return tuple(out)


def print_pool(folder: str | os.PathLike[str], *, seed: int = 0, per_kind: int = 2) -> dict[str, list[Path]]:
    """Generated rolled prints (500 ppi PNG) showing each fault, to stand for crop files.

    Returns
    -------
    dict
        ``"clean"`` and each fault of :data:`POOL_DAMAGE` -> the image files.
    """
    import cv2

    from ifb1.samples.fingerprint import make_master
    from ifb1.samples.impression import rolled_impression
    from ifb1.samples.ink import Damage, ink_print

    from ifb1.fileio import make_private_dirs

    folder = make_private_dirs(folder)
    out: dict[str, list[Path]] = {}
    for k, (code, kind) in enumerate(POOL_DAMAGE.items()):
        for j in range(per_kind):
            rng = np.random.default_rng([seed, k, j])
            finger = int(rng.integers(1, 11))
            imp = rolled_impression(make_master(rng, finger=finger), rng)
            damage = Damage() if kind is None else Damage(**{kind: float(rng.uniform(0.75, 0.95))})
            inked = ink_print(imp, rng, damage=damage)
            grey = np.clip(255.0 * (1.0 - inked.density), 0, 255).astype(np.uint8)
            path = folder / f"{code}-{j}.png"
            if not cv2.imwrite(str(path), grey):
                raise OSError(f"{path}: cannot be written")
            out.setdefault(code, []).append(path)
    return out


def fill_record(rec, *, n_forms: int, profiles: Sequence[ForceProfile], start: date, months: int,
                seed: int = 0, crops_dir: str | os.PathLike[str] | None = None,
                crop_pool: Mapping[str, Sequence[Path]] | None = None, delete_share: float = 0.7,
                manual_rate: float = 0.03, actor: str = "ifb1 synthetic record") -> tuple[SyntheticForm, ...]:
    """Put ``n_forms`` synthetic forms into an open, writable record.

    Parameters
    ----------
    rec : ifb1.records.Record
        Opened for writing.
    n_forms : int
        Forms to add.
    profiles : sequence of ForceProfile
        The forces (:func:`invented_forces`); forms are shared by ``weight``.
    start : date
        First day of the first month of receipt; forms are spread over ``months`` months.
    seed : int
        Drives everything.
    crops_dir, crop_pool : optional
        Both or neither: a folder for crop files (registered with the record when
        outside its data folder) and :func:`print_pool`'s images; each print's crop is
        a hard link to a pool image of its first fault.
    delete_share : float
        Share of the unsuitable copies deleted through the record's deletion steps.
    manual_rate : float
        Share of the forms whose id was typed by hand (half) or never read (half).

    Returns
    -------
    tuple of SyntheticForm
    """
    from ifb1.pipeline.policy import PrintOutcome, VerdictPolicy, decide
    from ifb1.records import PrintEntry

    if (crops_dir is None) != (crop_pool is None):
        raise ValueError("crops_dir and crop_pool go together")
    rng = np.random.default_rng(seed)
    weights = np.array([p.weight for p in profiles], float)
    which = rng.choice(len(profiles), size=n_forms, p=weights / weights.sum())
    crops = None
    if crops_dir is not None:
        from ifb1.fileio import make_private_dirs
        from ifb1.records import PathOutsideRootsError

        crops = make_private_dirs(crops_dir)
        try:
            rec.locate(crops / "x")
        except PathOutsideRootsError:
            rec.add_root(crops, kind="output", actor=actor)
    scans = rec.data_dir / "synthetic-scans"
    policy = VerdictPolicy()
    out: list[SyntheticForm] = []
    for i0 in range(0, n_forms, 250):
        with rec.transaction():
            for i in range(i0, min(n_forms, i0 + 250)):
                prof = profiles[int(which[i])]
                month = int(rng.integers(0, months))
                y, m = start.year + (start.month - 1 + month) // 12, (start.month - 1 + month) % 12 + 1
                received = datetime(y, m, 1, tzinfo=timezone.utc) + timedelta(
                    days=float(rng.uniform(0, 27.99)))
                is_copy = bool(rng.random() < prof.copy_rate)
                u = rng.random()
                typed, unread = u < manual_rate / 2, manual_rate / 2 <= u < manual_rate
                form_id = None if unread else f"IFB1-{y}-{(seed * 7919 + i) % 1000000:06d}"
                sha = hashlib.sha256(f"ifb1-synthetic-{seed}-{i}".encode()).hexdigest()
                key = rec.add_form(
                    scan_sha256=sha, source_path=scans / f"{i:06d}.png", is_copy=is_copy, actor=actor,
                    form_id=form_id, force=prof.name, received=received,
                    details={"form_id_source": None if unread else ("operator" if typed else "barcode")})
                entries, outcomes, links = [], [], []
                for pos in range(1, 15):
                    if pos <= 10 and rng.random() < prof.missing_rate:
                        entries.append(PrintEntry(pos, False))
                        outcomes.append(PrintOutcome(pos, False))
                        continue
                    if pos <= 10 and rng.random() < 0.01:
                        code = str(rng.choice(("XX", "UP", "AMP")))
                        entries.append(PrintEntry(pos, False, annotation_code=code))
                        outcomes.append(PrintOutcome(pos, False, annotation=code))
                        continue
                    crop = None if crops is None else crops / f"{key:06d}" / f"{pos:02d}.png"
                    if pos >= 13:
                        entries.append(PrintEntry(pos, True, None, (SLAP_NOTE,), None if crop is None else str(crop)))
                        outcomes.append(PrintOutcome(pos, True, None))
                        if crop is not None:
                            links.append((crop, "clean"))
                        continue
                    q = rng.normal(prof.quality + prof.trend * month + _FINGER_OFFSET[pos], 12.0)
                    codes = []
                    for code, chance in prof.faults:
                        if rng.random() < chance:
                            codes.append(code)
                            q -= rng.uniform(8, 28)
                    quality = int(np.clip(round(q), 0, 100))
                    feedback = tuple(c.replace("_", " ") for c in codes)
                    entries.append(PrintEntry(pos, True, float(quality), feedback, None if crop is None else str(crop),
                                              scorer="nist"))
                    outcomes.append(PrintOutcome(pos, True, quality, feedback=feedback))
                    if crop is not None:
                        links.append((crop, next((c for c in codes if c in POOL_DAMAGE), "clean")))
                for crop, kind in links:
                    pool = crop_pool[kind]
                    crop.parent.mkdir(mode=0o700, exist_ok=True)
                    if not crop.exists():
                        os.link(pool[int(rng.integers(0, len(pool)))], crop)
                rec.set_prints(key, entries)
                v = decide(outcomes, is_copy=is_copy, form_id=form_id, policy=policy, scorer="nist")
                rec.set_verdict(key, v.verdict, v.reasons, actor=actor)
                deleted = False
                if v.verdict == "unsuitable" and rng.random() < delete_share:
                    when = received + timedelta(days=2)
                    files = [str(c) for c, _ in links]
                    rec.begin_deletion(key, reason="unsuitable scanned copy", actor=actor, utc=when, files=files)
                    for c in files:
                        Path(c).unlink(missing_ok=True)
                    rec.complete_deletion(key, deleted_on=when.date().isoformat(),
                                          note="prints received, unsuitable, deleted", actor=actor, utc=when,
                                          files=files)
                    deleted = True
                out.append(SyntheticForm(key, prof.name, is_copy, received.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                                         v.verdict, tuple(entries), deleted, form_id is None or typed))
    return tuple(out)
