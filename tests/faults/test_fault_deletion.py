"""Deletion never takes the wrong file, and takes every file of an unsuitable scan.

- a recorded scan name that now holds another scan: the new scan is never deleted;
- a scanner reusing a recorded original's name: the new scan is recorded, not refused;
- two identical copies of an unsuitable scan, and the same scan sent again after its deletion:
  every file goes, each logged, the note names each one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import events, ifb1, per_form, sha

from ifb1.records import open_record, verify_chain


def _form(data: Path, digest: str):
    with open_record(data, readonly=True) as rec:
        return rec.find_by_hash(digest)


def test_delete_never_removes_another_scan_now_at_a_recorded_name(scans, tmp_path):
    tray, out, data = tmp_path / "tray", tmp_path / "out", tmp_path / "data"
    tray.mkdir()
    scan = tray / "scan.png"
    shutil.copy(scans / "bad.png", scan)
    old_sha = sha(scan)
    r = ifb1("batch", tray, "--out", out, "--data", data, "--copy")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _form(data, old_sha).verdict == "unsuitable"

    # The scanner saves the next (suitable, never recorded) scan under the same name.
    shutil.copy(scans / "good1.png", scan)
    new_bytes, new_sha = scan.read_bytes(), sha(scan)
    dry = ifb1("delete", "--data", data, "--dry-run")
    assert dry.returncode == 0 and old_sha in dry.stdout and new_sha in dry.stdout, dry.stdout
    r = ifb1("delete", "--data", data)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "PENDING" in r.stdout and str(scan) in r.stdout
    assert old_sha in r.stdout and new_sha in r.stdout, r.stdout  # the file and both hashes
    assert scan.read_bytes() == new_bytes  # the new scan is untouched
    old = _form(data, old_sha)
    assert old.status == "deletion-pending"
    evts = events(data)
    assert per_form(evts, "deleted").get(old.form_key) is None
    # its other files held what was recorded for them: those are gone
    with open_record(data, readonly=True) as rec:
        left = [a.path for a in rec.artefacts(old.form_key) if a.path.exists()]
    assert left == [scan]

    # The batch will not take the name from a deletion that still needs it, and says what to do.
    r = ifb1("batch", tray, "--out", out, "--data", data)
    assert r.returncode == 1 and "give this file another name" in r.stdout, r.stdout
    assert _form(data, new_sha) is None and scan.read_bytes() == new_bytes
    # Renamed, the new scan is recorded and the old deletion finishes (its scan is gone).
    scan.rename(tray / "scan-2.png")
    r = ifb1("delete", "--data", data)
    assert r.returncode == 0 and "DELETED" in r.stdout, r.stdout
    r = ifb1("batch", tray, "--out", out, "--data", data)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _form(data, new_sha).verdict == "suitable" and (tray / "scan-2.png").read_bytes() == new_bytes
    with open_record(data, readonly=True) as rec:
        assert verify_chain(rec).intact


def test_a_recorded_originals_name_reused_by_the_scanner_is_recorded_again(scans, tmp_path):
    tray, out, data = tmp_path / "tray", tmp_path / "out", tmp_path / "data"
    tray.mkdir()
    scan = tray / "scan.png"
    shutil.copy(scans / "good1.png", scan)
    first = sha(scan)
    assert ifb1("batch", tray, "--out", out, "--data", data).returncode == 0
    shutil.copy(scans / "good2.png", scan)  # the old scan is overwritten
    second = sha(scan)
    r = ifb1("batch", tray, "--out", out, "--data", data)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "exported 1" in r.stdout
    a, b = _form(data, first), _form(data, second)
    assert (a.status, b.status) == ("exported", "exported")
    with open_record(data, readonly=True) as rec:
        (old_scan,) = [x for x in rec.artefacts(a.form_key) if x.kind == "scan"]
        (new_scan,) = [x for x in rec.artefacts(b.form_key) if x.kind == "scan"]
        assert old_scan.path == new_scan.path == scan
        assert old_scan.removed_utc is not None and new_scan.removed_utc is None
        notes = [e for e in rec.events(a.form_key) if e.kind == "note"]
        assert len(notes) == 1 and notes[0].details["now_sha256"] == second
        assert verify_chain(rec).intact


def test_every_file_of_an_unsuitable_scan_is_deleted_and_named(scans, tmp_path):
    tray, out, data = tmp_path / "tray", tmp_path / "out", tmp_path / "data"
    tray.mkdir()
    for name in ("a.png", "b.png"):
        shutil.copy(scans / "bad.png", tray / name)
    digest = sha(tray / "a.png")
    r = ifb1("batch", tray, "--out", out, "--data", data, "--copy")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "UNSUITABLE b.png" in r.stdout and "ifb1 delete removes it" in r.stdout, r.stdout
    r = ifb1("delete", "--data", data)
    assert r.returncode == 0 and "DELETED" in r.stdout, r.stdout
    assert not (tray / "a.png").exists() and not (tray / "b.png").exists()
    form = _form(data, digest)
    with open_record(data, readonly=True) as rec:
        (d,) = rec.deletions()
        assert str(tray / "a.png") in d.note and str(tray / "b.png") in d.note, d.note

    # The same scan sent again after its deletion: flagged again by the batch, deleted again.
    shutil.copy(scans / "bad.png", tray / "resent.png")
    r = ifb1("batch", tray, "--out", out, "--data", data, "--copy")
    assert r.returncode == 0 and "UNSUITABLE resent.png" in r.stdout, r.stdout
    assert "already deleted once" in r.stdout
    r = ifb1("delete", "--data", data)
    assert r.returncode == 0 and "DELETED" in r.stdout and "Another copy of the fingerprints" in r.stdout, r.stdout
    assert not (tray / "resent.png").exists()
    r = ifb1("delete", "--data", data)
    assert r.returncode == 0 and "nothing to delete" in r.stdout
    evts = [e for e in events(data) if e.form_key == form.form_key]
    kinds = [e.kind for e in evts]
    assert kinds.count("received") == 1 and kinds.count("processed") == 1
    assert kinds.count("delete-intent") == 2 and kinds.count("deleted") == 2
    again = [e for e in evts if e.kind == "deleted"][-1]
    assert again.details["again"] and str(tray / "resent.png") in again.details["note"]
    with open_record(data, readonly=True) as rec:
        assert verify_chain(rec).intact
        assert rec.deletions()[0].status == "done"
