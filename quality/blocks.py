"""Shared block machinery for the NFIQ 2 native quality measures.

Everything here reproduces helper functions of NIST's NFIQ 2.3 reference
implementation (``usnistgov/NFIQ2``, ``NFIQ2Algorithm/src/features/FeatureFunctions.cpp``
and ``src/nfiq2/nfiq2_fingerprintimagedata.cpp``), re-written block-wise in numpy:

* :func:`remove_near_white_frame` -- NFIQ 2 first crops consecutive rows/columns
  whose mean grey value is > 250 from each edge (keeping one such row/column).
* :func:`segmentation_tile_mask` -- ``ridgesegment``: the image is normalised to
  zero mean / unit standard deviation and a ``blksze`` x ``blksze`` tile (tiled
  from the top-left, partial tiles at the right/bottom) is foreground when its
  standard deviation exceeds ``thresh`` (0.1).
* :func:`offset_block_grid` -- the "slanted block" grid of FDA, LCS, OF and RVUP:
  blocks of ``blk`` pixels starting at ``blkoffset`` (2 px), each with a window
  of ``blk + 2*blkoffset`` pixels around it, and the ``allfun`` foreground test.
* :func:`block_covariance`, :func:`ridge_orientation` -- ``covcoef`` (centred
  differences inside the block, evaluated exactly on integers) and
  ``ridgeorient``: angle of the line perpendicular to the ridges.
* :func:`rotated_samples` -- ``getRotatedBlock`` + crop: OpenCV
  ``getRotationMatrix2D`` / ``warpAffine(INTER_NEAREST)`` reproduced in the
  fixed-point arithmetic OpenCV uses, evaluated only at the cropped pixels.
* :func:`histogram_features` -- ``addHistogramFeatures``: 10 bins with NFIQ 2's
  bin boundaries (value ``v`` falls in the first bin whose upper bound is > v),
  plus mean and population standard deviation (``cv::meanStdDev``).

All functions take a ``uint8`` 2-D image at 500 ppi and are free of hidden state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Row/column mean above which NFIQ 2 treats an edge row/column as white frame.
NEAR_WHITE_MU = 250.0


def as_gray_u8(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Validate and return ``image`` as a contiguous 2-D ``uint8`` array.

    Parameters
    ----------
    image : np.ndarray
        Grey image (2-D, uint8).
    name : str
        Name used in error messages.

    Returns
    -------
    np.ndarray
        The same pixels, C-contiguous.

    Raises
    ------
    ValueError
        If the image is not 2-D or not ``uint8``.
    """
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D grey image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 pixels, got {arr.dtype}")
    return np.ascontiguousarray(arr)


def remove_near_white_frame(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Crop the near-white frame as NFIQ 2.3 does before computing any measure.

    From each edge, the consecutive rows (columns) whose mean grey value is
    > 250 are removed (``FingerprintImageData::copyRemovingNearWhiteFrame``).
    Column means are taken over the full height of the uncropped image.  An
    image with no row (column) <= 250 is left uncropped in that direction.

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 image.

    Returns
    -------
    cropped : np.ndarray
        View of the cropped image.
    origin : tuple of int
        ``(top, left)`` of the crop in the input image.
    """
    img = as_gray_u8(image)
    h, w = img.shape
    if h == 0 or w == 0:
        return img, (0, 0)
    row_mu = img.sum(axis=1, dtype=np.int64) / w
    col_mu = img.sum(axis=0, dtype=np.int64) / h

    def _bounds(mu: np.ndarray, n: int) -> tuple[int, int]:
        dark = np.flatnonzero(mu <= NEAR_WHITE_MU)
        if dark.size == 0:
            return 0, n - 1
        return int(dark[0]), int(dark[-1])

    top, bottom = _bounds(row_mu, h)
    left, right = _bounds(col_mu, w)
    return img[top : bottom + 1, left : right + 1], (top, left)


def tile_starts(n: int, size: int) -> np.ndarray:
    """Start indices of tiles of ``size`` covering ``0..n`` (last one partial)."""
    return np.arange(0, n, size)


def tile_sums(values: np.ndarray, size: int) -> np.ndarray:
    """Sum ``values`` over ``size`` x ``size`` tiles from the top-left corner.

    Partial tiles at the right/bottom edges are included.  Integer and bool
    values give exact int64 sums.
    """
    v = np.asarray(values)
    if v.dtype == bool:
        v = v.view(np.uint8)
    if np.issubdtype(v.dtype, np.integer):
        return _tile_total(v, size)
    rs = tile_starts(v.shape[0], size)
    cs = tile_starts(v.shape[1], size)
    return np.add.reduceat(np.add.reduceat(v, rs, axis=0), cs, axis=1)


def tile_moments(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact per-tile pixel count, sum and sum of squares of a uint8 image.

    Tiles of ``size`` from the top-left corner, partial tiles included.  The
    sums are exact integers returned as float64 (all below 2**53).
    """
    img = as_gray_u8(image)
    sums, sqs = _strip_sums(img, size, moments=True, gradients=False)[:2]
    return _tile_counts(img.shape, size), sums.astype(np.float64), sqs.astype(np.float64)


def _tile_counts(shape: tuple[int, int], size: int) -> np.ndarray:
    h, w = shape
    ys = np.append(tile_starts(h, size), h)
    xs = np.append(tile_starts(w, size), w)
    return (np.diff(ys)[:, None] * np.diff(xs)[None, :]).astype(np.float64)


#: Pixels per strip in :func:`_strip_sums`: small temporaries stay in cache and
#: are reused by the allocator (whole-image temporaries cost page faults on
#: every call, which dominated the run time on the benchmark machine).
_STRIP_PIXELS = 1 << 16


def _strip_sums(img: np.ndarray, size: int, *, moments: bool, gradients: bool) -> list[np.ndarray]:
    """Exact int64 per-tile sums, computed over strips of whole tile rows.

    Returns ``[sum, sum of squares]`` when ``moments`` then ``[gxx, gyy, gxy]``
    when ``gradients`` (see :func:`gradient_tile_sums`).  Tiles never straddle
    a strip, so the in-tile gradients are unaffected by the strips.
    """
    h, w = img.shape
    nr, nc = -(-h // size), -(-w // size)
    nout = 2 * moments + 3 * gradients
    out = [np.zeros((nr, nc), np.int64) for _ in range(nout)]
    if nr == 0 or nc == 0:
        return out
    step = size * max(1, _STRIP_PIXELS // (size * max(w, 1)))
    for y0 in range(0, h, step):
        y1 = min(h, y0 + step)
        t0, t1 = y0 // size, -(-y1 // size)
        strip = img[y0:y1]
        v = strip.astype(np.float32)
        res = []
        if moments:
            res.append(_tile_total(strip, size))
            res.append(_tile_total_f32(np.multiply(v, v), size))
        if gradients:
            dx = tile_difference(v, size, 1)
            dy = tile_difference(v, size, 0)
            res.append(_tile_total_f32(np.multiply(dx, dx), size))
            res.append(_tile_total_f32(np.multiply(dy, dy), size))
            res.append(_tile_total_f32(np.multiply(dx, dy, out=dx), size))
        for o, r in zip(out, res):
            o[t0:t1] = r
    return out


def _padded(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` zero-padded at the bottom/right to a multiple of ``size`` (C-contiguous)."""
    h, w = values.shape
    ph, pw = -h % size, -w % size
    if not ph and not pw:
        return np.ascontiguousarray(values)
    out = np.zeros((h + ph, w + pw), dtype=values.dtype)
    out[:h, :w] = values
    return out


def _tile_total(values: np.ndarray, size: int) -> np.ndarray:
    """Exact int64 sums of integer ``values`` over ``size`` tiles from the top-left, partial tiles included."""
    import cv2

    p = _padded(values, size)
    nr, nc = p.shape[0] // size, p.shape[1] // size
    if nr == 0 or nc == 0:
        return np.zeros((nr, nc), np.int64)
    if p.dtype == np.uint8 and size <= 2**23:
        # row segments (contiguous) by OpenCV, then the rows of each tile
        rows = cv2.reduce(p.reshape(-1, size), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)
    else:
        rows = p.reshape(-1, size).sum(axis=1, dtype=np.int64)
    return rows.reshape(nr, size, nc).sum(axis=1, dtype=np.int64)


def _tile_total_f32(values: np.ndarray, size: int) -> np.ndarray:
    """Exact int64 tile sums of float32 ``values`` that are integers below 2**24 in magnitude.

    float32 holds such integers exactly; the sums are taken in float64
    (exact below 2**53).
    """
    import cv2

    p = _padded(values, size)
    nr, nc = p.shape[0] // size, p.shape[1] // size
    if nr == 0 or nc == 0:
        return np.zeros((nr, nc), np.int64)
    rows = cv2.reduce(p.reshape(-1, size), 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F)
    return rows.reshape(nr, size, nc).sum(axis=1).astype(np.int64)


def tile_difference(image: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Twice the centred-difference gradient inside each tile, for all tiles at once.

    Equivalent to :func:`doubled_gradient` applied to every ``size`` x ``size``
    tile (from the top-left corner, partial tiles included): interior pixels
    take ``v[i+1] - v[i-1]`` of the whole image, the first/last pixel of each
    tile the doubled one-sided difference inside the tile, and a tile one
    pixel wide along ``axis`` gives 0.  Returned as float32 holding the exact
    integers (|d| <= 510).

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 image (or its float32 copy).
    size : int
        Tile side.
    axis : int
        1 for the x (column) direction, 0 for y.
    """
    v = np.ascontiguousarray(image, dtype=np.float32)
    d = np.empty(v.shape, np.float32)
    n = v.shape[axis]
    # views with the tiles along their own axis: (k, size, w) for y, (h, k, size) for x
    if axis == 0:
        if n >= 3:
            np.subtract(v[2:], v[:-2], out=d[1:-1])

        def tiles(a, t0, t1, width):
            return a[t0:t1].reshape(-1, width, a.shape[1]).transpose(0, 2, 1)
    else:
        if n >= 3:
            np.subtract(v[:, 2:], v[:, :-2], out=d[:, 1:-1])

        def tiles(a, t0, t1, width):
            return a[:, t0:t1].reshape(a.shape[0], -1, width)

    full = (n // size) * size
    for t0, t1 in ((0, full), (full, n)):
        # the complete tiles at once, then the partial one
        if t1 <= t0:
            continue
        width = min(size, t1 - t0)
        vv, dd = tiles(v, t0, t1, width), tiles(d, t0, t1, width)
        if not np.may_share_memory(dd, d):  # reshape must give a view to write through
            raise AssertionError("tile view is a copy")
        if width == 1:
            dd[...] = 0
            continue
        np.subtract(vv[..., 1], vv[..., 0], out=dd[..., 0])
        dd[..., 0] *= 2
        np.subtract(vv[..., -1], vv[..., -2], out=dd[..., -1])
        dd[..., -1] *= 2
    return d


def gradient_tile_sums(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact per-tile sums of ``dx*dx``, ``dy*dy`` and ``dx*dy`` (int64).

    ``dx``, ``dy`` are :func:`tile_difference` (doubled centred differences
    inside each ``size`` tile from the top-left corner, partial tiles
    included), so for a stack of full tiles ``sums / (4 * size * size)`` are
    NFIQ 2's ``covcoef`` values (see :func:`block_covariance`).  The products
    (<= 510**2) are exact in float32.
    """
    gxx, gyy, gxy = _strip_sums(as_gray_u8(image), size, moments=False, gradients=True)
    return gxx, gyy, gxy


@dataclass(frozen=True)
class TileStats:
    """Exact statistics of the ``size`` x ``size`` tiles from the top-left corner.

    The same 32 x 32 tiling (partial tiles at the right/bottom included) is
    used by NFIQ 2's contrast (``MMB``), ``ridgesegment``, OCL (full tiles
    only) and the ROI coherence; :func:`ifb1.quality.features.analyse_native`
    computes it once with :func:`tile_stats` and passes it to each.

    Attributes
    ----------
    size : int
        Tile side in pixels.
    shape : tuple of int
        Shape of the image.
    count, sums, sqsums : np.ndarray
        float64 per tile: pixel count, sum and sum of squares of the grey values.
    gxx, gyy, gxy : np.ndarray
        int64 per tile: sums of ``dx*dx``, ``dy*dy``, ``dx*dy`` of the doubled
        centred differences inside the tile (:func:`gradient_tile_sums`).
    """

    size: int
    shape: tuple[int, int]
    count: np.ndarray
    sums: np.ndarray
    sqsums: np.ndarray
    gxx: np.ndarray
    gyy: np.ndarray
    gxy: np.ndarray

    @property
    def full(self) -> tuple[int, int]:
        """Numbers of complete tile rows and columns."""
        return self.shape[0] // self.size, self.shape[1] // self.size

    def matches(self, image: np.ndarray, size: int) -> bool:
        """True when these statistics describe an image of ``image``'s shape tiled by ``size``."""
        return self.size == size and self.shape == tuple(image.shape)


def tile_stats(image: np.ndarray, size: int = 32) -> TileStats:
    """Compute :class:`TileStats` of a 2-D uint8 image (one pass per statistic).

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 image.
    size : int
        Tile side (32 for every NFIQ 2.3 measure that uses this tiling).

    Returns
    -------
    TileStats
    """
    img = as_gray_u8(image)
    sums, sqs, gxx, gyy, gxy = _strip_sums(img, size, moments=True, gradients=True)
    cnt = _tile_counts(img.shape, size)
    sums, sqs = sums.astype(np.float64), sqs.astype(np.float64)
    return TileStats(int(size), (int(img.shape[0]), int(img.shape[1])), cnt, sums, sqs, gxx, gyy, gxy)


def segmentation_tile_mask(image: np.ndarray, *, blksze: int, thresh: float = 0.1,
                           tiles: TileStats | None = None) -> np.ndarray:
    """NFIQ 2 ``ridgesegment`` foreground mask, one value per tile.

    The image is normalised to zero mean and unit (population) standard
    deviation; a tile is foreground when the standard deviation of its
    normalised pixels is > ``thresh``.  Equivalently ``std(tile) > thresh *
    std(image)``, evaluated here from exact integer moments.

    Parameters
    ----------
    image : np.ndarray
        2-D uint8 image.
    blksze : int
        Tile size in pixels (32 in NFIQ 2.3).
    thresh : float
        Standard-deviation threshold relative to the image's (0.1 in NFIQ 2).
    tiles : TileStats, optional
        Precomputed statistics of ``image`` with ``size == blksze``.

    Returns
    -------
    np.ndarray
        Boolean array of shape ``(ceil(h/blksze), ceil(w/blksze))``; all False
        for a uniform image (NFIQ 2 divides by a zero deviation there).
    """
    if tiles is not None and tiles.matches(image, blksze):
        cnt, sums, sqs = tiles.count, tiles.sums, tiles.sqsums
    else:
        cnt, sums, sqs = tile_moments(image, blksze)
    n = float(image.size)
    s = float(sums.sum())
    ss = float(sqs.sum())
    gvar = (n * ss - s * s) / (n * n)
    gstd = math.sqrt(gvar) if gvar > 0 else 0.0
    tvar = (cnt * sqs - sums * sums) / (cnt * cnt)
    tstd = np.sqrt(np.maximum(tvar, 0.0))
    if gstd == 0.0:
        return np.zeros(tstd.shape, dtype=bool)
    return tstd / gstd > thresh


class OffsetGrid:
    """The overlapping-window block grid of NFIQ 2's FDA, LCS, OF and RVUP.

    Blocks of ``blk`` pixels start at ``off + k*blk``; around each block a window
    of ``blk + 2*off`` pixels is used for the rotated sampling.  ``off`` is
    ``ceil((ceil(hypot(v1x, v1y)) - blk) / 2)`` (2 px for all NFIQ 2 settings).

    Attributes
    ----------
    blk, off : int
        Block size and window border.
    nr, nc : int
        Number of block rows/columns processed by NFIQ 2's loops.
    """

    def __init__(self, shape: tuple[int, int], *, blk: int, v1x: int = 32, v1y: int = 16):
        eblk = math.ceil(math.sqrt(v1x * v1x + v1y * v1y))
        diff = eblk - blk
        self.blk = blk
        self.off = int(math.ceil(diff / 2))
        rows, cols = shape
        # NFIQ 2 loop: r = off; r < rows - (blk + off - 1); r += blk
        lim_r = rows - (blk + self.off - 1) - self.off
        lim_c = cols - (blk + self.off - 1) - self.off
        self.nr = max(0, -(-lim_r // blk)) if lim_r > 0 else 0
        self.nc = max(0, -(-lim_c // blk)) if lim_c > 0 else 0

    @property
    def count(self) -> int:
        """Number of blocks."""
        return self.nr * self.nc

    def blocks(self, image: np.ndarray) -> np.ndarray:
        """``(nr, nc, blk, blk)`` view of the blocks (no copy)."""
        o, b = self.off, self.blk
        sub = image[o : o + self.nr * b, o : o + self.nc * b]
        return sub.reshape(self.nr, b, self.nc, b).transpose(0, 2, 1, 3)

    def windows(self, image: np.ndarray, *, extra: int = 0) -> np.ndarray:
        """``(nr, nc, S, S)`` strided view of the windows, ``S = blk + 2*(off + extra)``.

        ``extra`` > 0 reproduces NFIQ 2's ``padFlag``: ``cv::copyMakeBorder``
        on a window that is a view into the image takes the real neighbouring
        pixels (OpenCV extends a ROI into its parent image unless
        ``BORDER_ISOLATED`` is given); only outside the image is it 0.
        """
        b, w = self.blk, self.blk + 2 * (self.off + extra)
        src = np.pad(image, extra) if extra else image
        win = np.lib.stride_tricks.sliding_window_view(src, (w, w))
        return win[: self.nr * b : b, : self.nc * b : b][: self.nr, : self.nc]

    def foreground(self, image: np.ndarray, *, thresh: float = 0.1, tiles: TileStats | None = None) -> np.ndarray:
        """NFIQ 2 ``allfun`` of the ``ridgesegment`` mask over each block.

        A block is foreground when every mask pixel inside it is set.  The
        segmentation uses tiles of ``blk`` from the image corner, so each block
        (shifted by ``off``) overlaps a 2 x 2 group of tiles.  ``tiles``:
        precomputed :class:`TileStats` of ``image`` with ``size == blk``.
        """
        tiles = segmentation_tile_mask(image, blksze=self.blk, thresh=thresh, tiles=tiles)
        if self.count == 0:
            return np.zeros((self.nr, self.nc), dtype=bool)
        o, b = self.off, self.blk
        r0 = (o + np.arange(self.nr) * b) // b
        r1 = (o + np.arange(self.nr) * b + b - 1) // b
        c0 = (o + np.arange(self.nc) * b) // b
        c1 = (o + np.arange(self.nc) * b + b - 1) // b
        return (
            tiles[np.ix_(r0, c0)] & tiles[np.ix_(r1, c0)] & tiles[np.ix_(r0, c1)] & tiles[np.ix_(r1, c1)]
        )


def doubled_gradient(v: np.ndarray, axis: int) -> np.ndarray:
    """Twice the centred-difference gradient along ``axis`` (int32, exact).

    NFIQ 2 ``diffGrad`` / ``computeNumericalGradients`` (MATLAB ``gradient``)
    inside each block, times 2 so that it stays an integer.

    Interior: ``v[i+1] - v[i-1]``; edges: ``2 (v[1] - v[0])`` and
    ``2 (v[-1] - v[-2])``, i.e. ``2 *`` MATLAB ``gradient``.
    """
    v = np.moveaxis(v, axis, -1).astype(np.int32)
    d = np.empty_like(v)
    if v.shape[-1] < 2:
        d[...] = 0
    else:
        d[..., 1:-1] = v[..., 2:] - v[..., :-2]
        d[..., 0] = 2 * (v[..., 1] - v[..., 0])
        d[..., -1] = 2 * (v[..., -1] - v[..., -2])
    return np.moveaxis(d, -1, axis)


def block_covariance(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean gradient covariance ``a = <gx^2>, b = <gy^2>, c = <gx gy>`` per block.

    Gradients are centred differences inside each block (NFIQ 2 ``covcoef``
    with ``CENTERED_DIFFERENCES``, ``computeNumericalGradients``).  The sums are
    taken on exact integers (twice the gradients), so the results are the
    exact values NFIQ 2's double arithmetic produces.

    Parameters
    ----------
    blocks : np.ndarray
        ``(..., h, w)`` uint8 blocks.

    Returns
    -------
    a, b, c : np.ndarray
        float64 arrays of shape ``blocks.shape[:-2]``.
    """
    dx = doubled_gradient(blocks, -1)
    dy = doubled_gradient(blocks, -2)
    n = 4.0 * blocks.shape[-1] * blocks.shape[-2]
    a = np.einsum("...ij,...ij->...", dx, dx, dtype=np.int64) / n
    b = np.einsum("...ij,...ij->...", dy, dy, dtype=np.int64) / n
    c = np.einsum("...ij,...ij->...", dx, dy, dtype=np.int64) / n
    return a, b, c


def ridge_orientation(blocks: np.ndarray) -> np.ndarray:
    """NFIQ 2 ``covcoef`` (centred differences) + ``ridgeorient`` per block.

    Parameters
    ----------
    blocks : np.ndarray
        ``(..., b, b)`` uint8 blocks.

    Returns
    -------
    np.ndarray
        Angle in radians, ``atan2(c, a - b) / 2`` with NFIQ 2's regularised
        denominator (note: ``c``, not ``2c``, as in NFIQ 2), of the line
        perpendicular to the ridge flow.
    """
    a, b, c = block_covariance(blocks)
    return _orientation(a, b, c)


def _orientation(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    temp = a - b
    denom = (c * c + temp * temp) + np.finfo(np.float64).eps
    return np.arctan2(c / denom, temp / denom) / 2.0


def grid_orientation(image: np.ndarray, grid: OffsetGrid) -> np.ndarray:
    """:func:`ridge_orientation` of every block of ``grid`` (``(nr, nc)`` radians).

    Computed from whole-image differences (:func:`gradient_tile_sums` on the
    region the blocks cover) instead of per-block copies; identical values.
    """
    img = as_gray_u8(image)
    if grid.count == 0:
        return np.zeros((grid.nr, grid.nc))
    o, b = grid.off, grid.blk
    gxx, gyy, gxy = gradient_tile_sums(img[o : o + grid.nr * b, o : o + grid.nc * b], b)
    n = 4.0 * b * b
    return _orientation(gxx / n, gyy / n, gxy / n)


_AB_BITS = 10
_AB_SCALE = 1 << _AB_BITS


def rotated_samples(
    windows: np.ndarray,
    angles: np.ndarray,
    *,
    rows: tuple[int, int],
    cols: tuple[int, int],
) -> np.ndarray:
    """Sample rotated windows like NFIQ 2's ``getRotatedBlock`` + crop.

    ``getRotatedBlock`` builds ``cv::getRotationMatrix2D(center=(S/2, S/2),
    angle, 1)`` for its (possibly padded) ``S`` x ``S`` source and warps it with
    ``cv::warpAffine(..., INTER_NEAREST)`` into an image the size of the
    unpadded window; the caller then crops ``rows`` x ``cols`` of that image.
    This function evaluates only the cropped pixels, reproducing OpenCV 4's
    inverse-map fixed-point arithmetic (``AB_BITS = 10``, round-half-even) so
    that the nearest-neighbour choices match; pixels mapped outside the source
    are 0.

    Parameters
    ----------
    windows : np.ndarray
        ``(n, S, S)`` uint8 source windows (including NFIQ 2's padding, see
        :meth:`OffsetGrid.windows`).
    angles : np.ndarray
        ``(n,)`` rotation angles in radians (counter-clockwise, OpenCV sense).
    rows, cols : tuple of int
        Half-open crop ranges in the rotated (unpadded-size) image.

    Returns
    -------
    np.ndarray
        ``(n, rows, cols)`` uint8 samples.
    """
    src = windows
    n, ssize = src.shape[0], src.shape[1]
    centre = float(np.float32(ssize) / np.float32(2.0))
    deg = angles * (180.0 / math.pi)
    rad = deg * (math.pi / 180.0)
    alpha = np.cos(rad)
    beta = np.sin(rad)
    m0, m1, m2 = alpha, beta, (1 - alpha) * centre - beta * centre
    m3, m4, m5 = -beta, alpha, beta * centre + (1 - alpha) * centre
    # cv::warpAffine inverts the forward matrix (no WARP_INVERSE_MAP).
    d = m0 * m4 - m1 * m3
    d = np.where(d != 0, 1.0 / np.where(d != 0, d, 1.0), 0.0)
    a11, a22 = m4 * d, m0 * d
    i0, i1, i3, i4 = a11, m1 * -d, m3 * -d, a22
    i2 = -i0 * m2 - i1 * m5
    i5 = -i3 * m2 - i4 * m5
    ys = np.arange(rows[0], rows[1], dtype=np.float64)
    xs = np.arange(cols[0], cols[1], dtype=np.float64)
    rd = _AB_SCALE // 2
    # per-column deltas and per-row bases, each rounded to int as OpenCV does
    # (int32 is ample: |coordinate| * 1024 stays far below 2**31)
    adelta = np.rint(i0[:, None] * xs[None, :] * _AB_SCALE).astype(np.int32)
    bdelta = np.rint(i3[:, None] * xs[None, :] * _AB_SCALE).astype(np.int32)
    x0 = np.rint((i1[:, None] * ys[None, :] + i2[:, None]) * _AB_SCALE).astype(np.int32) + rd
    y0 = np.rint((i4[:, None] * ys[None, :] + i5[:, None]) * _AB_SCALE).astype(np.int32) + rd
    sx = np.add(x0[:, :, None], adelta[:, None, :])
    sx >>= _AB_BITS
    sy = np.add(y0[:, :, None], bdelta[:, None, :])
    sy >>= _AB_BITS
    flat = np.ascontiguousarray(src).reshape(-1)
    # the row and column terms separate, so each block's extreme source
    # coordinates are cheap; when every block stays inside its window no
    # per-pixel bounds test is needed
    lo_x = (x0.min(axis=1) + adelta.min(axis=1)) >> _AB_BITS if n else np.zeros(0, np.int32)
    hi_x = (x0.max(axis=1) + adelta.max(axis=1)) >> _AB_BITS if n else np.zeros(0, np.int32)
    lo_y = (y0.min(axis=1) + bdelta.min(axis=1)) >> _AB_BITS if n else np.zeros(0, np.int32)
    hi_y = (y0.max(axis=1) + bdelta.max(axis=1)) >> _AB_BITS if n else np.zeros(0, np.int32)
    base = (np.arange(n, dtype=np.int64) * (ssize * ssize))[:, None, None]
    if n == 0 or ((lo_x >= 0) & (hi_x < ssize) & (lo_y >= 0) & (hi_y < ssize)).all():
        idx = sy.astype(np.int64)
        idx *= ssize
        idx += sx
        idx += base
        return flat[idx]
    inside = (sx >= 0) & (sx < ssize) & (sy >= 0) & (sy < ssize)
    idx = np.where(inside, sy.astype(np.int64) * ssize + sx, 0) + base
    return np.where(inside, flat[idx], 0).astype(np.uint8)



def rotated_block_samples(image: np.ndarray, *, blk: int, grid: "OffsetGrid | None" = None,
                          fg: np.ndarray | None = None, orient: np.ndarray | None = None,
                          extra: int = 0) -> np.ndarray | None:
    """Each foreground block's centre sampled along its ridge orientation (LCS and RVUP).

    NFIQ 2 rotates the window around every foreground block so that ridges run
    along the rows and takes the central 16 x 32 samples (``rows`` across the
    block centre +-8, ``cols`` +-16).

    Parameters
    ----------
    image : np.ndarray
        Grey image, uint8.
    blk : int
        Block size of the grid built when ``grid`` is None.
    grid, fg, orient : optional
        A precomputed grid, its foreground flags and block orientations.
    extra : int
        Extra window margin in pixels (RVUP's ridge/valley runs need 2).

    Returns
    -------
    np.ndarray or None
        ``(n_blocks, 16, 32)`` samples, or None when there is no foreground block.
    """
    img = as_gray_u8(image)
    g = grid if grid is not None else OffsetGrid(img.shape, blk=blk)
    if g.count == 0:
        return None
    f = fg if fg is not None else g.foreground(img)
    if not f.any():
        return None
    ang = ridge_orientation(g.blocks(img)[f]) if orient is None else orient[f]
    win = g.windows(img, extra=extra)[f]
    c = (g.blk + 2 * g.off) // 2
    return rotated_samples(win, ang, rows=(c - 8, c + 8), cols=(c - 16, c + 16))

def ridge_valley_structure(v2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NFIQ 2 ``getRidgeValleyStructure`` for a stack of cropped blocks.

    Column means ``v3`` of each ``(rows, cols)`` block are fitted by a straight
    line over ``x = 1..cols`` (least squares; coefficients rounded to 1e-10 as
    NFIQ 2 does for cross-platform consistency); columns darker than the line
    are ridges.

    Returns
    -------
    ridval : np.ndarray
        ``(n, cols)`` bool, True for ridge columns.
    dt : np.ndarray
        ``(n, cols)`` float64 line values (the per-column threshold).
    v3 : np.ndarray
        ``(n, cols)`` float64 column means.
    """
    v3 = v2.astype(np.float64).mean(axis=1)
    ncol = v3.shape[1]
    x = np.arange(1, ncol + 1, dtype=np.float64)
    xm = x.mean()
    xc = x - xm
    slope = (v3 * xc).sum(axis=1) / (xc * xc).sum()
    icpt = v3.mean(axis=1) - slope * xm
    slope = np.round(slope * 1e10) / 1e10
    icpt = np.round(icpt * 1e10) / 1e10
    dt = x[None, :] * slope[:, None] + icpt[:, None]
    return v3 < dt, dt, v3


def histogram_features(prefix: str, values: np.ndarray, limits: tuple[float, ...]) -> dict[str, float]:
    """NFIQ 2 ``addHistogramFeatures``: 10 bin counts, mean and std dev.

    Bin ``i`` counts values ``limits[i-1] <= v < limits[i]`` (bin 0: ``v <
    limits[0]``, bin 9: ``v >= limits[8]``; infinities go to the last bin).
    The mean and population standard deviation are those of
    ``cv::meanStdDev``; with no values NFIQ 2 reports 0 bins, mean 0 and std 0.

    Parameters
    ----------
    prefix : str
        Feature-name prefix such as ``"FDA_Bin10_"``.
    values : np.ndarray
        The block values.
    limits : tuple of float
        The 9 inner bin boundaries.

    Returns
    -------
    dict
        ``{prefix+"0": count, ..., prefix+"Mean": mean, prefix+"StdDev": std}``.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    bounds = np.asarray(limits, dtype=np.float64)
    finite = v[~np.isinf(v)]
    bins = np.searchsorted(bounds, finite, side="right")
    counts = np.bincount(bins, minlength=len(bounds) + 1)
    counts[len(bounds)] += int(np.isinf(v).sum())
    out = {f"{prefix}{i}": float(counts[i]) for i in range(len(bounds) + 1)}
    if v.size:
        with np.errstate(invalid="ignore", over="ignore"):
            mean = float(v.mean())
            std = float(np.sqrt(np.mean((v - mean) ** 2)))
    else:
        mean, std = 0.0, 0.0
    out[f"{prefix}Mean"] = mean
    out[f"{prefix}StdDev"] = std
    return out
