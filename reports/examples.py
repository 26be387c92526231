"""Example prints for a report: small thumbnails of a force's worst prints, inline as data: URIs.

Only crop files the record still has registered to their form are read
(:func:`ifb1.records.queries.live_crop`): the crops of a deleted form are
gone, and a file that cannot be read is skipped and counted, never an error.
"""

from __future__ import annotations

import base64
import io
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

    Raises
    ------
    OSError, ValueError
        When the file is missing, not a regular file (a symlink is refused) or not an image.
    """
    from PIL import Image

    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{path}: not a regular file")
    with Image.open(path) as im:
        im.load()
        grey = im.convert("L")
    factor = max(1, min(grey.size) // (2 * size))
    if factor > 1:
        grey = grey.reduce(factor)  # cheap box shrink first, then a good filter for the last step
    grey.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    grey.save(buf, format="JPEG", quality=THUMB_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), grey.width, grey.height


def resolved(path: str) -> str:
    """A stored file path with its folder resolved, as the record's artefact paths are."""
    return os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))), os.path.basename(path))


def _try_thumbnail(path: str) -> tuple[str, int, int] | None:
    from PIL import Image, UnidentifiedImageError

    try:
        return thumbnail_uri(path)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
        return None


def pick_examples(candidates: tuple[ExampleCandidate, ...], live: dict[int, set[str]], *, limit: int,
                  pool=None) -> tuple[tuple[Thumbnail, ...], int]:
    """Up to ``limit`` thumbnails from ``candidates`` (worst first), and how many were skipped.

    Parameters
    ----------
    candidates : tuple of ExampleCandidate
        In order of preference.
    live : dict
        Form key -> crop files registered now (:func:`ifb1.records.queries.live_crops`).
    limit : int
        Thumbnails wanted.
    pool : concurrent.futures.Executor, optional
        Decodes several crops at once (Pillow releases the GIL while decoding).

    Returns
    -------
    (thumbnails, skipped)
        ``skipped`` counts the candidates looked at whose crop is no longer
        registered to its form (deleted) or whose file is missing or unreadable.
    """
    out: list[Thumbnail] = []
    skipped = 0
    rest = iter(candidates)
    while len(out) < limit:
        batch: list[tuple[ExampleCandidate, str]] = []
        for c in rest:
            path = resolved(c.crop_path)
            if path in live.get(c.form_key, ()):
                batch.append((c, path))
            else:
                skipped += 1
            if len(batch) >= limit - len(out):
                break
        if not batch:
            break
        paths = [p for _, p in batch]
        results = list(pool.map(_try_thumbnail, paths)) if pool is not None else [_try_thumbnail(p) for p in paths]
        for (c, _), r in zip(batch, results):
            if r is None:
                skipped += 1
                continue
            uri, w, h = r
            out.append(Thumbnail(c.position, POSITION_NAMES[c.position], c.quality, c.month, uri, w, h))
    return tuple(out), skipped
