"""Example prints for a report: small thumbnails of a force's worst prints, inline as data: URIs.

Only crop files the record still has registered to their form are read
(:func:`ifb1.records.queries.live_crop`): the crops of a deleted form are
gone, and a file that cannot be read is skipped and counted, never an error.
"""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import dataclass

from ifb1.reports.figures import POSITION_NAMES, ExampleCandidate

#: Longest side of a thumbnail in pixels (about 40 mm on paper at 100 ppi: ridges still visible).
THUMB_PX = 200
#: JPEG quality of a thumbnail (greyscale).
THUMB_QUALITY = 82


@dataclass(frozen=True)
class Thumbnail:
    """One example print: where it came from, its score and its picture (a ``data:image/jpeg`` URI)."""

    position: int
    name: str
    quality: float | None
    month: str
    data_uri: str
    width: int
    height: int


def thumbnail_uri(path: str, *, size: int = THUMB_PX) -> tuple[str, int, int]:
    """A greyscale JPEG thumbnail of an image file as a ``data:`` URI, with its width and height.

    OpenCV decodes, shrinks (area averaging: no aliasing of the ridges) and encodes, releasing
    the GIL, so several thumbnails are made at once on threads.

    Raises
    ------
    OSError, ValueError
        When the file is missing, not a regular file (a symlink is refused) or not an image.
    """
    import cv2

    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{path}: not a regular file")
    grey = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if grey is None or grey.size == 0:
        raise ValueError(f"{path}: not an image OpenCV can read")
    h, w = grey.shape
    scale = min(1.0, size / max(h, w))
    if scale < 1.0:
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
        grey = cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    if not ok:
        raise ValueError(f"{path}: the thumbnail could not be encoded")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii"), w, h


def resolved(path: str) -> str:
    """A stored file path with its folder resolved, as the record's artefact paths are."""
    return os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))), os.path.basename(path))


def _try_thumbnail(path: str) -> tuple[str, int, int] | None:
    try:
        return thumbnail_uri(path)
    except (OSError, ValueError):
        return None


def pick_examples(wanted: dict, live: dict[int, set[str]], *, limit: int, pool=None) -> dict:
    """Up to ``limit`` thumbnails for each list of candidates, and how many candidates were skipped.

    Parameters
    ----------
    wanted : dict
        Any key (a force and a problem) -> tuple of :class:`ExampleCandidate`, in order of preference.
    live : dict
        Form key -> crop files registered now (:func:`ifb1.records.queries.live_crops`).
    limit : int
        Thumbnails wanted per key.
    pool : concurrent.futures.Executor, optional
        Decodes several crops at once (OpenCV releases the GIL): the first
        choices of every key are decoded together, then replacements for those that failed.

    Returns
    -------
    dict
        Key -> ``(thumbnails, skipped)``; ``skipped`` counts the candidates passed over because
        their crop is no longer registered to their form (deleted) or their file is missing or
        unreadable.
    """
    state = {}
    for key, candidates in wanted.items():
        state[key] = {"rest": iter(candidates), "out": [], "skipped": 0}

    def next_batch() -> list[tuple[object, ExampleCandidate, str]]:
        jobs = []
        for key, st in state.items():
            need = limit - len(st["out"])
            taken = 0
            for c in st["rest"] if need > 0 else ():
                path = resolved(c.crop_path)
                if path in live.get(c.form_key, ()):
                    jobs.append((key, c, path))
                    taken += 1
                else:
                    st["skipped"] += 1
                if taken >= need:
                    break
        return jobs

    jobs = next_batch()
    while jobs:
        paths = [p for _, _, p in jobs]
        results = list(pool.map(_try_thumbnail, paths)) if pool is not None else [_try_thumbnail(p) for p in paths]
        for (key, c, _), r in zip(jobs, results):
            st = state[key]
            if r is None:
                st["skipped"] += 1
                continue
            uri, w, h = r
            st["out"].append(Thumbnail(c.position, POSITION_NAMES[c.position], c.quality, c.month, uri, w, h))
        jobs = next_batch()
    return {key: (tuple(st["out"]), st["skipped"]) for key, st in state.items()}
