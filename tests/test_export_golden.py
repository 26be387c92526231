"""Whole-run export check: one generated form, from scan to ANSI/NIST-ITL transaction.

Every WSQ image is decoded and compared with the form's 500 ppi crop, and the
transaction's layout (record order, every field and its value) is compared with
a golden file. Values that legitimately vary (dates, lengths, pixel sizes, the
NFIQ 2 score) are masked; everything structural is pinned. After an intended
layout change, regenerate the golden file with ``IFB1_UPDATE_GOLDEN=1``.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from ifb1.export import parse_transaction
from ifb1.batch import build_export
from ifb1.pipeline.form import ProcessOptions, process_form
from ifb1.samples.generate import FormOptions, generate_form, save_scan

GOLDEN = Path(__file__).with_name("golden") / "export_layout.json"
# (record type, field) whose values vary by run, machine or scoring detail.
MASKED = {(1, 1), (1, 5), (1, 14), (2, 1), (14, 1), (14, 5), (14, 6), (14, 7), (14, 999)}


def layout(data: bytes) -> list:
    import nistitl

    msg = nistitl.Message()
    msg.parse(data)
    records = []
    for rec in msg._records:
        fields = {}
        for tag in range(1, 1000):
            f = rec[tag]
            if f is None:
                continue
            if (rec.type, tag) in MASKED:
                value = "*"
            elif rec.type == 14 and tag == 24:  # FQM: finger, QVU (masked), vendor, product
                value = [[sf.values[0], "*", sf.values[2], sf.values[3]] for sf in f._subfields]
            elif getattr(f, "_subfields", None):
                value = [sf.values if sf.values else sf.value for sf in f._subfields]
            else:
                value = f.value
            fields[f"{rec.type}.{tag:03d}"] = value
        records.append(fields)
    return records


@pytest.fixture(scope="module")
def form(tmp_path_factory):
    # Seed 5, form 24: a suitable original whose left ring finger (9) is marked "XX", every other
    # print found.
    g = generate_form(5, 24, options=FormOptions(ppi=300, missing_rate=1.0, annotation_rate=1.0,
                                                poor_inking_rate=0.05, upside_down=False))
    path = tmp_path_factory.mktemp("golden") / "form.png"
    save_scan(g, path, fmt="png", ppi_in_metadata=300)
    # As the nightly batch processes it: a form to export is scored by NIST's NFIQ 2.
    result = process_form(path, options=ProcessOptions(for_export=True))
    assert result.verdict.verdict == "suitable", result.verdict
    return g, result, build_export(result, case_ref="CCU/2026/0001", policy=ProcessOptions().policy)


def test_every_wsq_image_is_the_stored_and_scored_image(form):
    """One image per print: what is exported decodes to exactly the pixels stored and scored."""
    from ifb1.quality.nist import nist_available, score_nist

    g, result, data = form
    t = parse_transaction(data)
    crops = {p.position: p for p in result.prints if p.present}
    exported = {p.position: p for p in t.prints if p.image is not None}
    assert sorted(exported) == sorted(crops)
    for pos, p in exported.items():
        stored = crops[pos]
        assert p.ppi == 500 and np.array_equal(p.image, stored.image), pos
        # the image is the print's region inside the box, not the whole box
        x0, y0, x1, y1 = stored.image_box_px
        assert stored.image.shape == (y1 - y0, x1 - x0)
        if pos <= 12 and nist_available():
            # 14.024 is NIST NFIQ 2 of the decoded 14.999 image
            assert stored.scorer == "nist" and p.quality[0][1] == score_nist(p.image).quality == stored.quality, pos


def test_transaction_layout_matches_golden(form):
    g, result, data = form
    got = layout(data)
    if os.environ.get("IFB1_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=1) + "\n")
    assert got == json.loads(GOLDEN.read_text())
    # The annotated finger is there as an image-less record with 14.018 AMP = (9, XX).
    amputated = [r for r in got if r.get("14.018")]
    assert amputated == [r for r in got if r.get("14.013") == "9"]
    assert amputated[0]["14.018"] == [["9", "XX"]] and "14.999" not in amputated[0]
