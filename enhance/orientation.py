"""Ridge orientation and coherence from the gradient structure tensor.

Kass & Witkin (1987), "Analyzing oriented patterns"; Bazen & Gerez (2002),
"Systematic methods for the computation of the directional fields and singular
points of fingerprints" (IEEE PAMI 24(7)).  The tensor components
``Gxx, Gyy, Gxy`` are Gaussian-averaged; the doubled-angle representation makes
opposite gradients reinforce instead of cancel.

Angle convention (whole package): radians in [0, pi), image axes (x to the
right, y down), ``theta = atan2(dy, dx)`` of the ridge *direction*; on screen a
positive angle therefore turns clockwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ._util import fast_gaussian


@dataclass(frozen=True)
class OrientationParams:
    """Parameters of :func:`orientation_field` (500 ppi defaults).

    Attributes
    ----------
    gradient_sigma : float
        Gaussian pre-smoothing in px before the Sobel gradient (suppresses pore
        and scanner noise; 1 px keeps 3 px-wide valleys).
    tensor_sigma : float
        Gaussian averaging of the tensor in px (7 px, about 1.5 ridge periods:
        Bazen & Gerez use a window of that order).
    """

    gradient_sigma: float = 1.0
    tensor_sigma: float = 7.0


@dataclass(frozen=True)
class Tensor:
    """Smoothed structure-tensor components, float32 images."""

    gxx: np.ndarray
    gyy: np.ndarray
    gxy: np.ndarray


def structure_tensor(image: np.ndarray, *, params: OrientationParams = OrientationParams()
                     ) -> Tensor:
    """Gaussian-averaged gradient structure tensor.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Grey or normalised image.
    params : OrientationParams
        Smoothing scales.

    Returns
    -------
    Tensor
        ``gxx = <gx^2>``, ``gyy = <gy^2>``, ``gxy = <gx gy>``.
    """
    img = np.asarray(image, dtype=np.float32)
    if params.gradient_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), params.gradient_sigma)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    s = params.tensor_sigma
    return Tensor(fast_gaussian(gx * gx, s), fast_gaussian(gy * gy, s), fast_gaussian(gx * gy, s))


def tensor_orientation(gxx: np.ndarray, gyy: np.ndarray, gxy: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Ridge orientation and coherence from tensor components.

    Parameters
    ----------
    gxx, gyy, gxy : ndarray
        (Averaged) tensor components, any equal shape.

    Returns
    -------
    theta : ndarray, float32
        Ridge direction in [0, pi): the gradient's dominant direction plus pi/2.
    coherence : ndarray, float32
        ``sqrt((gxx-gyy)^2 + 4 gxy^2) / (gxx + gyy)`` in [0, 1]; 0 where flat.
    """
    d = np.asarray(gxx - gyy, dtype=np.float32)
    g2 = np.asarray(2.0 * gxy, dtype=np.float32)
    # magnitude and doubled angle of (gxx - gyy, 2 gxy) in one SIMD pass
    num, phi2 = cv2.cartToPolar(d, g2)
    den = np.asarray(gxx + gyy, dtype=np.float32)
    coh = num / np.maximum(den, np.float32(1e-9))
    coh[den <= 1e-9] = 0.0
    # phi2 / 2 is the dominant gradient direction; ridges run across it
    theta = phi2 * np.float32(0.5) + np.float32(np.pi / 2)
    theta[theta >= np.pi] -= np.float32(np.pi)
    theta[theta < 0] = 0.0
    return theta, np.clip(coh, 0.0, 1.0)


def orientation_field(image: np.ndarray, *, params: OrientationParams = OrientationParams()
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ridge orientation and coherence (Bazen & Gerez 2002).

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Grey or normalised image (polarity does not matter).
    params : OrientationParams
        Smoothing scales.

    Returns
    -------
    theta : ndarray, float32, shape (H, W)
        Ridge direction in radians, [0, pi), image axes (y down).
    coherence : ndarray, float32, shape (H, W)
        In [0, 1]: 1 for a perfect parallel-line pattern, 0 for isotropic noise.
    """
    t = structure_tensor(image, params=params)
    return tensor_orientation(t.gxx, t.gyy, t.gxy)
