"""Tests for the synthetic form generator (ifb1.samples.form/label/scan/generate/cli)."""

from __future__ import annotations

import io
import json
import re
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ifb1.forms import load_layout
from ifb1.samples.form import mm_to_page_px, page_size_px, render_blank_form
from ifb1.samples.generate import (FormOptions, encode_image, form_id_for, generate_form, save_scan,
                                   verdict_for)

PPI = 300


@pytest.fixture(scope="module")
def clean_pair():
    """The same form scanned clean (geometry only), right way up and upside down."""
    up = generate_form(7, 3, options=FormOptions(ppi=PPI, clean=True, upside_down=False))
    down = generate_form(7, 3, options=FormOptions(ppi=PPI, clean=True, upside_down=True))
    return up, down


@pytest.fixture(scope="module")
def original_and_copy():
    opts = FormOptions(ppi=PPI, upside_down=False)
    orig = generate_form(11, 2, options=opts)
    copy = generate_form(11, 2, options=FormOptions(ppi=PPI, upside_down=False, copy=True,
                                                    copy_degradation=(0.6, 0.6)))
    return orig, copy


def _line_offsets(img: np.ndarray, p0, p1, *, half: float = 7.0, n: int = 40) -> np.ndarray:
    """Signed offset (px) of the dark line's centre from the segment p0-p1, measured across it
    at n points along its middle 60 %."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = (p1 - p0) / np.linalg.norm(p1 - p0)
    normal = np.array([-d[1], d[0]])
    ts = np.linspace(-half, half, int(4 * half) + 1)
    out = []
    for f in np.linspace(0.2, 0.8, n):
        c = p0 + f * (p1 - p0)
        pts = c[None, :] + ts[:, None] * normal[None, :]
        mx = pts[:, 0].astype(np.float32).reshape(1, -1)
        my = pts[:, 1].astype(np.float32).reshape(1, -1)
        v = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderValue=255).ravel().astype(float)
        dark = np.clip(200.0 - v, 0, None)  # only the printed line's core counts
        if dark.sum() > 0:
            out.append(float((dark * ts).sum() / dark.sum()))
    return np.array(out)


def test_blank_form_geometry_matches_template():
    layout = load_layout()
    img = render_blank_form(layout, ppi=PPI)
    assert img.dtype == np.uint8 and img.shape == (3508, 2480)
    assert page_size_px(layout, 500) == (4134, 5846)
    for box in layout.boxes:
        c = [mm_to_page_px(x, y, PPI) for x, y in box.corners_mm()]
        for a, b in zip(c, c[1:] + c[:1]):
            off = _line_offsets(img, a, b)
            assert len(off) > 20
            assert abs(np.median(off)) < 0.5, (box.position, np.median(off))
    # nothing printed in the middle of an empty box
    x, y, w, h = layout.box(3).rect_mm
    cx, cy = mm_to_page_px(x + w / 2, y + h / 2, PPI)
    assert img[int(cy) - 50:int(cy) + 50, int(cx) - 50:int(cx) + 50].min() == 255


def test_truth_corners_lie_on_printed_borders(clean_pair):
    for form in clean_pair:
        t = form.truth
        img = form.image
        assert img.shape == (3508, 2480)
        assert len(t["boxes"]) == 14
        for b in t["boxes"]:
            c = b["corners_px"]
            meds = []
            for a, e in zip(c, c[1:] + c[:1]):
                off = _line_offsets(img, a, e)
                meds.append(np.median(off))
            assert np.all(np.abs(meds) < 1.0), (t["upside_down"], b["position"], meds)


def test_upside_down_truth(clean_pair):
    up, down = clean_pair
    assert not up.truth["upside_down"] and down.truth["upside_down"]
    h, w = up.image.shape
    # the same sheet, turned: pixels and corners follow the half turn
    assert np.abs(down.image.astype(int) - up.image[::-1, ::-1].astype(int)).mean() < 0.5
    for bu, bd in zip(up.truth["boxes"], down.truth["boxes"]):
        cu, cd = np.array(bu["corners_px"]), np.array(bd["corners_px"])
        assert np.allclose(cd, np.array([w - 1, h - 1]) - cu, atol=0.01)
    tl = np.array(down.truth["boxes"][0]["corners_px"][0])  # TL of box 1 as printed
    assert tl[0] > w / 2 and tl[1] > h / 2
    tl_b = np.array(down.truth["barcode"]["corners_px"][0])
    assert tl_b[0] < w / 2 and tl_b[1] > h / 2  # the label (top right as printed) is bottom left


def test_prints_inside_bbox_and_box(clean_pair):
    form = clean_pair[0]
    img = form.image
    present = [b for b in form.truth["boxes"] if b["present"]]
    assert len(present) >= 12
    for b in present:
        x0, y0, x1, y1 = b["print_bbox_px"]
        m = form.masks[b["position"]]
        assert m.shape == (y1 - y0, x1 - x0) and m.any()
        # tight: the mask touches all four sides of its bbox
        assert m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any()
        # the print is dark where its mask says, the bbox's centre lies inside its box
        crop = img[y0:y1, x0:x1]
        assert crop[m].mean() < crop[~m].mean() - 8, b["position"]  # even a faint print is darker
        poly = np.array(b["corners_px"], np.float32)
        assert cv2.pointPolygonTest(poly, ((x0 + x1) / 2, (y0 + y1) / 2), False) > 0
        assert b["damage"] is not None and b["quality"] in ("good", "fair", "poor")


def test_barcode_decodes_at_truth_corners(clean_pair):
    import zxingcpp

    for form in clean_pair:
        t = form.truth
        assert re.fullmatch(r"IFB1-\d{4}-\d{6}", t["form_id"])
        assert re.fullmatch(r"^[A-Z0-9][A-Z0-9-]{3,31}$", t["form_id"])
        res = [r for r in zxingcpp.read_barcodes(form.image) if r.text == t["form_id"]]
        assert res, "barcode not decodable on a clean scan"
        pos = res[0].position
        centre = np.mean([[p.x, p.y] for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)], 0)
        quad = np.array(t["barcode"]["corners_px"], np.float32)
        assert cv2.pointPolygonTest(quad, tuple(float(v) for v in centre), True) > -3


def test_other_barcode_formats_decode():
    import zxingcpp

    for fmt in ("DataMatrix", "QRCode", "Code39"):
        # clean scan: tilted 1D symbols are the barcode reader's problem, not this test's
        form = generate_form(5, 2, options=FormOptions(ppi=PPI, barcode_format=fmt, upside_down=False, clean=True))
        texts = {r.text for r in zxingcpp.read_barcodes(form.image)}
        assert form.truth["form_id"] in texts, fmt
        assert form.truth["barcode"]["format"] == fmt


def test_same_seed_same_bytes_png_and_pdf(tmp_path):
    a = generate_form(21, 4, options=FormOptions(ppi=PPI, copy=True))
    b = generate_form(21, 4, options=FormOptions(ppi=PPI, copy=True))
    assert np.array_equal(a.image, b.image) and a.truth == b.truth
    for fmt in ("png", "pdf", "tiff"):
        b1, b2 = io.BytesIO(), io.BytesIO()
        encode_image(a.image, b1, fmt=fmt, ppi_in_metadata=PPI)
        encode_image(b.image, b2, fmt=fmt, ppi_in_metadata=PPI)
        assert b1.getvalue() == b2.getvalue(), fmt
    c = generate_form(21, 5, options=FormOptions(ppi=PPI))
    assert c.truth["form_id"] != a.truth["form_id"]
    assert form_id_for(21, 4) == a.truth["form_id"]


def test_metadata_resolution_written_or_absent(tmp_path):
    form = generate_form(2, 9, options=FormOptions(ppi=PPI, upside_down=False))
    for fmt, suffix in (("png", ".png"), ("tiff", ".tif"), ("jpeg", ".jpg")):
        for meta in (PPI, 72, None):
            path = tmp_path / f"s_{fmt}_{meta}{suffix}"
            truth = save_scan(form, path, fmt=fmt, ppi_in_metadata=meta)
            assert truth["ppi_in_metadata"] == meta and truth["format"] == fmt and truth["scan"] == path.name
            with Image.open(path) as im:
                dpi = im.info.get("dpi")
                assert im.size == (2480, 3508)
            if meta is None:
                # Pillow reports a TIFF with no resolution tags as (1, 1)
                assert dpi is None or tuple(dpi) == (1, 1), (fmt, dpi)
            else:
                assert dpi is not None and abs(dpi[0] - meta) < 0.5, (fmt, meta, dpi)
            on_disk = json.loads(path.with_suffix(".json").read_text())
            assert on_disk == json.loads(json.dumps(truth))
    path = tmp_path / "s.pdf"
    save_scan(form, path, fmt="pdf", ppi_in_metadata=PPI)
    box = re.search(rb"MediaBox \[ 0 0 ([\d.]+) ([\d.]+) \]", path.read_bytes())
    assert box and abs(float(box.group(1)) - 2480 / PPI * 72) < 0.5


def test_copy_differs_from_original(original_and_copy):
    orig, copy = original_and_copy
    assert copy.truth["copy"] and copy.truth["copy_degradation"] == 0.6
    # the same sheet placement: compare like with like over the print boxes
    assert copy.truth["page_to_scan"] == orig.truth["page_to_scan"]
    x0, y0, x1, y1 = orig.truth["boxes"][0]["print_bbox_px"]
    o = orig.image[y0:y1, x0:x1].astype(np.float32)
    c = copy.image[y0:y1, x0:x1].astype(np.float32)
    contrast_o = np.percentile(o, 98) - np.percentile(o, 2)
    contrast_c = np.percentile(c, 98) - np.percentile(c, 2)
    assert contrast_c < 0.9 * contrast_o
    assert np.abs(o - c).mean() > 15
    assert c.std() < 0.85 * o.std()  # ridges washed out by toner dots, blur and JPEG


def test_verdict_rule():
    def boxes(n_poor: int, empty_unannotated: int = 0, amp: int = 0) -> list[dict]:
        out = []
        for p in range(1, 11):
            poor = p <= n_poor or n_poor < p <= n_poor + empty_unannotated
            out.append({"position": p, "impression": "rolled", "poor": poor})
        return out

    assert verdict_for(boxes(2), copy=False, copy_degradation=None)[0] == "suitable"
    assert verdict_for(boxes(3), copy=False, copy_degradation=None)[0] == "review"
    assert verdict_for(boxes(9), copy=False, copy_degradation=None)[0] == "review"  # never unsuitable
    assert verdict_for(boxes(2), copy=True, copy_degradation=0.3)[0] == "suitable"
    assert verdict_for(boxes(3), copy=True, copy_degradation=0.3)[0] == "unsuitable"
    assert verdict_for(boxes(0), copy=True, copy_degradation=0.75)[0] == "unsuitable"


def test_missing_fingers_and_annotations():
    opts = FormOptions(ppi=PPI, missing_rate=1.0, annotation_rate=1.0, clean=True, upside_down=False)
    form = generate_form(3, 6, options=opts)
    missing = [b for b in form.truth["boxes"] if b["impression"] == "rolled" and not b["present"]]
    assert 1 <= len(missing) <= 2
    for b in missing:
        assert b["annotation"] in ("AMP", "UP", "XX")
        assert b["print_bbox_px"] is None and b["damage"] is None and not b["poor"]
        assert b["position"] not in form.masks
        # the annotation is written by hand inside the box
        q = np.array(b["corners_px"])
        x0, y0 = q.min(0).astype(int) + 40
        x1, y1 = q.max(0).astype(int) - 40
        assert form.image[y0:y1, x0:x1].min() < 128


def test_cli_writes_scans_and_truth_owner_only(tmp_path):
    from click.testing import CliRunner

    from ifb1.cli import main

    runner = CliRunner()
    out = tmp_path / "scans"
    res = runner.invoke(main, ["samples", "make", "--out", str(out), "--count", "2", "--seed", "4",
                               "--ppi", "300", "--copies", "0.5", "--format", "png", "--masks"])
    assert res.exit_code == 0, res.output
    assert "wrote 2 scans" in res.output
    scans = sorted(p for p in out.glob("form_*.png") if re.fullmatch(r"form_\d{4}\.png", p.name))
    jsons = sorted(out.glob("form_*.json"))
    assert len(scans) == 2 and len(jsons) == 2
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for p in out.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    t = json.loads(jsons[0].read_text())
    assert t["schema"] == "ifb1-truth/1" and t["scan"] == scans[0].name and t["seed"] == 4
    assert all(Path(out / name).exists() for name in t["masks"].values())
    # same seed, same bytes
    out2 = tmp_path / "again"
    res2 = runner.invoke(main, ["samples", "make", "--out", str(out2), "--count", "2", "--seed", "4",
                                "--ppi", "300", "--copies", "0.5", "--format", "png", "--masks"])
    assert res2.exit_code == 0, res2.output
    for p in out.iterdir():
        assert (out2 / p.name).read_bytes() == p.read_bytes(), p.name


def test_label_cut_by_the_scan_edge_is_marked_damaged():
    """The label stays on the paper; when the scanner crops the sheet's edge through the symbol,
    the truth says damaged, "cut by the page edge"; otherwise not."""
    from ifb1.samples.scan import ScanParams

    shifted = ScanParams(max_offset_mm=40.0)  # sheets pushed far across the glass
    seen = set()
    for index in (1, 4):  # seed 3: index 1 lands with the label over the scan's right edge, 4 does not
        form = generate_form(3, index, options=FormOptions(ppi=PPI, clean=True, upside_down=False, scan=shifted,
                                                           barcode_damage_rate=0.0))
        bc, (w, h) = form.truth["barcode"], form.truth["image_size_px"]
        c = np.asarray(bc["corners_px"])
        outside = bool((c < -0.5).any() or (c[:, 0] > w - 0.5).any() or (c[:, 1] > h - 0.5).any())
        assert bc["damaged"] == outside
        assert bc["damage_reasons"] == (["cut by the page edge"] if outside else [])
        seen.add(outside)
        # On the paper: the symbol, mapped back to the page, lies inside the sheet.
        m = np.asarray(form.truth["page_to_scan"])
        page_px = (c - m[:, 2]) @ np.linalg.inv(m[:, :2]).T
        page_mm = (page_px + 0.5) * 25.4 / PPI
        assert (page_mm >= 2.0).all() and (page_mm[:, 0] <= 208.0).all() and (page_mm[:, 1] <= 295.0).all()
    assert seen == {True, False}


def test_symbol_in_image_and_turned_label_extent():
    from ifb1.samples.label import label_half_extent_mm, symbol_in_image

    quad = [[10, 10], [110, 20], [108, 40], [8, 30]]
    assert symbol_in_image(quad, (120, 50))
    assert not symbol_in_image(quad, (110, 50))  # the right end cut
    assert not symbol_in_image(np.asarray(quad) - [9, 0], (120, 50))  # the left end cut
    assert label_half_extent_mm((60.0, 20.0), 0.0) == pytest.approx((30.0, 10.0))
    hw, hh = label_half_extent_mm((60.0, 20.0), 10.0)
    c, s = np.cos(np.deg2rad(10)), np.sin(np.deg2rad(10))
    assert (hw, hh) == pytest.approx((30 * c + 10 * s, 30 * s + 10 * c))
