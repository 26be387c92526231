"""Intake: formats, stated resolution, and clear rejections that never touch the file."""

import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ifb1.intake.scan import IntakeError, load_scan, plausible_ppi


def _page(h=400, w=300, seed=0):
    """A grey page with some ink on it."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w), 250, np.uint8)
    img[50:60, 20:280] = 20
    img[100:300, 100:104] = 30
    img[rng.integers(0, h, 500), rng.integers(0, w, 500)] = 0
    return img


def _snapshot(path):
    st = os.stat(path)
    return path.read_bytes(), st.st_mtime_ns, st.st_mode


@pytest.mark.parametrize("fmt,ext,kw", [
    ("PNG", ".png", {}),
    ("TIFF", ".tif", {"compression": "tiff_lzw"}),
    ("JPEG", ".jpg", {"quality": 92}),
    ("BMP", ".bmp", {}),
])
def test_raster_formats_decode_to_grey_with_ppi(tmp_path, fmt, ext, kw):
    img = _page()
    path = tmp_path / f"scan{ext}"
    Image.fromarray(img).convert("RGB").save(path, fmt, dpi=(400, 400), **kw)
    scan = load_scan(path)
    assert scan.format == {"PNG": "png", "TIFF": "tiff", "JPEG": "jpeg", "BMP": "bmp"}[fmt]
    assert len(scan.pages) == 1
    page = scan.pages[0]
    assert page.image.dtype == np.uint8 and page.image.shape == img.shape
    assert page.ppi_metadata == 400 and page.ppi_plausible
    tol = 6 if fmt == "JPEG" else 1
    assert np.abs(page.image.astype(int) - img).mean() < tol
    assert len(scan.sha256) == 64


def test_multipage_tiff_lzw_and_group4(tmp_path):
    a = _page(seed=1)
    b = (_page(seed=2) > 128)
    path = tmp_path / "two.tif"
    first = Image.fromarray(a)
    second = Image.fromarray(b).convert("1")
    first.save(path, "TIFF", compression="tiff_lzw", dpi=(300, 300), save_all=True, append_images=[second])
    scan = load_scan(path)
    assert [p.index for p in scan.pages] == [0, 1]
    assert np.array_equal(scan.pages[0].image, a)
    assert set(np.unique(scan.pages[1].image)) <= {0, 255}
    g4 = tmp_path / "g4.tif"
    Image.fromarray(b).convert("1").save(g4, "TIFF", compression="group4", dpi=(600, 600))
    s4 = load_scan(g4)
    assert s4.pages[0].ppi_metadata == 600
    assert np.array_equal(s4.pages[0].image > 0, b)


def test_missing_and_lying_resolution(tmp_path):
    img = _page()
    none = tmp_path / "none.png"
    Image.fromarray(img).save(none)
    assert load_scan(none).pages[0].ppi_metadata is None
    lie = tmp_path / "lie.jpg"
    Image.fromarray(img).save(lie, dpi=(72, 72))
    page = load_scan(lie).pages[0]
    assert page.ppi_metadata == 72 and not page.ppi_plausible
    assert not plausible_ppi(96) and plausible_ppi(300) and not plausible_ppi(None)


def test_pdf_embedded_jpeg_taken_at_own_resolution(tmp_path):
    img = _page(h=600, w=450)
    path = tmp_path / "scan.pdf"
    Image.fromarray(img).save(path, "PDF", resolution=300.0)
    scan = load_scan(path)
    assert scan.format == "pdf" and not scan.rendered
    page = scan.pages[0]
    assert page.image.shape == img.shape  # the embedded image, not a rendering
    assert page.ppi_metadata == 300 and page.ppi_plausible
    assert np.abs(page.image.astype(int) - img).mean() < 6


def test_pdf_flate_image_and_multipage(tmp_path):
    a, b = _page(seed=3), _page(seed=4)
    path = tmp_path / "two.pdf"
    # Mode "1" pages are stored without JPEG: exercises the bitmap path.
    Image.fromarray(a > 128).save(path, "PDF", resolution=200.0, save_all=True,
                                  append_images=[Image.fromarray(b > 128)])
    scan = load_scan(path)
    assert len(scan.pages) == 2
    assert np.array_equal(scan.pages[1].image > 128, b > 128)
    assert scan.pages[0].ppi_metadata == 200


def _vector_pdf() -> bytes:
    """A minimal one-page PDF with only vector lines (no image)."""
    content = b"4 w 50 50 m 500 50 l 500 700 l 50 700 l h S 50 400 m 500 400 l S"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + o + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()


def test_vector_pdf_is_rendered(tmp_path):
    path = tmp_path / "vector.pdf"
    path.write_bytes(_vector_pdf())
    scan = load_scan(path)
    assert scan.rendered
    page = scan.pages[0]
    assert page.ppi_metadata == 300
    h, w = page.image.shape
    assert abs(h - 842 * 300 / 72) <= 1.5 and abs(w - 595 * 300 / 72) <= 1.5
    assert page.image.min() < 50  # the lines were drawn


def _png_header_only(w, h) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("name,make,match", [
    ("notes.txt", lambda p: p.write_text("this is not a scan\n"), "not an image"),
    ("empty.png", lambda p: p.write_bytes(b""), "empty"),
    ("bomb.png", lambda p: p.write_bytes(_png_header_only(100_000, 100_000)), "decompression bomb"),
    ("blank.png", lambda p: Image.fromarray(np.full((300, 200), 252, np.uint8)).save(p), "empty"),
    ("bad.pdf", lambda p: p.write_bytes(b"%PDF-1.4\n garbage garbage"), "corrupt"),
])
def test_bad_input_rejected_clearly_and_untouched(tmp_path, name, make, match):
    path = tmp_path / name
    make(path)
    before = _snapshot(path)
    with pytest.raises(IntakeError, match=match) as info:
        load_scan(path)
    assert str(path) in str(info.value)
    assert _snapshot(path) == before


def test_truncated_png_rejected(tmp_path):
    path = tmp_path / "cut.png"
    buf = io.BytesIO()
    Image.fromarray(_page()).save(buf, "PNG")
    data = buf.getvalue()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IntakeError, match="truncated or corrupt"):
        load_scan(path)
    assert path.read_bytes() == data[: len(data) // 2]


def test_pixel_cap_applies_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(_page()).save(path)
    with pytest.raises(IntakeError, match="over the"):
        load_scan(path, max_pixels=10_000)
    with pytest.raises(IntakeError, match="over the"):
        load_scan(path, max_pixels=100_000)  # below Pillow's own 2x bomb threshold
    assert load_scan(path, max_pixels=200_000).pages[0].image.shape == (400, 300)


def test_missing_file(tmp_path):
    with pytest.raises(IntakeError, match="no such file"):
        load_scan(tmp_path / "nope.png")


def test_blank_back_page_of_duplex_scan_is_skipped(tmp_path):
    path = tmp_path / "duplex.tif"
    blank = Image.fromarray(np.full((400, 300), 251, np.uint8))
    Image.fromarray(_page()).save(path, "TIFF", compression="tiff_lzw", save_all=True, append_images=[blank])
    scan = load_scan(path)
    assert [p.index for p in scan.pages] == [0]
    assert scan.skipped == ("page 2 is blank and was skipped",)


@pytest.mark.parametrize("fmt,pages", [("PDF", 3), ("PDF", 16), ("TIFF", 3)])
def test_a_file_holds_one_form_page_and_at_most_a_blank_back(tmp_path, fmt, pages):
    blank = Image.fromarray(np.full((400, 300), 251, np.uint8))
    path = tmp_path / f"many.{fmt.lower()}"
    Image.fromarray(_page()).save(path, fmt, save_all=True, append_images=[blank] * (pages - 1),
                                  **({"resolution": 300} if fmt == "PDF" else {}))
    with pytest.raises(IntakeError, match=f"has {pages} pages; one form per file") as info:
        load_scan(path)
    assert str(path) in str(info.value)
    two = tmp_path / f"duplex.{fmt.lower()}"
    Image.fromarray(_page()).save(two, fmt, save_all=True, append_images=[blank],
                                  **({"resolution": 300} if fmt == "PDF" else {}))
    scan = load_scan(two)
    assert len(scan.pages) == 1 and scan.skipped == ("page 2 is blank and was skipped",)


def test_colour_and_deep_pages_turn_grey_in_strips_exactly_as_whole(tmp_path, monkeypatch):
    import cv2

    from ifb1.intake import scan as intake

    monkeypatch.setattr(intake, "_STRIP_PIXELS", 300 * 7)  # many strips, a short last one
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (401, 300, 3), dtype=np.uint8)
    cases = {
        "rgb.png": (Image.fromarray(rgb), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)),
        "rgba.png": (Image.fromarray(np.dstack([rgb, rgb[..., :1]])),
                     cv2.cvtColor(np.dstack([rgb, rgb[..., :1]]), cv2.COLOR_RGBA2GRAY)),
    }
    deep = rng.integers(0, 65536, (401, 300), dtype=np.uint16)
    cases["deep.png"] = (Image.fromarray(deep), (deep >> 8).astype(np.uint8))
    for name, (im, expected) in cases.items():
        im.save(tmp_path / name)
        got = load_scan(tmp_path / name).pages[0].image
        assert got.dtype == np.uint8 and np.array_equal(got, expected), name
