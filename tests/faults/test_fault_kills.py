"""Random SIGKILLs of ``ifb1 batch`` and ``ifb1 delete``: every form recorded, exported and deleted exactly once.

Each run is killed from outside (SIGKILL to its whole process group, workers too, as a power cut
or the OOM killer would) at a seeded random point of its progress: after a random number of
events has been committed, plus the few milliseconds the watcher takes to notice, so the kill
falls anywhere between or inside the steps of a form. ``IFB1_FAULT_SEED`` and ``IFB1_FAULT_KILLS``
(batch kills; ``ifb1 delete`` gets twice as many) run other or more of them.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, events, per_form, sha, synthetic_unsuitable_record

from ifb1.records import open_record, verify_chain

SEED = int(os.environ.get("IFB1_FAULT_SEED", "16"))
BATCH_KILLS = int(os.environ.get("IFB1_FAULT_KILLS", "4"))
DELETE_KILLS = BATCH_KILLS * 2
DELETE_FORMS = 20


def _start(log: Path, *args) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("IFB1_TEST_CRASH_AT", None)
    with open(log, "ab") as fh:  # never a pipe: a child blocked on a full pipe would hide the fault
        return subprocess.Popen([sys.executable, "-m", "ifb1", *map(str, args)], cwd=REPO, env=env,
                                stdout=fh, stderr=fh, start_new_session=True)


def _head(data: Path) -> int:
    """The last committed event's seq (0 while there is no record yet)."""
    try:
        conn = sqlite3.connect(f"file:{data / 'ifb1.sqlite'}?mode=ro", uri=True, timeout=0.1)
    except sqlite3.Error:
        return 0
    try:
        return conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def _kill_at(proc: subprocess.Popen, data: Path, seq: int, delay: float, timeout: float = 120) -> bool:
    """SIGKILL the run ``delay`` s after event ``seq`` is committed; False when it finished first."""
    end = time.monotonic() + timeout
    while proc.poll() is None:
        if _head(data) >= seq:
            try:
                proc.wait(timeout=delay)
                return False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
        assert time.monotonic() < end, "the run neither finished nor progressed"
        time.sleep(0.002)
    return False


def _run(log: Path, *args) -> subprocess.CompletedProcess:
    proc = _start(log, *args)
    proc.wait(timeout=300)
    text = log.read_text(errors="replace")
    log.unlink()
    return subprocess.CompletedProcess(proc.args, proc.returncode, text, "")


def test_random_kills_of_batch_each_form_recorded_and_exported_exactly_once(scans, tmp_path):
    rng = random.Random(SEED)
    tray, out, data = tmp_path / "tray", tmp_path / "out", tmp_path / "data"
    tray.mkdir()
    names = {"good1.png": "good1.png", "bad.png": "bad.png", "bad-again.png": "bad.png"}
    for name, src in names.items():
        (tray / name).write_bytes((scans / src).read_bytes())
    before = {n: (tray / n).read_bytes() for n in names}
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,copy,force,case_ref\ngood1.png,no,,\nbad.png,yes,,\nbad-again.png,yes,,\n")
    log = tmp_path / "log.txt"
    batch = ("batch", tray, "--out", out, "--data", data, "--manifest", manifest, "--workers", "2")

    # An undisturbed run elsewhere counts the events a whole batch commits; kills fall among them.
    probe = tmp_path / "probe-data"
    r = _run(log, "batch", tray, "--out", tmp_path / "probe-out", "--data", probe, "--manifest", manifest)
    assert r.returncode == 0, r.stdout
    total = _head(probe)

    landed, points = 0, []
    for _ in range(BATCH_KILLS):
        start = _head(data)
        if start >= total:
            break
        # after 1-2 more events, then up to 1.5 s on (a form takes about that): inside the work too
        target, delay = min(total, start + rng.randint(1, 2)), rng.uniform(0.0, 1.5)
        landed += _kill_at(_start(log, *batch), data, target, delay)
        points.append(f"{target}+{delay:.2f}s")
        assert {n: (tray / n).read_bytes() for n in names} == before  # the tray is never changed
    print(f"batch kills (seed {SEED}): {landed} landed, after events {points} of {total}")
    r = _run(log, *batch)
    assert r.returncode == 0, r.stdout
    assert landed >= 1

    bad_sha = sha(tray / "bad.png")
    with open_record(data, readonly=True) as rec:
        forms = {f.scan_sha256: f for f in rec.forms()}
        assert len(forms) == 2
        bad_key = forms[bad_sha].form_key
        bad_files = [a.path for a in rec.artefacts(bad_key)]
    evts = events(data)
    keys = {f.form_key for f in forms.values()}
    for kind in ("received", "processed"):
        assert per_form(evts, kind) == {k: 1 for k in keys}, kind
    assert per_form(evts, "exported") == {f.form_key: 1 for f in forms.values() if f.verdict == "suitable"}
    assert per_form(evts, "flagged") == {bad_key: 2}  # the form, and its second file once
    assert sorted(p.name for p in (out / "exports").iterdir()) == sorted(
        f"{f.form_id}.an2" for f in forms.values() if f.verdict == "suitable")
    assert not any((out / ".staging").iterdir()) and not list(out.rglob(".*.tmp"))

    r = _run(log, "delete", "--data", data)
    assert r.returncode == 0, r.stdout
    assert {tray / "bad.png", tray / "bad-again.png"} <= set(bad_files) and not any(p.exists() for p in bad_files)
    assert (tray / "good1.png").read_bytes() == before["good1.png"]
    with open_record(data, readonly=True) as rec:
        (d,) = rec.deletions()
        assert d.status == "done" and str(tray / "bad.png") in d.note and str(tray / "bad-again.png") in d.note
        assert verify_chain(rec).intact
    manifest.write_text("file,copy,force,case_ref\ngood1.png,no,,\n")  # what is in the tray now
    r = _run(log, *batch)
    assert r.returncode == 0 and "processed 0" in r.stdout, r.stdout


def _deletion_invariants(data: Path, files: dict[int, list[Path]]) -> dict[str, int]:
    """Per form: no file gone before its intent is logged, no ``deleted`` while a file remains; the counts."""
    evts = events(data)
    intents, done = per_form(evts, "delete-intent"), per_form(evts, "deleted")
    for key, paths in files.items():
        assert intents.get(key, 0) <= 1 and done.get(key, 0) <= 1, key  # each logged once, kills or not
        if any(not p.exists() for p in paths):
            assert intents.get(key) == 1, key
        if done.get(key):
            assert not any(p.exists() for p in paths), key
    return {"deleted": len(done), "pending": len(intents) - len(done)}


def test_random_kills_of_delete_never_lose_a_log_entry_or_log_a_file_that_remains(tmp_path):
    rng = random.Random(SEED + 1)
    rec = synthetic_unsuitable_record(tmp_path / "rec", DELETE_FORMS)
    data, files = rec["data"], rec["files"]
    log = tmp_path / "log.txt"
    total = _head(data) + 2 * DELETE_FORMS  # an intent and a deletion per form
    landed, half_done = 0, 0
    for _ in range(DELETE_KILLS):
        start = _head(data)
        if start >= total:
            break
        target, delay = min(total, start + rng.randint(1, 4)), rng.uniform(0.0, 0.03)
        landed += _kill_at(_start(log, "delete", "--data", data), data, target, delay)
        state = _deletion_invariants(data, files)
        half_done += state["pending"] > 0
    print(f"delete kills (seed {SEED + 1}): {landed} landed, {half_done} left a form's deletion half done; "
          f"{state['deleted']} of {DELETE_FORMS} forms deleted by then")
    r = _run(log, "delete", "--data", data)
    assert r.returncode == 0, r.stdout
    assert _deletion_invariants(data, files) == {"deleted": DELETE_FORMS, "pending": 0}
    assert not any(p.exists() for paths in files.values() for p in paths)
    with open_record(data, readonly=True) as r2:
        assert [d.status for d in r2.deletions()] == ["done"] * DELETE_FORMS
        assert verify_chain(r2).intact
    assert landed >= DELETE_KILLS // 2, landed
