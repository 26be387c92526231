"""Tests of `ifb1 quality`, the image reader and the plain-word feedback (generated prints only)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ifb1.cli import main
from ifb1.quality.feedback import (MESSAGES, NFIQ2_ACTIONABLE_THRESHOLDS, FeedbackParams,
                                   nfiq2_actionable_codes, print_feedback)
from ifb1.quality.io import ImageReadError, read_fingerprint


def _print(seed: int, **damage) -> np.ndarray:
    """A generated rolled print as a 500 ppi uint8 image with a white margin."""
    from ifb1.samples.fingerprint import make_master
    from ifb1.samples.impression import rolled_impression
    from ifb1.samples.ink import Damage, ink_print

    rng = np.random.default_rng(seed)
    imp = rolled_impression(make_master(rng, finger=2), rng)
    p = ink_print(imp, rng, damage=Damage(**damage))
    img = np.clip(np.rint(255 * (1 - p.density)), 0, 255).astype(np.uint8)
    return np.pad(img, 24, constant_values=255)


@pytest.fixture(scope="module")
def clean_print() -> np.ndarray:
    return _print(7)


@pytest.fixture(scope="module")
def files(tmp_path_factory, clean_print):
    import cv2

    d = tmp_path_factory.mktemp("prints")
    png = d / "clean_500.png"
    Image.fromarray(clean_print).save(png, dpi=(500, 500))
    tif = d / "clean_1000.tif"
    big = cv2.resize(clean_print, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    Image.fromarray(big).save(tif, dpi=(1000, 1000))
    wsq = d / "clean.wsq"
    import wsq as _  # noqa: F401  registers the WSQ Pillow plugin

    Image.fromarray(clean_print).save(wsq)
    bad = d / "corrupt.png"
    bad.write_bytes(png.read_bytes()[:200])
    bmp = d / "nodpi.bmp"
    Image.fromarray(clean_print).save(bmp)  # Pillow writes 96 dpi: not believed
    blank = d / "blank.png"
    Image.fromarray(np.full((400, 400), 255, np.uint8)).save(blank, dpi=(500, 500))
    return {"png": png, "tif": tif, "wsq": wsq, "bad": bad, "bmp": bmp, "blank": blank}


# --- reading -----------------------------------------------------------------------------------

def test_read_png_tiff_wsq_bmp(files, clean_print):
    png = read_fingerprint(files["png"])
    assert png.ppi_source == "file" and abs(png.ppi - 500) < 1 and png.resampled_from is None
    np.testing.assert_array_equal(png.image, clean_print)

    tif = read_fingerprint(files["tif"])
    assert tif.resampled_from == pytest.approx(1000)
    assert abs(tif.image.shape[0] - clean_print.shape[0]) <= 1
    assert np.abs(tif.image.astype(int) - clean_print).mean() < 20

    w = read_fingerprint(files["wsq"])
    assert w.image.shape == clean_print.shape
    assert np.abs(w.image.astype(int) - clean_print).mean() < 12  # lossy codec

    bmp = read_fingerprint(files["bmp"])
    assert bmp.ppi_source == "assumed" and bmp.ppi == 500 and bmp.file_ppi == pytest.approx(96, abs=1)

    forced = read_fingerprint(files["png"], ppi=600)
    assert forced.ppi_source == "option" and forced.resampled_from == 600
    assert forced.image.shape[1] == round(clean_print.shape[1] * 500 / 600)


def test_read_errors_name_the_file(files, tmp_path):
    with pytest.raises(ImageReadError, match="corrupt.png"):
        read_fingerprint(files["bad"])
    with pytest.raises(ImageReadError, match="missing.png: no such file"):
        read_fingerprint(tmp_path / "missing.png")
    fake_wsq = tmp_path / "fake.wsq"
    fake_wsq.write_bytes(b"\xff\xa0" + b"\x00" * 50)
    with pytest.raises(ImageReadError, match="fake.wsq"):
        read_fingerprint(fake_wsq)


def test_resampler_output_size_matches_nfir():
    from ifb1.quality.resample import resample_to_500

    img = (np.random.default_rng(0).random((560, 296)) * 255).astype(np.uint8)
    assert resample_to_500(img, 569).shape == (492, 260)  # NFIQ 2's DB2 size


# --- feedback ----------------------------------------------------------------------------------

def _codes(img: np.ndarray) -> tuple[str, ...]:
    from ifb1.quality.lcs import lcs_features
    from ifb1.quality.ocl import ocl_features

    feats = {**lcs_features(img), **ocl_features(img), "FingerJetFX_MinutiaeCount": 40.0}
    return print_feedback(img, features=feats).codes


def test_nfiq2_actionable_thresholds():
    good = {"UniformImage": 30.0, "EmptyImageOrContrastTooLow": 200.0,
            "FingerprintImageWithMinutiae": 40.0, "SufficientFingerprintForeground": 90000.0}
    assert nfiq2_actionable_codes(good) == []
    assert nfiq2_actionable_codes({**good, "UniformImage": 0.99}) == ["uniform_image"]
    assert nfiq2_actionable_codes({**good, "UniformImage": 1.0}) == []
    assert nfiq2_actionable_codes({**good, "EmptyImageOrContrastTooLow": 250.01}) == ["empty_or_low_contrast"]
    assert nfiq2_actionable_codes({**good, "FingerprintImageWithMinutiae": 4}) == ["few_minutiae"]
    assert nfiq2_actionable_codes({**good, "SufficientFingerprintForeground": 49999}) == ["too_small"]
    assert NFIQ2_ACTIONABLE_THRESHOLDS["SufficientFingerprintForeground"] == 50000.0


def test_feedback_names_the_damage(clean_print):
    assert not {"too_dark", "too_light", "smudged", "creased"} & set(_codes(clean_print))
    assert "too_dark" in _codes(_print(7, over_ink=0.9))
    assert "too_light" in _codes(_print(7, under_ink=0.9))
    assert "creased" in _codes(_print(7, crease=0.9))
    assert "smudged" in _codes(_print(7, smudge=0.9))


def test_feedback_geometry_and_messages(clean_print):
    h, w = clean_print.shape
    shifted = np.full_like(clean_print, 255)
    shifted[:, w // 2:] = clean_print[:, : w - w // 2]  # half the print pushed out of the box
    codes = _codes(shifted)
    assert "partial" in codes or "off_centre" in codes
    fb = print_feedback(clean_print, features={}, params=FeedbackParams(min_area_mm2=5000))
    assert "too_small" in fb.codes
    assert fb.messages == tuple(MESSAGES[c] for c in fb.codes)
    assert fb.actionable["SufficientFingerprintForeground"] > 50000


# --- command line ------------------------------------------------------------------------------

def test_cli_json_scores_good_files_and_reports_the_bad_one(files):
    args = ["quality", "--json", str(files["png"]), str(files["bad"]), str(files["tif"]), str(files["wsq"])]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output
    lines = [json.loads(x) for x in res.output.strip().splitlines()]
    assert [r["source"] for r in lines] == [str(files[k]) for k in ("png", "bad", "tif", "wsq")]
    png, bad, tif, wsq = lines
    assert bad["quality"] is None and str(files["bad"]) in bad["error"]
    for r in (png, tif, wsq):
        assert r["error"] is None, r["error"]
        assert isinstance(r["quality"], int) and 0 <= r["quality"] <= 100
        assert len(r["features"]) == 69
        assert set(r["actionable"]) == set(NFIQ2_ACTIONABLE_THRESHOLDS)
        assert set(r["feedback"]) == {"codes", "messages"}
    assert png["resampled_from"] is None and tif["resampled_from"] == 1000
    # The same print through a lossless and a lossy or resampled path scores alike.
    assert abs(png["quality"] - wsq["quality"]) <= 25


def test_cli_human_lines_and_exit_codes(files):
    ok = CliRunner().invoke(main, ["quality", str(files["png"]), str(files["bmp"])])
    assert ok.exit_code == 0, ok.output
    out = ok.output.strip().splitlines()
    assert out[0].startswith(f"{files['png']}: NFIQ 2 = ")
    assert "500 assumed" in out[1]
    blank = CliRunner().invoke(main, ["quality", "--json", str(files["blank"])])
    assert blank.exit_code == 1
    r = json.loads(blank.output)
    assert r["quality"] is None and "uniform_image" in r["feedback"]["codes"]
    forced = CliRunner().invoke(main, ["quality", "--json", "--ppi", "1000", str(files["tif"])])
    assert json.loads(forced.output)["ppi_source"] == "option"
