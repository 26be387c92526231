"""Hand-written annotations ("AMP", "XX", "UP") in empty print boxes: reader, verdict, export."""

import cv2
import numpy as np
import pytest

from ifb1.export import parse_transaction
from ifb1.pipeline.annotation import Annotation, read_annotation
from ifb1.batch import build_export
from ifb1.pipeline.form import ProcessOptions, process_form
from ifb1.pipeline.policy import load_policy
from ifb1.pipeline.read import read_scan
from ifb1.samples.form import Pen, write_by_hand
from ifb1.samples.generate import FormOptions, generate_form, save_scan

K = 500 / 25.4  # px per mm at 500 ppi
BOX = (713, 713)  # a rolled box's inner crop at 500 ppi


def paper(rng, shape=BOX, level=235.0):
    """Paper with a shading gradient and scanner noise."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = level - 8.0 * xx / shape[1] - 5.0 * yy / shape[0] + rng.normal(0, 2.0, shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def written(code, seed, *, height_mm, pen_mm=0.35, ink=55):
    rng = np.random.default_rng(seed)
    img = paper(rng)
    at = (BOX[1] / 2 - height_mm * K * len(code) * 0.4 + rng.normal(0, 40), BOX[0] / 2 - height_mm * K / 2 + rng.normal(0, 40))
    write_by_hand(img, code, at, height_px=height_mm * K, rng=rng, pen=Pen(ink=ink, width_mm=pen_mm), ppi=500)
    return img


def other_font(code, font, seed, *, height_mm=6.0, pen_px=5, slant=0.15):
    """Another hand: a Hershey font other than the generator's, slanted and tilted."""
    rng = np.random.default_rng(seed)
    img = paper(rng)
    cov = np.zeros(BOX, np.uint8)
    scale = height_mm * K / 21.0
    (tw, th), _ = cv2.getTextSize(code, font, scale, pen_px)
    cv2.putText(cov, code, (int(BOX[1] / 2 - tw / 2), int(BOX[0] / 2 + th / 2)), font, scale, 255, pen_px, cv2.LINE_AA)
    m = cv2.getRotationMatrix2D((BOX[1] / 2, BOX[0] / 2), float(rng.normal(0, 4)), 1.0)
    m[0, 1] -= slant
    cov = cv2.warpAffine(cov, m, BOX[::-1]).astype(np.float32) / 255
    return np.clip(img * (1 - cov) + 70 * cov, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("code", ["AMP", "UP", "XX"])
def test_each_code_is_read_in_the_generators_hand(code):
    for seed, h in ((1, 5.0), (2, 6.5), (3, 8.0)):
        a = read_annotation(written(code, seed, height_mm=h))
        assert a.kind == "annotated" and a.code == code, (seed, h, a)
        assert a.confidence >= 0.75 and a.bbox is not None


@pytest.mark.parametrize("font", [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX,
                                  cv2.FONT_HERSHEY_COMPLEX | cv2.FONT_ITALIC, cv2.FONT_HERSHEY_SCRIPT_COMPLEX])
def test_codes_are_read_in_other_hands(font):
    got = {code: read_annotation(other_font(code, font, 7)).code for code in ("AMP", "UP", "XX")}
    assert got == {"AMP": "AMP", "UP": "UP", "XX": "XX"}


def test_amp_exports_as_xx_and_uncertain_writing_is_up():
    a = read_annotation(written("AMP", 4, height_mm=6.0))
    assert (a.code, a.ansi_nist_code) == ("AMP", "XX")
    assert read_annotation(written("XX", 4, height_mm=6.0)).ansi_nist_code == "XX"
    assert read_annotation(written("UP", 4, height_mm=6.0)).ansi_nist_code == "UP"
    # A scribbled word that is none of the codes: writing, code uncertain -> UP, low confidence.
    b = read_annotation(written("WMWMW", 5, height_mm=6.0))
    assert b.kind == "annotated" and b.code == "UP" and b.confidence < 0.5, b
    assert Annotation(None, "blank", 1.0, "").ansi_nist_code is None


def test_blank_boxes_and_dust_are_blank():
    rng = np.random.default_rng(9)
    for level in (215.0, 240.0):
        img = paper(rng, level=level)
        a = read_annotation(img)
        assert a.kind == "blank" and a.code is None, a
    img = paper(rng)
    for x, y in rng.integers(50, 650, size=(12, 2)):  # dust specks and a short tick
        cv2.circle(img, (int(x), int(y)), 2, 60, -1)
    cv2.line(img, (300, 300), (330, 310), 60, 3)
    assert read_annotation(img).kind == "blank"
    # the printed border line left at the crop's edge is no writing either
    img = paper(rng)
    img[:, :8] = 40
    assert read_annotation(img).kind == "blank"


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="2-D uint8"):
        read_annotation(np.zeros((50, 50), np.float32))
    with pytest.raises(ValueError, match="mask shape"):
        read_annotation(np.full((50, 50), 230, np.uint8), mask=np.zeros((10, 10), bool))


# --------------------------------------------------------------------------- generated forms

SEED = 21
# (index, options): two forms whose missing rolled fingers are all annotated
# (UP on a thumb, so the plain thumb box is empty and annotated too; XX and AMP),
# and one whose missing finger's box is left blank.
FORMS = {
    1: dict(ppi=300, missing_rate=1.0, annotation_rate=1.0, poor_inking_rate=0.0, upside_down=False),
    4: dict(ppi=300, missing_rate=1.0, annotation_rate=1.0, poor_inking_rate=0.0, upside_down=False),
    6: dict(ppi=300, missing_rate=1.0, annotation_rate=0.0, poor_inking_rate=0.0, upside_down=False),
}


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    d = tmp_path_factory.mktemp("ann")
    out = {}
    for index, opts in FORMS.items():
        path = d / f"form_{index}.png"
        truth = save_scan(generate_form(SEED, index, options=FormOptions(**opts)), path, fmt="png", ppi_in_metadata=300)
        out[index] = (path, truth)
    return out


def test_empty_boxes_of_generated_forms_are_read(forms):
    seen = set()
    for path, truth in forms.values():
        (reading,) = read_scan(path)
        boxes = {b.position: b for b in reading.boxes}
        d = {p["position"]: p for p in reading.to_dict()["prints"]}
        for t in truth["boxes"]:
            b = boxes[t["position"]]
            if t["present"]:
                assert b.present and b.annotation is None and d[t["position"]]["annotation"] is None
                continue
            assert not b.present, t
            a = b.annotation
            if t["annotation"] is None:
                assert a.kind == "blank", (path.name, t["position"], a)
            else:
                assert a.kind == "annotated" and a.code == t["annotation"], (path.name, t["position"], a)
            assert d[t["position"]]["annotation"]["code"] == a.code
            seen.add(t["annotation"])
    assert seen >= {"AMP", "UP", "XX", None}  # the set covers every code and a blank box


def test_a_box_with_a_print_reads_as_print(forms):
    path, truth = forms[6]
    (reading,) = read_scan(path)
    b = next(b for b in reading.boxes if b.present and b.position <= 10)
    a = read_annotation(b.crop)
    assert a.kind == "print" and a.code is None, a


def test_annotated_missing_finger_is_no_defect_and_is_exported_as_14_018(forms):
    policy = load_policy()
    path, truth = forms[4]
    marked = {t["position"]: t["annotation"] for t in truth["boxes"] if not t["present"]}
    assert set(marked.values()) >= {"AMP", "XX"}
    result = process_form(path, options=ProcessOptions(preview_height=0, policy=policy))
    assert result.ok and result.verdict.verdict == "suitable", result.verdict
    for pos in (p for p in marked if p <= 10):
        assert pos not in result.verdict.defective_positions
    by_pos = {p.position: p for p in result.prints}
    assert {pos: by_pos[pos].annotation_code for pos in marked} == marked
    assert result.to_dict()["prints"][min(marked) - 1]["annotation"]["code"] == marked[min(marked)]

    t = parse_transaction(build_export(result, case_ref="CASE-1", policy=policy))
    missing = {p.position: p.missing for p in t.prints if p.missing}
    expected = {pos: ((pos, "XX" if code in ("AMP", "XX") else "UP"),) for pos, code in marked.items() if pos <= 10}
    assert missing == expected
    assert all(p.image is None for p in t.prints if p.position in expected)

    # The thumb marked UP: its rolled box and its plain-thumb box both carry 14.018 (finger 6).
    path, truth = forms[1]
    result = process_form(path, options=ProcessOptions(preview_height=0, policy=policy))
    t = parse_transaction(build_export(result, case_ref=None, policy=policy))
    missing = {p.position: p.missing for p in t.prints if p.missing}
    assert missing == {6: ((6, "UP"),), 12: ((6, "UP"),)}


def test_blank_missing_box_is_still_a_defect(forms):
    path, truth = forms[6]
    blank = [t["position"] for t in truth["boxes"] if not t["present"] and t["position"] <= 10]
    assert blank
    result = process_form(path, options=ProcessOptions(preview_height=0))
    for pos in blank:
        assert pos in result.verdict.defective_positions
        assert any(f"finger {pos}: no print and no reason marked" in r for r in result.verdict.reasons)


def test_re_export_from_the_record_keeps_14_018(forms, tmp_path):
    """`ifb1 export --force` rebuilds the transaction from the record: the annotations are there too."""
    import os
    import shutil

    from click.testing import CliRunner

    from ifb1.batch import Progress, run_batch
    from ifb1.commands.batch import export
    from ifb1.records import open_record

    path, truth = forms[4]
    marked = {t["position"]: t["annotation"] for t in truth["boxes"] if not t["present"]}
    expected = {pos: ((pos, "XX" if code in ("AMP", "XX") else "UP"),) for pos, code in marked.items() if pos <= 10}
    assert expected
    tray, out, data = tmp_path / "tray", tmp_path / "out", tmp_path / "data"
    tray.mkdir()
    shutil.copy(path, tray / path.name)
    with open(os.devnull, "w") as quiet:
        s = run_batch(tray, out=out, data=data, progress=lambda n: Progress(n, stream=quiet))
    (f,) = s.files
    assert (f.verdict, f.export) == ("suitable", "exported"), f
    with open_record(data, readonly=True) as rec:  # the text read is kept per box, as written
        recorded = {p.position: p.annotation_code for p in rec.prints(f.form_key) if p.annotation_code}
    assert recorded == {pos: code for pos, code in marked.items() if code}

    res = CliRunner().invoke(export, ["--data", str(data), "--out", str(tmp_path / "again"),
                                      "--form-id", f.form_id, "--force"])
    assert res.exit_code == 0 and "EXPORTED" in res.output, res.output
    again = parse_transaction((tmp_path / "again" / f"{f.form_id}.an2").read_bytes())
    first = parse_transaction((out / "exports" / f"{f.form_id}.an2").read_bytes())
    assert {p.position: p.missing for p in again.prints if p.missing} == expected
    assert [(p.position, p.missing) for p in again.prints] == [(p.position, p.missing) for p in first.prints]
