"""Barcode: label zone first, deskewed through the transform; validation; safe names."""

import cv2
import numpy as np
import pytest
import zxingcpp

from ifb1.barcode.decode import decode_barcode
from ifb1.barcode.ids import safe_output_name, validate_form_id
from ifb1.forms import load_layout

LAYOUT = load_layout()
PPI = 300
K = PPI / 25.4
SHA = "ab" * 32


def _symbol(text, fmt, module_px):
    img = np.asarray(zxingcpp.create_barcode(text, getattr(zxingcpp.BarcodeFormat, fmt)).to_image(scale=module_px))
    if fmt in ("Code128", "Code39"):
        img = cv2.resize(img, (img.shape[1], int(12 * K)), interpolation=cv2.INTER_NEAREST)
    return img


def _page_with(labels, *, angle=0.0, upside_down=False):
    """A white A4 page at 300 ppi with symbols pasted at template mm centres, then turned.

    Returns the page and the template-mm -> page-px transform.
    """
    w, h = int(210 * K), int(297 * K)
    page = np.full((h, w), 245, np.uint8)
    page[int(60 * K):int(61 * K), int(10 * K):int(200 * K)] = 30  # some printed line
    for text, fmt, (cx, cy), module in labels:
        sym = _symbol(text, fmt, module)
        sh, sw = sym.shape
        x0, y0 = int(cx * K - sw / 2), int(cy * K - sh / 2)
        page[y0:y0 + sh, x0:x0 + sw] = np.minimum(page[y0:y0 + sh, x0:x0 + sw], sym)
    base = np.array([[K, 0, 0], [0, K, 0], [0, 0, 1.0]])
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle + (180 if upside_down else 0), 1.0)
    page = cv2.warpAffine(page, rot, (w, h), borderValue=245)
    t = np.vstack([rot, [0, 0, 1]]) @ base
    return page, t


ZONE_CENTRE = (138 + 31, 24 + 14)


@pytest.mark.parametrize("fmt,module", [("Code128", 3), ("Code39", 3), ("DataMatrix", 6), ("QRCode", 5)])
def test_reads_each_expected_format_in_zone_deskewed(fmt, module):
    page, t = _page_with([("IFB1-2026-000123", fmt, ZONE_CENTRE, module)], angle=9.0)
    res = decode_barcode(page, transform=t, layout=LAYOUT)
    assert res.form_id == "IFB1-2026-000123"
    assert res.chosen.format == fmt and res.searched == "zone"
    # Corners map back to the page: the symbol's centre is where it was pasted.
    c = np.mean(res.chosen.corners_px, axis=0)
    expect = t[:2, :2] @ np.array(ZONE_CENTRE) + t[:2, 2]
    assert np.hypot(*(c - expect)) < 3 * K


def test_tilted_long_label_needs_the_deskew():
    """A Code 128 label on a page skewed 10 degrees plus its own 6 degrees reads via the zone crop."""
    page, t = _page_with([("IFB1-2026-000777", "Code128", ZONE_CENTRE, 2)], angle=10.0)
    res = decode_barcode(page, transform=t, layout=LAYOUT)
    assert res.form_id == "IFB1-2026-000777" and res.searched == "zone"


def test_upside_down_page_reads_and_corners_are_as_printed():
    page, t = _page_with([("IFB1-2026-000124", "Code128", ZONE_CENTRE, 3)], upside_down=True, angle=-4)
    res = decode_barcode(page, transform=t, layout=LAYOUT)
    assert res.form_id == "IFB1-2026-000124"
    tl, tr = np.array(res.chosen.corners_px[0]), np.array(res.chosen.corners_px[1])
    assert tr[0] < tl[0]  # printed left-to-right, so right-to-left in the turned image


def test_label_far_from_zone_found_on_whole_page():
    page, t = _page_with([("IFB1-2026-000125", "QRCode", (40, 270), 5)], angle=3)
    res = decode_barcode(page, transform=t, layout=LAYOUT)
    assert res.form_id == "IFB1-2026-000125" and res.searched == "page"


def test_several_codes_all_reported_nearest_zone_chosen():
    # Two labels off the zone: the whole page is read, both reported, the nearer chosen.
    page, t = _page_with([("IFB1-2026-000200", "QRCode", (40, 270), 5),
                          ("IFB1-2026-000201", "DataMatrix", (60, 70), 6)])
    res = decode_barcode(page, transform=t, layout=LAYOUT)
    assert {h.text for h in res.hits} == {"IFB1-2026-000200", "IFB1-2026-000201"}
    assert res.form_id == "IFB1-2026-000201"


def test_no_barcode_means_manual_entry():
    page, t = _page_with([])
    res = decode_barcode(page, transform=t, layout=LAYOUT)
    assert res.form_id is None and res.chosen is None and res.hits == () and res.searched == "none"


def test_invalid_text_is_reported_but_never_an_id():
    page, t = _page_with([("../../etc/passwd", "QRCode", ZONE_CENTRE, 5)])
    res = decode_barcode(page, transform=t, layout=LAYOUT)
    assert res.chosen is not None and res.chosen.text == "../../etc/passwd"
    assert not res.chosen.valid_id and res.form_id is None


def test_valid_id_preferred_over_invalid_text_nearby():
    page, t = _page_with([("not an id", "QRCode", (ZONE_CENTRE[0] - 22, ZONE_CENTRE[1]), 4),
                          ("IFB1-2026-000300", "QRCode", (ZONE_CENTRE[0] + 22, ZONE_CENTRE[1]), 4)])
    res = decode_barcode(page, transform=t, layout=LAYOUT)
    assert res.form_id == "IFB1-2026-000300"
    assert {h.text for h in res.hits} == {"not an id", "IFB1-2026-000300"}


@pytest.mark.parametrize("text,ok", [
    ("IFB1-2026-000123", True), (" IFB1-2026-000123\n", True), ("ABCD", True),
    ("ifb1-2026-000123", False), ("../IFB1", False), ("/etc/passwd", False), ("A/B-1234", False),
    ("-IFB1-2026", False), ("IFB1 2026", False), ("A" * 33, False), ("ABC", False), ("IFB1\x00-2026", False),
    ("", False), (None, False),
])
def test_validate_form_id(text, ok):
    assert (validate_form_id(text) is not None) == ok


def test_safe_output_name_cannot_be_steered():
    assert safe_output_name("IFB1-2026-000123", SHA) == "IFB1-2026-000123-" + SHA[:12]
    for bad in ("../../x", "/abs/path", "a/b", "..", "IFB1-2026-000123/..", "C:\\x"):
        name = safe_output_name(bad, SHA)
        assert name == "scan-" + SHA[:16]
    assert safe_output_name(None, SHA, page=1, n_pages=3).endswith("-p2")
    with pytest.raises(ValueError):
        safe_output_name("IFB1-2026-000123", "../../etc")


def _dense_code39_copy(ppi, strength, dither):
    """A 0.22 mm Code 39 label (the generator's design) stuck 6 degrees off on a page that is
    then printed through a halftone screen / dither and scanned: a degraded copy."""
    from ifb1.samples.label import render_label, stick_label
    from ifb1.samples.scan import CopyParams, print_and_copy

    k = ppi / 25.4
    page = np.full((int(round(297 * k)), int(round(210 * k))), 250, np.uint8)
    label = render_label("IFB1-2026-004217", fmt="Code39", ppi=ppi)
    corners = stick_label(page, label, centre_px=(169 * k, 38 * k), angle_deg=6.0)
    page = print_and_copy(page, np.random.default_rng(1), strength=strength, ppi=ppi,
                          params=CopyParams(dither_probability=1.0 if dither else 0.0))
    page = cv2.GaussianBlur(page, (0, 0), 0.03 * k)
    return page, np.array([[k, 0, -0.5], [0, k, -0.5], [0, 0, 1.0]]), corners


@pytest.mark.parametrize("ppi,strength,dither", [(300, 0.8, True), (500, 0.95, False)])
def test_dense_code39_on_degraded_copy_reads_via_the_profile(ppi, strength, dither):
    from ifb1.barcode.decode import BarcodeParams

    page, t, corners = _dense_code39_copy(ppi, strength, dither)
    quick = decode_barcode(page, transform=t, layout=LAYOUT, params=BarcodeParams(hard_read=False))
    assert quick.form_id is None  # the 2D tries lose the narrow spaces
    res = decode_barcode(page, transform=t, layout=LAYOUT)
    assert res.form_id == "IFB1-2026-004217" and res.searched == "zone" and res.chosen.format == "Code39"
    # Reported where the symbol is: centre within 1 mm, length within 2 mm.
    got = np.asarray(res.chosen.corners_px)
    assert np.hypot(*(got.mean(0) - corners.mean(0))) < ppi / 25.4
    assert abs(np.hypot(*(got[1] - got[0])) - np.hypot(*(corners[1] - corners[0]))) < 2 * ppi / 25.4


def test_profile_edges_recover_blurred_narrow_elements():
    """Inflection edges of a blurred Code 39 character land on the true edges; its 3 wide elements
    are found."""
    from ifb1.barcode.decode import _profile_edges, _two_widths

    widths = np.array([2, 1, 1, 2, 1, 1, 1, 1, 2]) * 8  # one Code 39 character ('A'): bar, space, ...
    row = np.repeat(np.where(np.arange(widths.size) % 2 == 0, 40.0, 230.0), widths)
    prof = cv2.GaussianBlur(np.pad(row, 60, constant_values=230.0).astype(np.float32)[None], (0, 0), 4.0)[0]
    edges = _profile_edges(prof, sigma_px=1.0)
    assert edges.size == widths.size + 1
    assert np.abs(edges - (60 + np.r_[0, np.cumsum(widths)])).max() <= 2
    assert np.array_equal(_two_widths(np.diff(edges)), widths == 16)


def test_code39_needs_two_agreeing_reads():
    """Code 39 carries no check character: one read of a valid-looking id is not trusted."""
    from ifb1.barcode.decode import _trusted_texts

    assert _trusted_texts([("IFB1-2026-000123", "Code39")], 2) == set()
    assert _trusted_texts([("IFB1-2026-000123", "Code39")] * 2, 2) == {"IFB1-2026-000123"}
    assert _trusted_texts([("IFB1-2026-000123", "Code39"), ("IFB1-2026-000128", "Code39")], 2) == set()
    assert _trusted_texts([("IFB1-2026-000123", "Code128")], 2) == {"IFB1-2026-000123"}
    assert _trusted_texts([("../etc", "Code128")], 2) == set()


def test_a_single_code39_read_goes_to_manual_entry(monkeypatch):
    """A misread that zxing reports once (here: a fake read of the first crop only) is not an id."""
    import ifb1.barcode.decode as dec

    page, t = _page_with([])  # no symbol at all: only the fake read
    calls = []
    real = dec._read

    def once(img, formats, binarizer="LocalAverage", **kw):
        calls.append(1)
        if len(calls) == 1:
            h, w = img.shape[:2]
            pts = np.array([[w * 0.3, h * 0.4], [w * 0.7, h * 0.4], [w * 0.7, h * 0.6], [w * 0.3, h * 0.6]])
            return [("IFB1-2026-000999", "Code39", pts)]
        return real(img, formats, binarizer, **kw)

    monkeypatch.setattr(dec, "_read", once)
    res = dec.decode_barcode(page, transform=t, layout=LAYOUT)
    assert res.form_id is None and res.chosen is None
    assert res.unconfirmed == ("IFB1-2026-000999",)
    # A real Code 39 label reads twice (two crop variants) and is trusted.
    monkeypatch.setattr(dec, "_read", real)
    page, t = _page_with([("IFB1-2026-000123", "Code39", ZONE_CENTRE, 3)])
    res = dec.decode_barcode(page, transform=t, layout=LAYOUT)
    assert res.form_id == "IFB1-2026-000123" and res.unconfirmed == ()
