"""Read fingerprint image files as 8-bit grey at 500 ppi.

Formats: anything Pillow opens (PNG, TIFF, JPEG, BMP, ...) and WSQ through the
``wsq`` package (NBIS codec; it also registers a Pillow plugin, but the plugin
does not report the resolution, so WSQ is decoded with its ``_wsq`` codec
directly, which returns the ppi from the file).

Resolution: ``ppi`` given by the caller wins; otherwise the file's own (PNG
pHYs, TIFF/JPEG/BMP resolution, WSQ header). Values outside
``PPI_PLAUSIBLE`` (250..2000) are not believed: 72 or 96 "dpi" is what
software writes when it knows nothing, and a fingerprint at 72 ppi would be
unreadable anyway. Then 500 ppi is assumed and :attr:`FingerprintImage.ppi_source`
says so. Images not at 500 ppi are resampled (:func:`ifb1.quality.resample.resample_to_500`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Resolutions believed when read from a file (ppi).
PPI_PLAUSIBLE = (250.0, 2000.0)
#: Resolution assumed when neither the caller nor the file gives a plausible one.
DEFAULT_PPI = 500.0

_WSQ_MAGIC = b"\xff\xa0"


class ImageReadError(ValueError):
    """A fingerprint image file could not be read; the message names the file."""


@dataclass(frozen=True)
class FingerprintImage:
    """A fingerprint image ready for the NFIQ 2 measures.

    Attributes
    ----------
    source : str
        The path as given.
    image : np.ndarray
        uint8 ``(H, W)`` grey at 500 ppi.
    ppi : float
        Resolution of the file as used (before resampling).
    ppi_source : str
        ``"option"`` (caller), ``"file"`` (metadata) or ``"assumed"`` (none plausible; 500).
    resampled_from : float or None
        The source ppi when the image was resampled to 500 ppi, else None.
    file_ppi : float or None
        The resolution recorded in the file, if any (even when not believed).
    quantized : bool
        Whether the file was not 8-bit grey and was converted to it (colour, palette,
        bilevel, 16-bit or float samples); NFIQ 2's ``nfiq2`` tool reports the same
        as its ``Quantized`` column.
    """

    source: str
    image: np.ndarray
    ppi: float
    ppi_source: str
    resampled_from: float | None
    file_ppi: float | None
    quantized: bool = False


def _to_u8(arr: np.ndarray) -> np.ndarray:
    """8-bit grey from the deeper or float arrays some TIFFs hold."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return np.where(arr, 255, 0).astype(np.uint8)
    if arr.dtype.kind == "f":
        scale = 255.0 if float(np.nanmax(arr, initial=0.0)) <= 1.0 else 1.0
        return np.clip(np.rint(np.nan_to_num(arr) * scale), 0, 255).astype(np.uint8)
    if arr.dtype == np.uint16 or int(arr.max(initial=0)) > 255:
        return np.clip(arr.astype(np.int64) >> 8, 0, 255).astype(np.uint8)
    return np.clip(arr, 0, 255).astype(np.uint8)


def _read_wsq(data: bytes, name: str) -> tuple[np.ndarray, float | None]:
    try:
        import _wsq  # C codec shipped with the `wsq` package
    except ImportError as exc:  # pragma: no cover - runtime dependency
        raise ImageReadError(f"{name}: WSQ file but the 'wsq' package is not installed") from exc
    try:
        buf, w, h, ppi = _wsq.decompress(data)
    except Exception as exc:
        raise ImageReadError(f"{name}: corrupt WSQ data ({exc})") from exc
    if w <= 0 or h <= 0 or len(buf) != w * h:
        raise ImageReadError(f"{name}: corrupt WSQ data (size {w}x{h}, {len(buf)} bytes)")
    img = np.frombuffer(buf, dtype=np.uint8).reshape(h, w).copy()
    return img, (float(ppi) if ppi and ppi > 0 else None)


def _read_pillow(data: bytes, name: str) -> tuple[np.ndarray, float | None, bool]:
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            dpi = im.info.get("dpi")
            quantized = im.mode != "L"
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                arr = _to_u8(np.asarray(im))
            else:
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    # Transparent pixels are paper, not ink.
                    rgba = im.convert("RGBA")
                    bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    im = Image.alpha_composite(bg, rgba)
                arr = np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"{name}: not a readable image ({exc})") from exc
    ppi = None
    if dpi:
        try:
            x, y = float(dpi[0]), float(dpi[1])
        except (TypeError, ValueError, IndexError):
            x = y = 0.0
        if x > 0 and y > 0:
            if abs(x - y) > 0.01 * max(x, y):
                raise ImageReadError(f"{name}: different horizontal and vertical resolutions ({x:g} x {y:g} ppi)")
            ppi = x
    return arr, ppi, quantized


def read_image_bytes(path: str | Path, *, name: str | None = None) -> bytes:
    """The bytes of an image file, with :func:`read_fingerprint`'s errors.

    Parameters
    ----------
    path : str or Path
        The file.
    name : str, optional
        How the messages name it (default: ``path`` as given).

    Raises
    ------
    ImageReadError
        If the file is missing, a directory or unreadable (the message names the file).
    """
    name = str(path) if name is None else name
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ImageReadError(f"{name}: no such file") from exc
    except IsADirectoryError as exc:
        raise ImageReadError(f"{name}: is a directory, not an image") from exc
    except OSError as exc:
        raise ImageReadError(f"{name}: cannot read ({exc.strerror or exc})") from exc


def read_fingerprint(path: str | Path, *, ppi: float | None = None) -> FingerprintImage:
    """Read a fingerprint image file as uint8 grey at 500 ppi.

    Parameters
    ----------
    path : str or Path
        Image file (PNG, TIFF, JPEG, BMP, WSQ, ...).
    ppi : float, optional
        Resolution of the file, overriding its metadata.

    Returns
    -------
    FingerprintImage

    Raises
    ------
    ImageReadError
        If the file is missing, unreadable, empty or corrupt (the message names the file).
    """
    name = str(path)
    if ppi is not None and not ppi > 0:
        raise ImageReadError(f"{name}: ppi must be positive, got {ppi}")
    return decode_fingerprint(read_image_bytes(path, name=name), name=name, ppi=ppi)


def decode_fingerprint(data: bytes, *, name: str, ppi: float | None = None) -> FingerprintImage:
    """:func:`read_fingerprint` on the bytes of a file already read (or sent by another machine).

    Parameters
    ----------
    data : bytes
        The file's content.
    name : str
        The file's name, for :attr:`FingerprintImage.source` and the messages.
    ppi : float, optional
        Resolution of the file, overriding its metadata.

    Returns
    -------
    FingerprintImage

    Raises
    ------
    ImageReadError
        If the bytes are not a readable, non-empty image (the message names the file).
    """
    from ifb1.quality.resample import TARGET_PPI, resample_to_500

    if ppi is not None and not ppi > 0:
        raise ImageReadError(f"{name}: ppi must be positive, got {ppi}")
    if data[:2] == _WSQ_MAGIC:
        img, file_ppi = _read_wsq(data, name)
        quantized = False  # WSQ is 8-bit grey by definition
    else:
        img, file_ppi, quantized = _read_pillow(data, name)
    if img.ndim != 2 or img.size == 0:
        raise ImageReadError(f"{name}: empty image")

    if ppi is not None:
        used, how = float(ppi), "option"
    elif file_ppi is not None and PPI_PLAUSIBLE[0] <= file_ppi <= PPI_PLAUSIBLE[1]:
        used, how = float(file_ppi), "file"
    else:
        used, how = DEFAULT_PPI, "assumed"
    # Resolutions are whole ppi (NFIR takes an int); within 1 ppi of 500 is 500
    # (a PNG stores px/m, so 500 ppi reads back as 499.999).
    src = int(round(used))
    if abs(used - TARGET_PPI) <= 1.0 or src == TARGET_PPI:
        out, resampled = img, None
    else:
        try:
            out = resample_to_500(img, src)
        except ValueError as exc:
            raise ImageReadError(f"{name}: cannot resample from {used:g} ppi ({exc})") from exc
        resampled = used
    if min(out.shape) < 1:
        raise ImageReadError(f"{name}: image too small after resampling to {TARGET_PPI} ppi")
    return FingerprintImage(name, np.ascontiguousarray(out), used, how, resampled, file_ppi, quantized)
