import numpy as np

from ifb1.pipeline.copy_detect import check_copy
from ifb1.samples.scan import print_and_copy


def ridge_page(ppi, seed=0):
    """A page band full of mid-grey ridge patches (0.5 mm period), as ink prints."""
    rng = np.random.default_rng(seed)
    h, w = int(120 * ppi / 25.4), int(90 * ppi / 25.4)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    px_per_mm = ppi / 25.4
    angle = 0.6 + 0.4 * np.sin(x / (30 * px_per_mm)) + 0.3 * np.cos(y / (25 * px_per_mm))
    phase = 2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / (0.5 * px_per_mm)
    page = 150 + 60 * np.sin(phase) + rng.normal(0, 3, (h, w))
    return np.clip(page, 0, 255).astype(np.uint8)


def test_original_ink_is_not_flagged():
    for ppi in (300, 500):
        e = check_copy(ridge_page(ppi), ppi=ppi)
        assert e.tiles >= 8 and not e.looks_like_copy, e


def test_halftoned_copy_is_flagged():
    for ppi in (300, 500):
        page = ridge_page(ppi)
        copy = print_and_copy(page, np.random.default_rng(1), strength=0.2, ppi=ppi)
        e = check_copy(copy, ppi=ppi)
        assert e.looks_like_copy, e
        assert e.texture_ratio > check_copy(page, ppi=ppi).texture_ratio + 0.2
        assert "halftone" in e.reason


def test_blank_page_gives_no_opinion():
    e = check_copy(np.full((2000, 1500), 245, np.uint8), ppi=300)
    assert not e.looks_like_copy and e.texture_ratio is None and "too few" in e.reason


def dot_screen(ppi, period_mm, angle_deg, seed=0):
    """Mid-grey ridges seen through a dot screen of known period and angle (a print-out)."""
    page = ridge_page(ppi, seed).astype(np.float32)
    h, w = page.shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a = np.deg2rad(angle_deg)
    u, v = x * np.cos(a) + y * np.sin(a), -x * np.sin(a) + y * np.cos(a)
    p = period_mm * ppi / 25.4
    screen = 0.5 * (np.cos(2 * np.pi * u / p) + np.cos(2 * np.pi * v / p))  # -1 .. 1
    toner = (255 - page) / 255.0 > 0.5 - 0.5 * screen   # binary toner where darker than the screen
    return np.where(toner, 40, 235).astype(np.uint8)


def test_periodicity_on_a_screen_of_known_period():
    from ifb1.pipeline.copy_detect import average_spectrum, spectral_peak

    for ppi, period_mm, angle in ((300, 0.30, 20.0), (500, 0.25, 33.0), (600, 0.40, 8.0)):
        page = dot_screen(ppi, period_mm, angle)
        e = check_copy(page, ppi=ppi)
        assert e.looks_like_copy and e.where == "print", e
        assert abs(e.period_mm - period_mm) < 0.05 * period_mm + 25.4 / ppi / 8, (ppi, e.period_mm)
        # The peak's direction is one of the screen's two axes.
        d = min(abs((e.angle_deg - angle - k * 90 + 45) % 90 - 45) for k in (0, 1))
        assert d < 3.0, (ppi, e.angle_deg)
    # The spectrum alone: a plain grating of 7 px gives a peak at 7 px.
    y, x = np.mgrid[0:128, 0:128]
    tiles = [(128 + 60 * np.sin(2 * np.pi * (x * np.cos(0.4) + y * np.sin(0.4)) / 7.0 + k)).astype(np.uint8)
             for k in range(6)]
    ratio, period, ang = spectral_peak(average_spectrum(tiles), min_period_px=3, max_period_px=20)
    assert ratio > 50 and abs(period - 7.0) < 0.3 and abs(ang - np.degrees(0.4)) < 3


def test_realistic_original_is_not_flagged_and_copies_are():
    from ifb1.samples.generate import FormOptions, generate_form
    from ifb1.samples.scan import CopyParams

    for seed in (3, 4):
        orig = generate_form(seed, 1, options=FormOptions(ppi=300))
        e = check_copy(orig.image, ppi=300)
        assert not e.looks_like_copy and e.texture_ratio < 12, e
        for dither in (0.0, 1.0):
            copy = generate_form(seed, 1, options=FormOptions(ppi=300, copy=True, copy_degradation=(0.25, 0.25),
                                                              copy_params=CopyParams(dither_probability=dither)))
            assert copy.truth["copy_print"]["screen"] == ("dither" if dither else "halftone")
            e = check_copy(copy.image, ppi=300)
            assert e.looks_like_copy, (seed, copy.truth["copy_print"], e)


def test_a_jpeg_saved_original_is_not_flagged():
    """The scan's own JPEG 8 x 8 grid is not a second grid."""
    import cv2

    from ifb1.samples.generate import FormOptions, generate_form

    g = generate_form(5, 2, options=FormOptions(ppi=400))
    ok, buf = cv2.imencode(".jpg", g.image, [cv2.IMWRITE_JPEG_QUALITY, 75])
    e = check_copy(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), ppi=400)
    assert not e.looks_like_copy, e


def test_washed_out_blacks_alone_look_like_a_copy():
    page = ridge_page(300)
    grey = (110 + page.astype(np.float32) * (235 - 110) / 255).astype(np.uint8)  # blacks washed to grey
    e = check_copy(grey, ppi=300)
    assert e.looks_like_copy and "washed" in e.reason and e.black_level >= 110
