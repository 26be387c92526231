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
