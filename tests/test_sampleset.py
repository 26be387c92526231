"""Sample-set runs (`ifb1 quality` on folders): listing, workers, NIST's CSV, resuming, Dask (generated prints only)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat

import numpy as np
import pytest
from click.testing import CliRunner

from ifb1.cli import main
from ifb1.sampleset.engine import WorkerDied, map_ordered, map_unordered
from ifb1.sampleset.listing import list_images
from ifb1.sampleset.nfiq2csv import HEADER, STATE_SUFFIX, CsvError, ResumableCsv, format_double, row_line
from ifb1.sampleset.progress import Progress, progress_line
from ifb1.sampleset.run import SampleSetOptions, run_sampleset


def _print(seed: int) -> np.ndarray:
    """A generated rolled print, cropped to 400 x 400 px (fast to score, big enough for NIST's NFIQ 2)."""
    from ifb1.samples.fingerprint import make_master
    from ifb1.samples.impression import rolled_impression
    from ifb1.samples.ink import Damage, ink_print

    rng = np.random.default_rng(seed)
    p = ink_print(rolled_impression(make_master(rng, finger=1 + seed % 10), rng), rng, damage=Damage())
    img = np.clip(np.rint(255 * (1 - p.density)), 0, 255).astype(np.uint8)
    h, w = img.shape
    y, x = max(0, h // 2 - 200), max(0, w // 2 - 200)
    return np.pad(img[y:y + 400, x:x + 400], 12, constant_values=255)


@pytest.fixture(scope="module")
def sample_set(tmp_path_factory):
    """A folder of 5 prints (one in a subfolder), a hidden file and folder, and a note that is no image."""
    import cv2

    root = tmp_path_factory.mktemp("set")
    (root / "b").mkdir()
    (root / ".hidden").mkdir()
    names = ["a1.png", "a2.png", "b/c1.png", "z.png", "a-0.png"]
    for k, name in enumerate(names):
        cv2.imwrite(str(root / name), _print(k))
    shutil.copy(root / "a1.png", root / ".hidden" / "x.png")
    shutil.copy(root / "a1.png", root / ".dot.png")
    (root / "notes.txt").write_text("not a print\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def reference_csv(sample_set, tmp_path_factory):
    """The CSV of an uninterrupted one-process run."""
    out = tmp_path_factory.mktemp("ref") / "ref.csv"
    s = run_sampleset([str(sample_set)], csv_path=out)
    assert (s.files, s.scored, s.failed, s.skipped) == (5, 5, 0, 0)
    return out.read_bytes()


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


# ----------------------------------------------------------------------------- listing


def test_listing_walks_sorted_skips_hidden_and_non_images(sample_set, tmp_path):
    files = list_images([str(sample_set)])
    rel = [os.path.relpath(f, sample_set) for f in files]
    # Sorted by path components: "b/c1.png" after "a2.png" and before "z.png"; "a-0" before "a1".
    assert rel == ["a-0.png", "a1.png", "a2.png", os.path.join("b", "c1.png"), "z.png"]
    # A file named directly is taken whatever its suffix, even missing; each path once.
    note = str(sample_set / "notes.txt")
    missing = str(tmp_path / "missing.png")
    again = list_images([note, str(sample_set / "z.png"), str(sample_set), missing])
    assert again[:2] == [note, str(sample_set / "z.png")]
    assert again.count(str(sample_set / "z.png")) == 1 and again[-1] == missing and len(again) == 7


# ----------------------------------------------------------------------------- NIST's CSV


def test_header_is_nist_nfiq2_with_actionable_and_native_columns():
    # As `nfiq2 -a -v` prints it (NFIQ 2.3, nfiq2_ui_log.cpp): actionable before native.
    expected = (
        '"Filename",FingerCode,QualityScore,"OptionalError",Quantized,Resampled,'
        "UniformImage,EmptyImageOrContrastTooLow,FingerprintImageWithMinutiae,SufficientFingerprintForeground,"
        + ",".join(f"FDA_Bin10_{s}" for s in [*range(10), "Mean", "StdDev"]) + ","
        "FingerJetFX_MinCount_COMMinRect200x200,FingerJetFX_MinutiaeCount,FJFXPos_Mu_MinutiaeQuality_2,"
        "FJFXPos_OCL_MinutiaeQuality_80,ImgProcROIArea_Mean,"
        + ",".join(f"LCS_Bin10_{s}" for s in [*range(10), "Mean", "StdDev"]) + ",MMB,Mu,"
        + ",".join(f"OCL_Bin10_{s}" for s in [*range(10), "Mean", "StdDev"]) + ","
        + ",".join(f"OF_Bin10_{s}" for s in [*range(10), "Mean", "StdDev"]) + ","
        "OrientationMap_ROIFilter_CoherenceRel,OrientationMap_ROIFilter_CoherenceSum,"
        + ",".join(f"RVUP_Bin10_{s}" for s in [*range(10), "Mean", "StdDev"]) + "\n")
    assert HEADER == expected
    from ifb1.quality.features import FEATURE_NAMES

    assert HEADER.rstrip("\n").split(",")[10:] == list(FEATURE_NAMES)


def test_format_double_as_nist():
    assert format_double(0.0) == "0" and format_double(-0.0) == "0"
    assert format_double(42.0) == "42" and format_double(-3.0) == "-3"
    assert format_double(0.1234567) == "0.12345"  # %f gives 0.123457, cut (not rounded) to 5 decimals
    assert format_double(-2.5) == "-2.50000"
    assert format_double(0.9999996) == "1.00000"
    assert format_double(1e-320) == "0.000000"  # subnormal: std::to_string as is
    assert format_double(float("nan")) == "nan" and format_double(float("inf")) == "inf"


def test_rows_scored_and_failed(sample_set, reference_csv, tmp_path):
    rows = _rows(reference_csv)
    assert len(rows) == 6 and all(len(r) == 79 for r in rows)
    names = [r[0] for r in rows[1:]]
    assert names == list_images([str(sample_set)])
    for r in rows[1:]:
        assert r[1] == "0" and 0 <= int(r[2]) <= 100 and r[3] == "" and r[4:6] == ["0", "0"]
        assert all(v not in ("", "NA") for v in r[6:])
    bad = {"source": "x", "quality": None, "error": 'x: not a "readable"\nimage', "resampled_from": 1000.0}
    line = row_line('we"ird\n.png', bad, quantized=True)
    assert line.count("\n") == 1 and line.endswith("\n")
    (r,) = _rows(line.encode())
    assert r[:6] == ['we"ird\\n.png', "0", "NA", "x: not a 'readable' image", "1", "1"] and r[6:] == ["NA"] * 73


def test_workers_2_equals_workers_1(sample_set, reference_csv, tmp_path):
    seen = []
    s = run_sampleset([str(sample_set)], options=SampleSetOptions(workers=2), csv_path=tmp_path / "w2.csv",
                      on_result=lambda r: seen.append(r.path))
    assert s.where == "2 processes" and s.scored == 5
    assert seen == list_images([str(sample_set)])  # in listing order, though two workers ran
    assert (tmp_path / "w2.csv").read_bytes() == reference_csv


def test_files_are_owner_only(sample_set, tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "new" / "q.csv"
        run_sampleset([str(sample_set / "z.png")], csv_path=out)
    finally:
        os.umask(old)
    for p in (out, out.with_name("q.csv" + STATE_SUFFIX)):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700


# ----------------------------------------------------------------------------- resuming


def _cut(path, keep_rows: int, tail: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[: 1 + keep_rows]) + tail)


def test_resume_after_a_kill_skips_done_files_and_appends(sample_set, reference_csv, tmp_path):
    out = tmp_path / "r.csv"
    state = tmp_path / ("r.csv" + STATE_SUFFIX)
    run_sampleset([str(sample_set)], csv_path=out)
    ref_lines = reference_csv.splitlines(keepends=True)
    # Killed: rows 1-2 complete with their state lines, row 3 complete but its state line
    # never written, row 4 half-written.
    _cut(out, 3, ref_lines[4][:37])
    _cut(state, 2, b'{"file": "')
    seen = []
    s = run_sampleset([str(sample_set)], csv_path=out, on_result=lambda r: seen.append(os.path.basename(r.path)))
    assert s.skipped == 2 and s.scored == 5
    assert seen == ["a2.png", "c1.png", "z.png"]
    assert out.read_bytes() == reference_csv  # nothing lost, nothing twice, same bytes
    assert len(state.read_bytes().splitlines()) == 6
    # A third run finds everything done.
    again = run_sampleset([str(sample_set)], csv_path=out, on_result=lambda r: pytest.fail("scored again"))
    assert again.skipped == 5 and out.read_bytes() == reference_csv


def test_changed_content_is_scored_again(sample_set, tmp_path):
    import cv2

    work = tmp_path / "set"
    shutil.copytree(sample_set, work)
    out = tmp_path / "c.csv"
    run_sampleset([str(work)], csv_path=out)
    before = _rows(out.read_bytes())
    cv2.imwrite(str(work / "a1.png"), _print(11))  # same path, other print
    seen = []
    s = run_sampleset([str(work)], csv_path=out, on_result=lambda r: seen.append(os.path.basename(r.path)))
    assert seen == ["a1.png"] and s.skipped == 4
    after = _rows(out.read_bytes())
    assert [r[0] for r in after].count(str(work / "a1.png")) == 1
    assert after[-1][0] == str(work / "a1.png") and after[-1] != before[2]
    assert after[1:-1] == [r for r in before[1:] if r[0] != str(work / "a1.png")]


def test_a_csv_that_is_not_ours_is_left_alone(sample_set, tmp_path):
    foreign = tmp_path / "nist.csv"
    foreign.write_bytes(b'"Filename",FingerCode,QualityScore\n"x.png",0,40\n')
    res = CliRunner().invoke(main, ["quality", str(sample_set / "z.png"), "--csv", str(foreign)])
    assert res.exit_code == 2 and "nist.csv" in res.output and "nothing was changed" in res.output
    assert foreign.read_bytes() == b'"Filename",FingerCode,QualityScore\n"x.png",0,40\n'
    assert not (tmp_path / ("nist.csv" + STATE_SUFFIX)).exists()
    # Resuming with the other scorer is refused too; and one run at a time.
    out = tmp_path / "f.csv"
    run_sampleset([str(sample_set / "z.png")], csv_path=out)
    with pytest.raises(CsvError, match="--scorer fast"):
        with ResumableCsv(out, scorer="nist", ppi=None):
            pass
    with ResumableCsv(out, scorer="fast", ppi=None):
        with pytest.raises(CsvError, match="another ifb1 run"):
            with ResumableCsv(out, scorer="fast", ppi=None):
                pass
    # An edited CSV (a row in the middle no longer matches) is not silently trimmed.
    data = out.read_bytes()
    out.write_bytes(data.replace(b",0,0,", b",0,1,", 1))
    with pytest.raises(CsvError, match="edited"):
        with ResumableCsv(out, scorer="fast", ppi=None):
            pass


# ----------------------------------------------------------------------------- command line


def test_cli_folder_csv_summary_and_exit_status(sample_set, reference_csv, tmp_path):
    out = tmp_path / "cli.csv"
    res = CliRunner().invoke(main, ["quality", str(sample_set), "--csv", str(out), "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == reference_csv
    assert "5 file(s): 5 scored, 0 not scored" in res.output and "90-100" in res.output
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    res = CliRunner().invoke(main, ["quality", "--json", str(bad), str(sample_set / "z.png")])
    assert res.exit_code == 1
    lines = [json.loads(x) for x in res.output.strip().splitlines()]
    assert [r["source"] for r in lines] == [str(bad), str(sample_set / "z.png")] and lines[0]["quality"] is None
    use = CliRunner().invoke(main, ["quality", str(bad), "--ship-files"])
    assert use.exit_code == 2 and "--scheduler" in use.output


def test_progress_line_and_bar():
    assert progress_line(100, 400, 10.0, failed=2) == (
        "[######..................] 100/400 prints 25% 10.0/s 0:00:30 left, 2 not scored")
    assert progress_line(0, 5, 0.0, bar=False) == "0/5 prints 0% 0.0/s --:--:-- left"
    t = iter([0.0, 1.0, 2.0, 7.0, 8.0])
    buf = io.StringIO()
    p = Progress(3, stream=buf, tty=False, every=5.0, clock=lambda: next(t))
    p.update(scored=True)   # t=1: first line
    p.update(scored=False)  # t=2: within 5 s, not drawn
    p.update(scored=True)   # t=7: the last one is always drawn
    p.close()
    assert buf.getvalue().splitlines() == ["1/3 prints 33% 1.0/s 0:00:02 left",
                                           "3/3 prints 100% 0.4/s 0:00:00 left, 1 not scored"]


# ----------------------------------------------------------------------------- the engine


def double_or_die(x: int) -> int:
    """Test task: kills its worker process on 3, raises on 5."""
    if x == 3:
        os._exit(7)
    if x == 5:
        raise ValueError("five")
    return 2 * x


def test_engine_survives_a_dying_worker_and_reports_errors():
    got = dict(map_unordered(double_or_die, range(8), workers=2, window=4,
                             on_error=lambda item, exc: type(exc).__name__))
    assert got == {0: 0, 1: 2, 2: 4, 3: "WorkerDied", 4: 8, 5: "ValueError", 6: 12, 7: 14}
    assert list(map_ordered(double_or_die, [0, 1, 2, 4], workers=2, window=2)) == [0, 2, 4, 8]
    with pytest.raises(ValueError, match="five"):
        list(map_ordered(double_or_die, [5], workers=1))
    assert issubclass(WorkerDied, RuntimeError)


# ----------------------------------------------------------------------------- Dask


def test_dask_local_cluster_equals_local_run(sample_set, reference_csv, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        addr = cluster.scheduler_address
        assert addr.startswith("tcp://127.0.0.1:")
        shared = tmp_path / "shared.csv"
        res = CliRunner().invoke(main, ["quality", str(sample_set), "--csv", str(shared), "--scheduler", addr])
        assert res.exit_code == 0, res.output
        assert shared.read_bytes() == reference_csv and "Dask cluster" in res.output
        shipped = tmp_path / "shipped.csv"
        s = run_sampleset([str(sample_set)], csv_path=shipped,
                          options=SampleSetOptions(scheduler=addr, ship_files=True))
        assert s.scored == 5 and shipped.read_bytes() == reference_csv
        # The engine on the cluster: several items a task, one failing item does not lose the others.
        from distributed import Client

        with Client(addr, set_as_default=False) as c:
            got = list(map_ordered(format_double, [1.5, "x", 2.0, 0.0, 3.25], client=c, batch=2,
                                   on_error=lambda item, exc: type(exc).__name__))
        assert got == ["1.50000", "ValueError", "2", "0", "3.25000"]
        # Workers that do not see the files are told so before anything is scored.
        gone = tmp_path / "gone"
        gone.mkdir()
        (gone / "x.png").write_bytes((sample_set / "z.png").read_bytes())
        from ifb1.sampleset.run import ClusterError, check_cluster, connect

        client = connect(addr)
        try:
            with pytest.raises(ClusterError, match="cannot see .*ship-files"):
                check_cluster(client, scorer="fast", probe=str(tmp_path / "nowhere.png"))
        finally:
            client.close()


# ----------------------------------------------------------------------------- NIST's scorer


def test_nist_scorer_columns_are_nist_values(sample_set, tmp_path):
    from ifb1.quality.nist import nist_available, score_nist

    if not nist_available():
        pytest.skip("NIST's NFIQ 2 (nbis-py) is not installed here")
    import cv2

    files = [sample_set / "a1.png", sample_set / "z.png"]
    out = tmp_path / "nist.csv"
    res = CliRunner().invoke(main, ["quality", *map(str, files), "--csv", str(out), "--scorer", "nist"])
    assert res.exit_code == 0, res.output
    header, *rows = _rows(out.read_bytes())
    for f, row in zip(files, rows):
        nq = score_nist(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE))
        assert row[0] == str(f) and int(row[2]) == nq.quality
        values = dict(zip(header[6:], row[6:]))
        assert values == {k: format_double(v) for k, v in {**nq.actionable, **nq.features}.items()}
