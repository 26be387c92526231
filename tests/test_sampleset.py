"""Sample-set runs of ``ifb1 quality``: folders, workers, NIST nfiq2's CSV, resumption, Dask.

Generated prints only; small sets so the suite stays fast.
"""

from __future__ import annotations

import csv
import os
import stat

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ifb1.commands.quality import quality

NIST_FIRST_COLUMNS = ["Filename", "FingerCode", "QualityScore", "OptionalError", "Quantized", "Resampled"]


def _print(seed: int) -> np.ndarray:
    from ifb1.samples.fingerprint import make_master
    from ifb1.samples.impression import rolled_impression
    from ifb1.samples.ink import Damage, ink_print

    rng = np.random.default_rng(seed)
    imp = rolled_impression(make_master(rng, finger=2 + seed % 4), rng)
    p = ink_print(imp, rng, damage=Damage())
    img = np.clip(np.rint(255 * (1 - p.density)), 0, 255).astype(np.uint8)
    return np.pad(img, 24, constant_values=255)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("set")
    (d / "sub").mkdir()
    (d / ".hidden").mkdir()
    for i in range(4):
        target = d / ("sub" if i % 2 else "") / f"p{i}.png"
        Image.fromarray(_print(i)).save(target, dpi=(500, 500))
    Image.fromarray(_print(9)).save(d / ".hidden" / "skip.png", dpi=(500, 500))
    Image.fromarray(_print(8)).save(d / ".skip.png", dpi=(500, 500))
    return d


def _run(*args):
    return CliRunner().invoke(quality, [str(a) for a in args], catch_exceptions=False)


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_folder_csv_has_nist_columns_and_every_file_sorted(folder, tmp_path):
    out = tmp_path / "q.csv"
    r = _run(folder, "--csv", out, "--no-progress")
    assert r.exit_code == 0, r.output
    rows = _rows(out)
    assert rows[0][:6] == NIST_FIRST_COLUMNS
    names = [row[0] for row in rows[1:]]
    assert len(names) == 4 and names == sorted(names)  # hidden files and folders skipped
    assert not any(".skip" in n or ".hidden" in n for n in names)
    assert all(0 <= int(row[2]) <= 100 for row in rows[1:])
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_two_workers_write_the_same_csv_as_one(folder, tmp_path):
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert _run(folder, "--csv", one, "--workers", 1, "--no-progress").exit_code == 0
    assert _run(folder, "--csv", two, "--workers", 2, "--no-progress").exit_code == 0
    assert one.read_bytes() == two.read_bytes()


def test_a_killed_run_is_finished_by_a_rerun(folder, tmp_path):
    full = tmp_path / "full.csv"
    assert _run(folder, "--csv", full, "--no-progress").exit_code == 0
    # A run killed after two files, halfway through writing the third row.
    cut = tmp_path / "cut.csv"
    first = sorted(str(p) for p in folder.rglob("p*.png"))[:2]
    assert _run(*first, "--csv", cut, "--no-progress").exit_code == 0
    with open(cut, "ab") as fh:
        fh.write(b'"' + str(folder).encode() + b"/sub/p1.png\",0,4")
    r = _run(folder, "--csv", cut, "--no-progress")
    assert r.exit_code == 0, r.output
    rows = _rows(cut)
    assert sorted(map(tuple, rows[1:])) == sorted(map(tuple, _rows(full)[1:]))  # each file once, no half row
    assert rows[0] == _rows(full)[0]


def test_a_rerun_skips_files_already_in_the_csv(folder, tmp_path):
    out = tmp_path / "again.csv"
    assert _run(folder, "--csv", out, "--no-progress").exit_code == 0
    before = out.read_bytes()
    r = _run(folder, "--csv", out, "--no-progress")
    assert r.exit_code == 0
    assert out.read_bytes() == before
    assert "4 already in" in r.output or "already in" in r.output
