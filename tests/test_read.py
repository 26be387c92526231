"""Reading generated IFB1 scans end to end: registration, barcode, presence, CLI outputs."""

import json
import stat

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ifb1.forms import load_layout
from ifb1.commands.process import process
from ifb1.pipeline.read import read_scan
from ifb1.pipeline.register import RegistrationError, register
from ifb1.samples.form import render_blank_form
from ifb1.samples.generate import FormOptions, generate_form, save_scan

LAYOUT = load_layout()

# (index, options, file format, stated ppi): resolutions, rotations (random per
# form), formats, a copy, an upside-down feed, a lying/missing resolution,
# missing fingers with annotations, all four barcode symbologies.
CASES = [
    (1, dict(ppi=300), "png", 300),
    (2, dict(ppi=300, upside_down=True, barcode_format="Code39"), "jpeg", 72),
    (3, dict(ppi=300, copy=True, missing_rate=1.0, annotation_rate=1.0), "tiff", None),
    (4, dict(ppi=400, barcode_format="DataMatrix", upside_down=False), "pdf", 400),
    (5, dict(ppi=500, barcode_format="QRCode", rgb=True, upside_down=False), "png", 500),
]
SEED = 11


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    d = tmp_path_factory.mktemp("scans")
    out = []
    for index, opts, fmt, meta in CASES:
        form = generate_form(SEED, index, options=FormOptions(**opts))
        path = d / f"form_{index}.{ 'tif' if fmt == 'tiff' else 'jpg' if fmt == 'jpeg' else fmt}"
        truth = save_scan(form, path, fmt=fmt, ppi_in_metadata=meta)
        out.append((path, truth))
    return out


def _corner_errors_mm(result, truth):
    got = {p["position"]: np.asarray(p["corners_px"], float) for p in result["prints"]}
    errs = [np.linalg.norm(got[b["position"]] - np.asarray(b["corners_px"], float), axis=1)
            for b in truth["boxes"]]
    return np.concatenate(errs) / truth["ppi"] * 25.4


def test_generated_forms_read_accurately(scans):
    all_errs = []
    for path, truth in scans:
        (reading,) = read_scan(path, layout=LAYOUT)
        r = reading.to_dict()
        assert r["status"] == "ok", r.get("error")
        errs = _corner_errors_mm(r, truth)
        all_errs.append(errs)
        assert errs.max() <= 1.5, (path.name, errs.max())
        assert [p["position"] for p in r["prints"]] == list(range(1, 15))
        truth_present = {b["position"]: b["present"] for b in truth["boxes"]}
        wrong = [p["position"] for p in r["prints"] if p["present"] != truth_present[p["position"]]]
        assert not wrong, (path.name, wrong)
        assert r["upside_down"] == truth["upside_down"]
        assert abs(r["rotation_deg"] - truth["rotation_deg"]) < 0.1
        assert r["ppi_measured"] == pytest.approx(truth["ppi"] * truth["scale"], rel=0.005)
        if not truth["barcode"]["damaged"]:
            assert r["form_id"] == truth["form_id"] and not r["manual_entry"]
        stated = truth["ppi_in_metadata"]
        if stated in (None, 72, 96):
            assert r["ppi_source"] == "measured"
        # every present print is a 500 ppi crop
        for b in reading.boxes:
            assert b.ppi == 500 and b.crop.dtype == np.uint8
    errs = np.concatenate(all_errs)
    assert np.median(errs) <= 0.5
    # the annotated empty boxes of form 3 are really there and read as empty
    assert any(b["annotation"] for b in scans[2][1]["boxes"])


def _blank_scan(ppi, angle, *, flip=False, scale=1.0, crop_mm=(0, 0, 0, 0)):
    """The printed blank form, turned and cropped like a sloppy feed; returns page and truth corners."""
    img = render_blank_form(LAYOUT, ppi=ppi)
    h, w = img.shape
    k = ppi / 25.4
    base = np.array([[k, 0, -0.5], [0, k, -0.5], [0, 0, 1]])
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle + (180 if flip else 0), scale)
    page = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    left, top, right, bottom = (int(round(c * k)) for c in crop_mm)
    page = np.ascontiguousarray(page[top:h - bottom, left:w - right])
    t = np.vstack([m, [0, 0, 1]]) @ base
    t[0, 2] -= left
    t[1, 2] -= top
    return page, t


@pytest.mark.parametrize("ppi,angle,flip,scale,crop", [
    (300, 10.0, False, 1.0, (4, 3, 0, 0)),
    (300, -10.0, True, 0.97, (0, 0, 3, 5)),
    (600, 2.5, False, 1.02, (0, 2, 2, 0)),
])
def test_registration_extremes_on_blank_form(ppi, angle, flip, scale, crop):
    page, t = _blank_scan(ppi, angle, flip=flip, scale=scale, crop_mm=crop)
    reg = register(page, layout=LAYOUT, ppi_hint=None)
    assert reg.upside_down == flip
    assert reg.ppi_measured == pytest.approx(ppi * scale, rel=0.002)
    for box in LAYOUT.boxes:
        c = np.asarray(box.corners_mm())
        truth = c @ t[:2, :2].T + t[:2, 2]
        err = np.linalg.norm(reg.to_page(c) - truth, axis=1) / (ppi * scale) * 25.4
        assert err.max() < 0.2


def test_page_without_box_grid_is_rejected(tmp_path):
    rng = np.random.default_rng(5)
    page = np.full((3508, 2480), 250, np.uint8)
    for _ in range(40):  # lines of "text" and a few rules, but no box grid
        y, x = int(rng.integers(100, 3300)), int(rng.integers(50, 1200))
        page[y:y + 30, x:x + int(rng.integers(200, 1100))] = rng.integers(0, 120, (30, 1))
    page[500:504, 100:2300] = 20
    path = tmp_path / "letter.png"
    Image.fromarray(page).save(path, dpi=(300, 300))
    (reading,) = read_scan(path, layout=LAYOUT)
    assert reading.status == "rejected" and "no IFB1 box grid" in reading.error
    assert str(path) in reading.error
    with pytest.raises(RegistrationError):
        register(page, layout=LAYOUT, ppi_hint=300)


def _mode(p):
    return stat.S_IMODE(p.stat().st_mode)


def test_cli_json_lines_outputs_and_exit_status(scans, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    bad_before = bad.read_bytes()
    out = tmp_path / "out"
    paths = [str(scans[0][0]), str(bad), str(scans[1][0])]
    res = CliRunner().invoke(process, [*paths, "--out", str(out), "--json"])
    assert res.exit_code == 1, res.output
    lines = [json.loads(line) for line in res.output.strip().splitlines()]
    assert [r["source"] for r in lines] == paths
    assert [r["status"] for r in lines] == ["ok", "rejected", "ok"]
    assert "truncated or corrupt" in lines[1]["error"] and bad.read_bytes() == bad_before
    for r, (_, truth) in zip([lines[0], lines[2]], [scans[0], scans[1]]):
        assert set(r) >= {"form_id", "barcode", "ppi", "ppi_source", "prints", "timings_ms", "upside_down",
                          "rotation_deg", "manual_entry", "resampled_from"}
        assert set(r["timings_ms"]) >= {"decode", "register", "barcode", "segment"}
        assert r["barcode"]["format"] == truth["barcode"]["format"]
        folder = out / r["output"]
        assert r["output"].startswith(truth["form_id"] + "-") and "/" not in r["output"]
        assert _mode(out) == 0o700 and _mode(folder) == 0o700 and _mode(folder / "prints") == 0o700
        saved = json.loads((folder / "result.json").read_text())
        assert saved["form_id"] == r["form_id"]
        for f in [folder / "result.json", folder / "preview.jpg", *(folder / "prints").iterdir()]:
            assert _mode(f) == 0o600, f
        present = [p for p in r["prints"] if p["present"]]
        assert len(list((folder / "prints").iterdir())) == len(present)
        with Image.open(out / present[0]["file"]) as im:
            assert im.info["dpi"][0] == pytest.approx(500, abs=0.1)
        with Image.open(folder / "preview.jpg") as im:
            assert max(im.size) <= 1000
    assert not list(out.rglob("*.tmp"))
    # A rerun writes to the same folders.
    res2 = CliRunner().invoke(process, [paths[0], "--out", str(out), "--json"])
    assert res2.exit_code == 0 and json.loads(res2.output)["output"] == lines[0]["output"]


def test_cli_human_summary_and_operator_form_id(scans, tmp_path):
    path, truth = scans[0]
    img = np.asarray(Image.open(path).convert("L")).copy()
    # Scrub the label: no barcode on the page any more.
    c = np.asarray(truth["barcode"]["corners_px"])
    x0, y0 = (c.min(axis=0) - 40).astype(int)
    x1, y1 = (c.max(axis=0) + 40).astype(int)
    img[max(0, y0):y1, max(0, x0):x1] = 250
    nolabel = tmp_path / "nolabel.png"
    Image.fromarray(img).save(nolabel, dpi=(300, 300))
    out = tmp_path / "out"
    res = CliRunner().invoke(process, [str(nolabel), "--out", str(out), "--json", "--form-id", "IFB1-2026-999999"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["form_id"] == "IFB1-2026-999999" and r["form_id_source"] == "operator" and r["manual_entry"]
    res = CliRunner().invoke(process, [str(nolabel), "--out", str(out)])
    assert res.exit_code == 0 and res.output.startswith("OK ") and "MANUAL ENTRY" in res.output
    res = CliRunner().invoke(process, [str(nolabel), "--out", str(out), "--form-id", "../../etc"])
    assert res.exit_code == 2 and "not a valid form id" in res.output
