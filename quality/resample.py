"""Resampling to 500 ppi the way NFIQ 2.3 does it (NIST NFIR).

NFIQ 2 only scores 500 ppi images; ``nfiq2 -F`` resamples other resolutions
with NIST's NFIR library, ``NFIR::resample(src, dst, ppi, 500, "", "")``.  For
a downsample with default settings NFIR (``usnistgov/NFIR``,
``src/lib/nfir_lib.cpp``, ``resample_down.cpp``, ``filter_mask_*.cpp``):

1. pads the image on the right/bottom with white (255) to an even
   ``cv::getOptimalDFTSize``;
2. takes the float32 DFT, divides by the pixel count, multiplies by a
   low-pass mask centred on DC: the default "ideal" elliptical mask whose
   cut-off is ``target/source`` of the half-size (the "gaussian" mask, a
   normalised ``getGaussianKernel`` product with sigma ``target/source *
   size/2``, is available as an option);
3. inverse DFT, real part to uint8 (rounded, saturated), crop the padding;
4. ``cv::resize`` by ``target/source`` (float32 factor) with the default
   interpolation: bilinear for the default filter (NFIR's table: 600 ppi ->
   ideal + bicubic, 1000 ppi -> ideal + bilinear, 1200 ppi -> gaussian +
   bilinear, anything else -> ideal + bilinear).

Upsampling (source below 500 ppi) is a plain ``cv::resize`` (bicubic), as in
NFIR's ``Upsample``.  Units: pixels per inch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ifb1.quality.blocks import as_gray_u8

TARGET_PPI = 500


@dataclass(frozen=True)
class ResampleParams:
    """Options of :func:`resample_to_500`.

    Attributes
    ----------
    filter_shape : str or None
        ``"ideal"`` or ``"gaussian"``; None picks NFIR's default for the
        source resolution.
    interpolation : str or None
        ``"bilinear"`` or ``"bicubic"``; None picks NFIR's default.
    """

    filter_shape: str | None = None
    interpolation: str | None = None


def _nfir_defaults(ppi: int) -> tuple[str, str]:
    return {600: ("ideal", "bicubic"), 1000: ("ideal", "bilinear"), 1200: ("gaussian", "bilinear")}.get(
        ppi, ("ideal", "bilinear")
    )


def _ideal_mask(rows: int, cols: int, factor: float) -> np.ndarray:
    m, n = cols, rows
    jj = np.arange(m, dtype=np.float32)
    jj = np.where(np.arange(m) <= m // 2, jj, jj - m).astype(np.float32)
    ii = np.arange(n, dtype=np.float32)
    ii = np.where(np.arange(n) <= n // 2, ii, ii - n).astype(np.float32)
    a = np.float32(m / (2.0 * factor))
    b = np.float32(n / (2.0 * factor))
    mag = np.sqrt((b * jj[None, :]) ** 2 + (a * ii[:, None]) ** 2).astype(np.float32)
    disc = int(min(float(mag[0].max()), float(mag[:, 0].max())) * factor)
    return (mag < disc).astype(np.float32)


def _gaussian_mask(rows: int, cols: int, factor: float) -> np.ndarray:
    import cv2

    kx = cv2.getGaussianKernel(rows, factor * rows / 2.0, cv2.CV_32F)
    ky = cv2.getGaussianKernel(cols, factor * cols / 2.0, cv2.CV_32F)
    k = kx @ ky.T
    k = cv2.normalize(k, None, 0, 1, cv2.NORM_MINMAX)
    return np.fft.fftshift(k) if rows % 2 == 0 and cols % 2 == 0 else np.roll(k, (-(rows // 2), -(cols // 2)), (0, 1))


def resample_to_500(image: np.ndarray, ppi: int, *, params: ResampleParams = ResampleParams()) -> np.ndarray:
    """Resample a grey image from ``ppi`` to 500 ppi like NFIQ 2 (NFIR).

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 image.
    ppi : int
        Its resolution in pixels per inch (> 0).
    params : ResampleParams
        Filter and interpolation overrides.

    Returns
    -------
    np.ndarray
        uint8 image at 500 ppi (the input itself when ``ppi == 500``).

    Raises
    ------
    ValueError
        On a non-positive resolution or an empty image.
    """
    import cv2

    img = as_gray_u8(image)
    if ppi <= 0:
        raise ValueError(f"resolution must be positive, got {ppi} ppi")
    if img.size == 0:
        raise ValueError("cannot resample an empty image")
    if ppi == TARGET_PPI:
        return img
    factor = float(np.float32(TARGET_PPI) / np.float32(ppi))
    dshape, dinterp = _nfir_defaults(ppi)
    shape = params.filter_shape or dshape
    interp = params.interpolation or dinterp
    flag = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}.get(interp)
    if flag is None or shape not in ("ideal", "gaussian"):
        raise ValueError(f"unknown resampling option: filter={shape!r} interpolation={interp!r}")
    if ppi < TARGET_PPI:
        return cv2.resize(img, (0, 0), fx=factor, fy=factor, interpolation=flag)
    rows = cv2.getOptimalDFTSize(img.shape[0])
    rows += rows % 2
    cols = cv2.getOptimalDFTSize(img.shape[1])
    cols += cols % 2
    padded = cv2.copyMakeBorder(img, 0, rows - img.shape[0], 0, cols - img.shape[1], cv2.BORDER_CONSTANT, value=255)
    cplx = cv2.merge([padded.astype(np.float32), np.zeros(padded.shape, np.float32)])
    spec = cv2.dft(cplx, flags=cv2.DFT_COMPLEX_OUTPUT)
    # cv::multiply by a single float replicates it over both channels
    spec = spec * (np.float32(1.0) / np.float32(padded.size))
    mask = _ideal_mask(rows, cols, factor) if shape == "ideal" else _gaussian_mask(rows, cols, factor)
    kern = cv2.merge([mask, mask])
    filt = cv2.mulSpectrums(spec, kern, cv2.DFT_ROWS)
    inv = cv2.dft(filt, flags=cv2.DFT_INVERSE)
    real = cv2.split(inv)[0]
    out = real.astype(np.float32)
    out8 = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    cropped = out8[: img.shape[0], : img.shape[1]]
    return cv2.resize(cropped, (0, 0), fx=factor, fy=factor, interpolation=flag)
