"""The page preview: the scan, small, with the boxes and the barcode the reader found drawn on it.

A drawing of the reading, made in the process that holds the page image (a
batch worker, the desk), so the page never travels; :mod:`ifb1.outputs` writes it.
"""

from __future__ import annotations



PREVIEW_HEIGHT_PX = 1000



def render_preview(image, reading, *, height: int = PREVIEW_HEIGHT_PX) -> bytes:
    """A small JPEG of the page with the boxes (green: print, orange: empty) and barcode (blue)."""
    import cv2
    import numpy as np

    h, w = image.shape[:2]
    f = min(1.0, height / h)
    small = cv2.resize(image, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    # pixel centres: full px x -> small px (x + 0.5) * f - 0.5
    def pts(corners):
        return (np.round((np.asarray(corners, float) + 0.5) * f - 0.5)).astype(np.int32).reshape(-1, 1, 2)

    for b in reading.boxes:
        colour = (40, 170, 40) if b.present else (0, 140, 255)
        cv2.polylines(bgr, [pts(b.corners_px)], True, colour, 2, cv2.LINE_AA)
        tl = pts(b.corners_px)[0, 0]
        cv2.putText(bgr, str(b.position), (int(tl[0]) + 6, int(tl[1]) + 22), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, colour, 2, cv2.LINE_AA)
    if reading.barcode is not None:
        for hit in reading.barcode.hits:
            colour = (255, 80, 0) if hit is reading.barcode.chosen else (200, 0, 200)
            cv2.polylines(bgr, [pts(hit.corners_px)], True, colour, 2, cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
