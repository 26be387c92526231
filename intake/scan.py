"""Intake: decode a scanned IFB1 file once into grey pages, with its resolution.

Reads PNG, TIFF (multi-page, LZW, Group 4, ...), JPEG, BMP and PDF as scanners
write them. A PDF page's embedded scan is taken at its own resolution; a page
is rendered only when it holds no full-page image (a vector page).

Bad input raises :class:`IntakeError` with a sentence naming the file and the
problem; the file is only ever opened for reading.
"""

from __future__ import annotations

import hashlib
import io
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# A real page: a whole A4 flatbed (216 x 297 mm) at 600 ppi is 35.8 MP; 40 MP leaves a
# little room for overscan and refuses decompression bombs before a pixel is decoded. At
# this cap the costliest layout (RGBA, 4 bytes a pixel, decoded in strips to grey) keeps a
# worker under 400 MB for the whole form (tests/faults/test_fault_memory.py).
DEFAULT_MAX_PIXELS = 40_000_000
#: One form per file: its page and, at most, the blank back of a duplex scan.
DEFAULT_MAX_PAGES = 2
#: Pixels converted to grey at a time: a colour page never exists twice at full size.
_STRIP_PIXELS = 1 << 20

# Resolutions that scanners and image editors write when they do not know
# the real one; never trusted.
UNTRUSTED_PPI = (72.0, 96.0)
PLAUSIBLE_PPI = (150.0, 1200.0)

# PDF: vector pages are rendered at this resolution.
PDF_RENDER_PPI = 300.0

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"BM", "bmp"),
    (b"%PDF-", "pdf"),
)


class IntakeError(ValueError):
    """A scan that cannot be read, with a message naming the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class Page:
    """One decoded page.

    Attributes
    ----------
    image : np.ndarray
        uint8 grey (H, W), 0 black, 255 white, C-contiguous.
    index : int
        0-based page number in the file.
    ppi_metadata : float or None
        The resolution the file states (None when absent).
    ppi_plausible : bool
        Whether ``ppi_metadata`` is believable (not 72/96, within 150-1200).
    """

    image: np.ndarray
    index: int
    ppi_metadata: float | None
    ppi_plausible: bool

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[:2]


@dataclass(frozen=True)
class Scan:
    """A decoded scan file.

    Attributes
    ----------
    source : str
        The path as given.
    format : str
        ``"png"``, ``"tiff"``, ``"jpeg"``, ``"bmp"`` or ``"pdf"`` (from the
        file's signature, not its name).
    sha256 : str
        Hex SHA-256 of the file's bytes (names outputs when no form id).
    pages : tuple of Page
    decode_ms : float
        Wall time spent reading and decoding the file.
    rendered : bool
        True when a PDF page was rendered (vector page) rather than extracted.
    skipped : tuple of str
        Why pages were left out (blank pages of a multi-page file, e.g. the
        back of a duplex scan).
    """

    source: str
    format: str
    sha256: str
    pages: tuple[Page, ...]
    decode_ms: float
    rendered: bool = False
    skipped: tuple[str, ...] = ()

    @property
    def image(self) -> np.ndarray:
        """The first page's grey image."""
        return self.pages[0].image


def plausible_ppi(ppi: float | None) -> bool:
    """Whether a stated resolution can be trusted (72 and 96 dpi are common lies)."""
    if ppi is None or not np.isfinite(ppi):
        return False
    if any(abs(ppi - bad) < 0.5 for bad in UNTRUSTED_PPI):
        return False
    return PLAUSIBLE_PPI[0] <= ppi <= PLAUSIBLE_PPI[1]


def _clean_ppi(dpi) -> float | None:
    """Pillow's ``info['dpi']`` to one number (None when absent or anisotropic)."""
    if dpi is None:
        return None
    try:
        x, y = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return None
    if not (x > 0 and y > 0) or abs(x - y) > 0.01 * max(x, y):
        return None
    # PNG stores dots per metre, so 300 dpi comes back as 299.9994.
    r = round(x)
    return float(r) if abs(x - r) < 0.05 else round(x, 2)


def _to_grey(arr: np.ndarray) -> np.ndarray:
    """Any decoded pixel array to uint8 grey."""
    import cv2

    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype != np.uint8:
        a = arr.astype(np.float32)
        hi = float(a.max()) if a.size else 1.0
        arr = np.clip(a * (255.0 / (hi if hi > 1.0 else 1.0)), 0, 255).astype(np.uint8)
    if arr.ndim == 3:
        if arr.shape[2] == 4:
            arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2GRAY)
        elif arr.shape[2] == 3:
            arr = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)
        else:
            arr = arr[:, :, 0]
    return np.ascontiguousarray(arr)


def _pil_strip_to_grey(im, hi: float | None) -> np.ndarray:
    """One Pillow strip to uint8 grey (``hi``: the whole frame's maximum, for 32-bit modes)."""
    mode = im.mode
    if mode in ("RGB", "RGBA"):
        return _to_grey(np.asarray(im))
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return _to_grey(np.asarray(im).astype(np.uint16))
    if mode == "LA":
        return np.asarray(im.getchannel(0))
    if mode in ("I", "F"):
        a = np.asarray(im).astype(np.float32)
        return np.clip(a * (255.0 / (hi if hi is not None and hi > 1.0 else 1.0)), 0, 255).astype(np.uint8)
    return np.asarray(im.convert("L"))


def _pil_to_grey(im) -> np.ndarray:
    """A loaded Pillow frame to uint8 grey without an RGB detour when avoidable.

    Anything but 8-bit grey is converted in strips of rows, so that a colour
    (or 16/32-bit) page is never copied whole in its own layout: the extra
    memory is the grey page plus one strip.
    """
    mode = im.mode
    if mode in ("L", "1"):
        return _to_grey(np.asarray(im))
    w, h = im.size
    hi = None
    if mode in ("I", "F"):
        lo_hi = im.getextrema()
        hi = float(lo_hi[1]) if lo_hi else None
    out = np.empty((h, w), np.uint8)
    rows = max(1, _STRIP_PIXELS // max(w, 1))
    for y in range(0, h, rows):
        strip = im.crop((0, y, w, min(h, y + rows)))
        out[y:y + strip.size[1]] = _pil_strip_to_grey(strip, hi)
    return out


def _bitmap_to_grey(bmp) -> np.ndarray:
    """A pdfium bitmap (BGR/BGRx/BGRA or grey) to an owned uint8 grey array."""
    import cv2

    arr = np.asarray(bmp.to_numpy())
    if arr.ndim == 3 and arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_BGR2GRAY)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2GRAY)
    if arr.ndim == 3:
        arr = arr[:, :, 0]
    return np.array(arr, dtype=np.uint8, copy=True)


def _check_pixels(path, w: int, h: int, max_pixels: int, what: str = "the image") -> None:
    if w <= 0 or h <= 0:
        raise IntakeError(path, f"{what} has no pixels ({w} x {h})")
    if w * h > max_pixels:
        raise IntakeError(
            path,
            f"{what} is {w} x {h} = {w * h / 1e6:.0f} megapixels, over the {max_pixels / 1e6:.0f} MP limit "
            "(refused as a possible decompression bomb)",
        )


def _decode_raster(path, data: bytes, fmt: str, max_pixels: int, max_pages: int) -> list[Page]:
    from PIL import Image, ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    # Pillow's bomb guard is set to the same cap for this call (and restored:
    # it is process-wide). Our own header check, before every page is
    # decoded, gives the message; Pillow's own (at twice the cap) is a
    # second line of defence whose numbers are not repeated.
    saved_cap = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    pages: list[Page] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                n = getattr(im, "n_frames", 1)
                if n > max_pages:
                    raise IntakeError(path, f"the file has {n} pages; one form per file (a second page only as the blank back of a duplex scan)")
                for i in range(n):
                    im.seek(i)
                    w, h = im.size
                    _check_pixels(path, w, h, max_pixels, f"page {i + 1}" if n > 1 else "the image")
                    im.load()
                    ppi = _clean_ppi(im.info.get("dpi"))
                    pages.append(Page(_pil_to_grey(im), i, ppi, plausible_ppi(ppi)))
    except IntakeError:
        raise
    except Image.DecompressionBombError as exc:
        raise IntakeError(path, f"the image is over the {max_pixels / 1e6:.0f} MP limit "
                                "(refused as a possible decompression bomb)") from exc
    except MemoryError as exc:
        raise IntakeError(path, "the image is too large to decode in memory") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise IntakeError(path, f"the {fmt.upper()} file is truncated or corrupt ({exc})") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = saved_cap
    return pages


def _decode_pdf(path, data: bytes, max_pixels: int, max_pages: int) -> tuple[list[Page], bool]:
    try:
        import pypdfium2 as pdfium
        import pypdfium2.raw as pdfium_c
    except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
        raise IntakeError(path, "PDF input needs the pypdfium2 package, which is not installed") from exc
    from PIL import Image

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise IntakeError(path, f"the PDF file is truncated or corrupt ({exc})") from exc
    pages: list[Page] = []
    rendered = False
    try:
        n = len(doc)
        if n == 0:
            raise IntakeError(path, "the PDF has no pages")
        if n > max_pages:
            raise IntakeError(path, f"the PDF has {n} pages; one form per file (a second page only as the blank back of a duplex scan)")
        for i in range(n):
            page = doc[i]
            pw, ph = page.get_size()  # points
            best = None
            for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
                l, b, r, t = obj.get_bounds()
                area = (r - l) * (t - b)
                if area >= 0.6 * pw * ph and (best is None or area > best[0]):
                    best = (area, obj, r - l, t - b)
            if best is not None and page.get_rotation() == 0:
                _, obj, bw, bh = best
                m = obj.get_matrix()
                axis_aligned = abs(m.b) < 1e-6 and abs(m.c) < 1e-6 and m.a > 0 and m.d > 0
            else:
                axis_aligned = False
            if axis_aligned:
                w, h = obj.get_px_size()
                _check_pixels(path, w, h, max_pixels, f"page {i + 1}'s image")
                ppi = round(w / (bw / 72.0), 1)
                if abs(ppi - round(ppi)) < 0.3:
                    ppi = float(round(ppi))
                if obj.get_filters() == ["DCTDecode"]:
                    # The JPEG stream as the scanner wrote it: decode it once with Pillow.
                    buf = bytes(obj.get_data(decode_simple=False))
                    with Image.open(io.BytesIO(buf)) as im:
                        im.load()
                        grey = _pil_to_grey(im)
                else:
                    bmp = obj.get_bitmap(render=False)
                    grey = _bitmap_to_grey(bmp)
                pages.append(Page(np.ascontiguousarray(grey), i, ppi, plausible_ppi(ppi)))
            else:
                scale = PDF_RENDER_PPI / 72.0
                _check_pixels(path, int(pw * scale), int(ph * scale), max_pixels, f"page {i + 1}")
                bmp = page.render(scale=scale, grayscale=True)
                pages.append(Page(_bitmap_to_grey(bmp), i, PDF_RENDER_PPI, True))
                rendered = True
    except IntakeError:
        raise
    except (pdfium.PdfiumError, OSError, ValueError) as exc:
        raise IntakeError(path, f"the PDF page image cannot be decoded ({exc})") from exc
    finally:
        doc.close()
    return pages, rendered


def is_blank(image: np.ndarray) -> bool:
    """A page with no ink anywhere (checked on a 1/8 subsample)."""
    sub = image[::8, ::8]
    paper = float(np.percentile(sub, 90))
    return float(np.mean(sub < paper - 60)) < 0.002


def load_scan(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_pages: int = DEFAULT_MAX_PAGES) -> Scan:
    """Read and decode a scan file once.

    Parameters
    ----------
    path : str or Path
        The scan; its format is taken from its signature, not its name.
    max_pixels : int
        Per-page pixel cap (default 40 MP), checked from the header before
        decoding; larger pages are refused as possible decompression bombs.
    max_pages : int
        Most pages accepted in one file (default 2: the form's page and the
        blank back of a duplex scan, which is skipped).

    Returns
    -------
    Scan
        Grey pages at their own resolution, with the stated resolution.

    Raises
    ------
    IntakeError
        When the file is missing, not an image, truncated or corrupt, too large,
        or every page is empty (blank pages of a multi-page file are skipped
        and listed in ``Scan.skipped``). The file is never modified.
    """
    t0 = time.perf_counter()
    p = Path(path)
    try:
        if not p.is_file():
            raise IntakeError(path, "no such file (or not a regular file)")
        data = p.read_bytes()
    except OSError as exc:
        raise IntakeError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    if not data:
        raise IntakeError(path, "the file is empty (0 bytes)")
    fmt = next((name for magic, name in _MAGIC if data.startswith(magic)), None)
    if fmt is None:
        raise IntakeError(path, "not an image: expected PNG, TIFF, JPEG, BMP or PDF")
    digest = hashlib.sha256(data).hexdigest()
    rendered = False
    if fmt == "pdf":
        pages, rendered = _decode_pdf(path, data, max_pixels, max_pages)
    else:
        pages = _decode_raster(path, data, fmt, max_pixels, max_pages)
    del data
    if not pages:
        raise IntakeError(path, "the file holds no page image")
    blank = [p for p in pages if is_blank(p.image)]
    if len(blank) == len(pages):
        where = "the page is" if len(pages) == 1 else f"all {len(pages)} pages are"
        raise IntakeError(path, f"{where} empty (no printed or written ink found)")
    skipped = tuple(f"page {p.index + 1} is blank and was skipped" for p in blank)
    pages = [p for p in pages if not any(p is b for b in blank)]
    return Scan(
        source=str(path),
        format=fmt,
        sha256=digest,
        pages=tuple(pages),
        decode_ms=(time.perf_counter() - t0) * 1000.0,
        rendered=rendered,
        skipped=skipped,
    )
