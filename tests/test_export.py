import datetime as dt
import stat

import numpy as np
import pytest

from ifb1.export import (
    ExportConfig,
    ExportPrint,
    build_transaction,
    parse_transaction,
    wsq_decode,
    wsq_encode,
    write_transaction,
)

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.timezone.utc)


def grating(h=520, w=480, period=9.0, angle=0.6):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = 2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period
    return (128 + 90 * np.sin(phase)).astype(np.uint8)


def form_prints():
    img = grating()
    return [
        ExportPrint(1, "rolled", img, quality=61, quality_scorer="nist"),
        ExportPrint(2, "rolled", missing=((2, "XX"),)),
        ExportPrint(3, "rolled", grating(angle=1.2), quality=None, quality_failed=True, quality_scorer="nist"),
        ExportPrint(4, "rolled"),  # empty, not annotated: left out
        ExportPrint(13, "plain", grating(600, 700), missing=((5, "UP"),)),
    ]


def test_wsq_round_trip_is_close_and_at_0_75_bpp():
    img = grating()
    data = wsq_encode(img)
    decoded, ppi = wsq_decode(data)
    assert ppi == 500 and decoded.shape == img.shape
    # 0.75 bpp target: the NBIS encoder lands close to it
    assert 0.4 < len(data) * 8 / img.size < 0.9
    assert np.abs(decoded.astype(int) - img).mean() < 6


def test_transaction_parses_back_with_every_record():
    data = build_transaction(form_prints(), form_id="IFB1-2026-000042", case_ref="CCU/2026/77", now=NOW)
    t = parse_transaction(data)
    assert t.version == "0502"
    assert t.control_number == "IFB1-2026-000042"
    assert t.date == "20261122"
    assert t.originating_agency == "NSEC" and t.destination_agency == "IABS"
    assert t.type2 == {9: "CCU/2026/77", 10: "IFB1-2026-000042", 56: "Op Innerste"}
    by_pos = {p.position: p for p in t.prints}
    assert sorted(by_pos) == [1, 2, 3, 13]
    assert [p.idc for p in t.prints] == [1, 2, 3, 4]
    assert by_pos[1].impression_code == "3" and by_pos[13].impression_code == "2"
    assert by_pos[1].quality == ((1, 61, "0101", 0x39),)
    assert by_pos[3].quality[0][1] == 255  # scoring failed
    assert by_pos[2].image is None and by_pos[2].missing == ((2, "XX"),)
    # slap: quality for the three present fingers (not computed yet), AMP for the fourth
    assert [q[0] for q in by_pos[13].quality] == [2, 3, 4] and by_pos[13].quality[0][1] == 254
    assert by_pos[13].missing == ((5, "UP"),)
    for pos, original in ((1, grating()), (13, grating(600, 700))):
        assert by_pos[pos].image.shape == original.shape
        assert np.abs(by_pos[pos].image.astype(int) - original).mean() < 6


def test_fast_estimate_is_never_written_under_nist_ids():
    """ifb1's own score goes under the agency's IBIA vendor id when it has one, else 14.024 is left out."""
    from ifb1.export import ExportConfig

    prints = [ExportPrint(1, "rolled", grating(), quality=55, quality_scorer="fast"),
              ExportPrint(2, "rolled", grating(angle=1.0), quality=48, quality_scorer="nist"),
              ExportPrint(3, "rolled", grating(angle=1.2), quality=None, quality_failed=True, quality_scorer="fast")]
    by_pos = {p.position: p for p in parse_transaction(
        build_transaction(prints, form_id="IFB1-2026-000042", now=NOW)).prints}
    assert by_pos[1].quality == () and by_pos[3].quality == ()
    assert by_pos[2].quality == ((2, 48, "0101", 0x39),)
    local = ExportConfig(local_quality_vendor="0f1a", local_quality_product=7)
    by_pos = {p.position: p for p in parse_transaction(
        build_transaction(prints, form_id="IFB1-2026-000042", now=NOW, config=local)).prints}
    assert by_pos[1].quality == ((1, 55, "0F1A", 7),) and by_pos[3].quality == ((3, 255, "0F1A", 7),)
    assert by_pos[2].quality == ((2, 48, "0101", 0x39),)
    with pytest.raises(ValueError, match="local_quality_vendor"):
        ExportConfig(local_quality_vendor="NIST")


def test_precomputed_wsq_is_embedded_as_it_is():
    img = grating()
    data = wsq_encode(img)
    decoded, _ = wsq_decode(data)
    t = parse_transaction(build_transaction([ExportPrint(1, "rolled", decoded, quality=50, quality_scorer="nist",
                                                         wsq=data)], form_id="IFB1-2026-000042", now=NOW))
    assert np.array_equal(t.prints[0].image, decoded)


def test_bad_form_id_and_fields_are_refused():
    with pytest.raises(ValueError, match="form id"):
        build_transaction(form_prints(), form_id="../../etc/passwd", now=NOW)
    with pytest.raises(ValueError, match="case reference"):
        build_transaction(form_prints(), form_id="IFB1-2026-000042", case_ref="a\x1db", now=NOW)
    with pytest.raises(ValueError, match="amputation code"):
        build_transaction([ExportPrint(2, "rolled", missing=((2, "AMP"),))], form_id="IFB1-2026-000042", now=NOW)
    with pytest.raises(ValueError, match="type2_fields"):
        ExportConfig(type2_fields={"form_id": 10, "case_ref": 10, "comment": 56})


def test_write_is_atomic_owner_only_and_refuses_a_second_export(tmp_path):
    data = build_transaction(form_prints(), form_id="IFB1-2026-000042", now=NOW)
    path = write_transaction(data, tmp_path / "exports", form_id="IFB1-2026-000042")
    assert path.name == "IFB1-2026-000042.an2" and path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError, match="already exported"):
        write_transaction(data, tmp_path / "exports", form_id="IFB1-2026-000042")
    write_transaction(b"x" + data[1:], tmp_path / "exports", form_id="IFB1-2026-000042", force=True)
    assert [p.name for p in (tmp_path / "exports").iterdir()] == ["IFB1-2026-000042.an2"]
