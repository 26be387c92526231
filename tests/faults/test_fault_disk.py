"""A full data disk: every command ends in one line naming the folder and the free space needed, exit 2.

Needs a small filesystem of its own: a tmpfs mounted for the test (root on Linux, as in CI);
skipped cleanly where mounting is not permitted.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import events, per_form, sha

from ifb1.cli import main
from ifb1.records import open_record, verify_chain


@pytest.fixture
def small_disk(tmp_path):
    """Mount a tmpfs of the given size (MB) at a fresh folder; unmounted afterwards."""
    mounted = []

    def mount(size_mb: int) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a small filesystem needs root")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(point)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a small filesystem here: {r.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for chunk in (1 << 20, 1 << 12):
            try:
                while True:
                    fh.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    assert os.statvfs(disk).f_bavail == 0
    return filler


def one_line_exit_2(result, folder: Path) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output and "Warning" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    # one line says it (after the batch's own "N scan(s) to process" note, if it got that far)
    assert len(lines) == 1 or (len(lines) == 2 and lines[0].startswith("ifb1 batch: ")), result.output
    assert str(folder) in lines[-1] and "free" in lines[-1], lines[-1]
    return lines[-1]


def test_full_data_disk_one_line_exit_2_record_intact(scans, tmp_path, small_disk, monkeypatch):
    disk = small_disk(48)
    tray, out, data = tmp_path / "tray", disk / "out", disk / "data"
    tray.mkdir()
    shutil.copy(scans / "good1.png", tray / "a.png")
    runner = CliRunner()
    r = runner.invoke(main, ["batch", str(tray), "--out", str(out), "--data", str(data)])
    assert r.exit_code == 0, r.output
    filler = fill(disk)
    shutil.copy(scans / "bad.png", tray / "b.png")

    # The batch refuses to start; and where the disk fills after it started, it stops the same way.
    line = one_line_exit_2(runner.invoke(main, ["batch", str(tray), "--out", str(out), "--data", str(data), "--copy"]),
                           data)
    assert "needs at least 16 MB free" in line and "only 0 bytes free" in line
    with monkeypatch.context() as m:
        m.setattr("ifb1.fileio.require_free", lambda *a, **k: None)
        one_line_exit_2(runner.invoke(main, ["batch", str(tray), "--out", str(out), "--data", str(data), "--copy"]),
                        data)
    # Reading commands: an environment fault (2), never a broken chain (1).
    for args in (["audit", "verify"], ["audit", "log"], ["delete", "--dry-run"], ["delete"],
                 ["export", "--out", str(out / "exports")]):
        one_line_exit_2(runner.invoke(main, [*args, "--data", str(data)]), data)

    # Space again: the record is intact and the next batch finishes the work, each form once.
    filler.unlink()
    r = runner.invoke(main, ["audit", "verify", "--data", str(data)])
    assert r.exit_code == 0 and "intact" in r.output, r.output
    r = runner.invoke(main, ["batch", str(tray), "--out", str(out), "--data", str(data), "--copy"])
    assert r.exit_code == 0, r.output
    evts = events(data)
    assert set(per_form(evts, "received").values()) == {1} and len(per_form(evts, "received")) == 2
    assert set(per_form(evts, "processed").values()) == {1}
    with open_record(data, readonly=True) as rec:
        assert verify_chain(rec).intact
        assert rec.find_by_hash(sha(tray / "b.png")).verdict == "unsuitable"


def test_output_disk_filling_mid_batch_stops_with_one_line(scans, tmp_path, small_disk, monkeypatch):
    disk = small_disk(2)  # room for the record, not for a form's prints
    tray, out, data = tmp_path / "tray", disk / "out", disk / "data"
    tray.mkdir()
    shutil.copy(scans / "good1.png", tray / "a.png")
    monkeypatch.setattr("ifb1.fileio.require_free", lambda *a, **k: None)  # the disk fills after the start
    r = CliRunner().invoke(main, ["batch", str(tray), "--out", str(out), "--data", str(data)])
    line = one_line_exit_2(r, out)
    assert "the disk is full" in line and "32 MB" in line
    # Nothing is blamed on the scan, and nothing is half-written.
    assert per_form(events(data), "failed") == {}
    with open_record(data, readonly=True) as rec:
        assert rec.forms() == () and verify_chain(rec).intact
    assert not list((out / ".staging").iterdir())


def test_process_on_a_full_output_disk_one_line_exit_2(scans, small_disk):
    disk = small_disk(1)  # a form's 14 prints and preview do not fit
    r = CliRunner().invoke(main, ["process", str(scans / "good1.png"), str(scans / "bad.png"), "--out", str(disk)])
    line = one_line_exit_2(r, disk)
    assert "needs at least 32 MB free" in line
    # every file there is whole (written atomically); the form has no result.json, so it is not taken as done
    assert not list(disk.rglob("*.tmp")) and not list(disk.rglob("result.json"))
