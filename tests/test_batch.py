"""``ifb1 batch`` and ``ifb1 export``: verdicts, exports, bad files, resumability after SIGKILL, manifests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ifb1.quality.nist import nist_available
from click.testing import CliRunner

from ifb1.export import parse_transaction
from ifb1.batch import (
    CRASH_ENV,
    ManifestError,
    list_tray,
    read_manifest,
)
from ifb1.outputs.staging import form_folder_name
from ifb1.commands.batch import batch, export
from ifb1.commands.process import process
from ifb1.records import open_record, verify_chain
from ifb1.samples.generate import FormOptions, generate_form, save_scan

REPO = Path(__file__).resolve().parents[1]
SEED = 3
# Two clean originals and a strongly degraded, badly inked copy (300 ppi keeps it fast).
ORIGINAL = dict(ppi=300, missing_rate=0.0, poor_inking_rate=0.0, upside_down=False)
BAD_COPY = dict(ppi=300, copy=True, poor_inking_rate=1.0, copy_degradation=(1.0, 1.0), upside_down=False)
FORMS = {"a.png": (1, ORIGINAL), "b.png": (2, ORIGINAL), "copy.png": (3, BAD_COPY)}


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("scans")
    for name, (index, opts) in FORMS.items():
        save_scan(generate_form(SEED, index, options=FormOptions(**opts)), d / name, fmt="png", ppi_in_metadata=300)
    return d


def truth(scans: Path, name: str) -> dict:
    return json.loads((scans / name).with_suffix(".json").read_text())


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def events(data: Path) -> list:
    with open_record(data, readonly=True) as rec:
        return list(rec.events())


def count(evts, kind: str) -> dict:
    out: dict = {}
    for e in evts:
        if e.kind == kind:
            out[e.form_key] = out.get(e.form_key, 0) + 1
    return out


def check_exports(exports: Path, expected_ids: set[str]) -> None:
    files = sorted(exports.iterdir())
    assert {p.name for p in files} == {f"{fid}.an2" for fid in expected_ids}, files  # no temporaries either
    for p in files:
        assert mode(p) == 0o600
        t = parse_transaction(p.read_bytes())
        assert t.control_number == p.stem
        rolled = [q for q in t.prints if q.position <= 10]
        assert len(rolled) == 10 and all(q.image is not None and q.ppi == 500 for q in rolled)


# --------------------------------------------------------------------------- the main flow


def test_batch_verdicts_exports_bad_file_and_rerun(scans, tmp_path):
    tray, out, data = tmp_path / "tray", tmp_path / "out", tmp_path / "data"
    (tray / "post").mkdir(parents=True)
    shutil.copy(scans / "a.png", tray / "a.png")
    shutil.copy(scans / "a.json", tray / "a.json")  # not a scan: ignored, listed
    shutil.copy(scans / "b.png", tray / "post" / "b.png")
    shutil.copy(scans / "copy.png", tray / "post" / "copy.png")
    corrupt = tray / "post" / "corrupt.png"
    corrupt.write_bytes((scans / "b.png").read_bytes()[:4000])
    before = corrupt.read_bytes(), corrupt.stat().st_mtime_ns
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,copy,force,case_ref\na.png,no,Kent Police,CR-77\npost/b.png,no,,\n"
                        "post/copy.png,yes,Met,\npost/corrupt.png,no,,\n")
    summary = tmp_path / "summary.json"

    res = CliRunner().invoke(batch, [str(tray), "--out", str(out), "--data", str(data), "--workers", "2",
                                     "--manifest", str(manifest), "--json-summary", str(summary)])
    assert res.exit_code == 1, res.output  # the corrupt file failed
    s = json.loads(summary.read_text())
    assert mode(summary) == 0o600
    assert s["counts"]["processed"] == 3 and s["counts"]["failed"] == 1 and s["counts"]["ignored"] == 1
    by_file = {f["file"]: f for f in s["files"]}
    for name, rel in (("a.png", "a.png"), ("b.png", "post/b.png"), ("copy.png", "post/copy.png")):
        t = truth(scans, name)
        assert by_file[rel]["verdict"] == t["verdict"], (rel, by_file[rel]["reasons"])
        # (a severely degraded copy's barcode may be unreadable; its verdict stands without it)
        assert by_file[rel]["form_id"] == t["form_id"] or (name == "copy.png" and by_file[rel]["form_id"] is None)
    assert by_file["post/copy.png"]["verdict"] == "unsuitable" and by_file["post/copy.png"]["export"] is None
    assert [f["file"] for f in s["failures"]] == ["post/corrupt.png"]
    assert "corrupt.png" in s["failures"][0]["error"]
    assert "FAILED post/corrupt.png" in res.output and "UNSUITABLE post/copy.png" in res.output

    # The bad file is where it was, unchanged; the tray is otherwise untouched.
    assert (corrupt.read_bytes(), corrupt.stat().st_mtime_ns) == before
    ids = {truth(scans, n)["form_id"] for n in ("a.png", "b.png")}
    check_exports(out / "exports", ids)
    assert mode(out) == 0o700 and mode(out / "forms") == 0o700
    for p in (out / "forms").rglob("*"):
        assert mode(p) == (0o700 if p.is_dir() else 0o600), p
    assert not any((out / ".staging").iterdir())

    with open_record(data, readonly=True) as rec:
        assert verify_chain(rec).intact
        forms = {f.source_path: f for f in rec.forms()}
        a = forms[str(tray / "a.png")]
        assert (a.force, a.case_ref, a.is_copy, a.status) == ("Kent Police", "CR-77", False, "exported")
        cp = forms[str(tray / "post" / "copy.png")]
        assert (cp.is_copy, cp.verdict, cp.status) == (True, "unsuitable", "flagged")
        # every registered file of a processed form exists (crops, preview, result, export)
        for f in forms.values():
            arts = rec.artefacts(f.form_key)
            assert all(x.path.is_file() for x in arts)
            # each present print: its 500 ppi image and the WSQ bytes it was decoded from
            assert sum(x.kind == "crop" for x in arts) == 2 * sum(p.present for p in rec.prints(f.form_key))
    # result.json has the shape `ifb1 process --json` prints (one builder: FormResult.to_dict).
    with open_record(data, readonly=True) as rec:
        fa = rec.find_by_hash(hashlib.sha256((tray / "a.png").read_bytes()).hexdigest())
    saved = json.loads((out / "forms" / form_folder_name(fa.form_id, fa.scan_sha256) / "result.json").read_text())
    assert saved["verdict"] == {"verdict": fa.verdict, "reasons": list(fa.verdict_reasons),
                                "defective_positions": saved["verdict"]["defective_positions"],
                                "scorer": "nist" if nist_available() else "fast"}
    assert saved["form_id"] == fa.form_id and saved["sha256"] == fa.scan_sha256 and saved["status"] == "ok"
    assert saved["files"] == sorted(["preview.jpg", "result.json",
                                     *(f"prints/{p['position']:02d}.{ext}" for p in saved["prints"] if p["present"]
                                       for ext in ("png", "wsq"))])
    res = CliRunner().invoke(process, [str(tray / "a.png"), "--out", str(tmp_path / "proc"), "--json"])
    assert res.exit_code == 0, res.output
    shown = json.loads(res.output)
    assert set(saved) - {"files"} == set(shown) - {"output"}
    # The batch exports, so its scores are NIST's (when installed); the desk's are the fast scorer's.
    without = ("scorer", "reasons")
    assert saved["copy"] == shown["copy"] and shown["verdict"]["scorer"] == "fast"
    assert {k: v for k, v in saved["verdict"].items() if k not in without} == \
        {k: v for k, v in shown["verdict"].items() if k not in without}
    scoring = ("quality", "scorer", "scores", "quality_note", "quality_status")
    for b, c in zip(saved["prints"], shown["prints"], strict=True):
        assert set(b) == set(c) - {"file"}
        assert {k: b[k] for k in b if k not in scoring} == {k: c[k] for k in b if k not in scoring}, b["position"]
        assert b["scores"].get("fast") == c["scores"].get("fast"), b["position"]
        assert set(b["feedback"]) == {"codes", "messages"}
    assert not {"verdict_reasons", "defective_positions", "reading"} & set(saved)

    evts = events(data)
    assert sorted(count(evts, "processed").values()) == [1, 1, 1]
    assert sorted(count(evts, "exported").values()) == [1, 1]
    assert len(count(evts, "flagged")) == 1
    failed = [e for e in evts if e.kind == "failed"]
    assert len(failed) == 1 and failed[0].details["tray_file"] == "post/corrupt.png"

    # Rerun: everything is in the record; nothing processed or exported again.
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "exports").iterdir()}
    res = CliRunner().invoke(batch, [str(tray), "--out", str(out), "--data", str(data),
                                     "--manifest", str(manifest), "--json-summary", str(summary)])
    assert res.exit_code == 1, res.output
    s2 = json.loads(summary.read_text())
    assert s2["counts"]["processed"] == 0 and s2["counts"]["skipped"] == 3 and s2["counts"]["exported"] == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "exports").iterdir()} == mtimes
    evts2 = events(data)
    assert count(evts2, "processed") == count(evts, "processed")
    assert count(evts2, "exported") == count(evts, "exported")

    # ifb1 export: nothing pending; an unsuitable form is refused; --force exports again elsewhere.
    runner = CliRunner()
    res = runner.invoke(export, ["--data", str(data), "--out", str(tmp_path / "exp")])
    assert res.exit_code == 0 and "0 exported" in res.output, res.output
    cp_id = truth(scans, "copy.png")["form_id"]
    res = runner.invoke(export, ["--data", str(data), "--out", str(tmp_path / "exp"), "--form-id", cp_id])
    assert res.exit_code == 1 and "unsuitable" in res.output and not any((tmp_path / "exp").iterdir())
    a_id = truth(scans, "a.png")["form_id"]
    res = runner.invoke(export, ["--data", str(data), "--out", str(tmp_path / "exp"), "--form-id", a_id, "--force"])
    assert res.exit_code == 0, res.output
    check_exports(tmp_path / "exp", {a_id})
    # Built by the worker from memory and by `ifb1 export` from the crop files: the same prints.
    t1 = parse_transaction((out / "exports" / f"{a_id}.an2").read_bytes())
    t2 = parse_transaction((tmp_path / "exp" / f"{a_id}.an2").read_bytes())
    assert t2.type2 == t1.type2 and "CR-77" in t1.type2.values()
    assert [(p.position, p.quality) for p in t1.prints] == [(p.position, p.quality) for p in t2.prints]
    assert all((p.image is None and q.image is None) or (p.image == q.image).all() for p, q in zip(t1.prints, t2.prints))


# --------------------------------------------------------------------------- crash safety


def _run(tray: Path, out: Path, data: Path, crash: str | None, workers: int = 1) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop(CRASH_ENV, None)
    if crash:
        env[CRASH_ENV] = crash
    cmd = [sys.executable, "-m", "ifb1", "batch", str(tray), "--out", str(out), "--data", str(data),
           "--workers", str(workers)]
    return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_killed_batch_finishes_on_rerun_each_form_processed_and_exported_once(scans, tmp_path):
    tray, out, data = tmp_path / "tray", tmp_path / "out", tmp_path / "data"
    tray.mkdir()
    shutil.copy(scans / "a.png", tray / "a.png")
    shutil.copy(scans / "b.png", tray / "b.png")
    sha = {n: hashlib.sha256((tray / n).read_bytes()).hexdigest() for n in ("a.png", "b.png")}

    def form(name):
        with open_record(data, readonly=True) as rec:
            return rec.find_by_hash(sha[name])

    # Each run is killed (SIGKILL) at another step; the next run picks up from there.
    # (2 workers here: b is in flight in the pool when the parent dies; the workers die with it.)
    r = _run(tray, out, data, "recorded:1", workers=2)  # a recorded, its files still staged
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert form("a.png").status == "processed" and (out / ".staging" / sha["a.png"]).is_dir()
    assert form("b.png") is None

    r = _run(tray, out, data, "export-registered:1")  # a's files published; export registered, not written
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert not (out / ".staging" / sha["a.png"]).exists() and not any((out / "exports").glob("*.an2"))

    r = _run(tray, out, data, "export-written:1")  # a's export written, not yet logged
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert form("a.png").status == "processed" and len(list((out / "exports").glob("*.an2"))) == 1

    r = _run(tray, out, data, "staged:1")  # a marked exported; b computed and staged but not recorded
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert form("a.png").status == "exported" and form("b.png") is None
    assert (out / ".staging" / sha["b.png"]).is_dir()

    r = _run(tray, out, data, "published:1")  # b processed again, recorded and published, not exported
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert form("b.png").status == "processed"

    r = _run(tray, out, data, None)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "exported 1" in r.stdout

    evts = events(data)
    keys = {form(n).form_key for n in ("a.png", "b.png")}
    for kind in ("received", "processed", "exported"):
        assert count(evts, kind) == {k: 1 for k in keys}, kind
    check_exports(out / "exports", {form(n).form_id for n in ("a.png", "b.png")})
    assert not any((out / ".staging").iterdir())
    assert not [p for p in out.rglob(".*.tmp")]
    with open_record(data, readonly=True) as rec:
        for k in keys:
            assert all(a.path.is_file() for a in rec.artefacts(k))

    r = _run(tray, out, data, None)  # and once more: nothing to do
    assert r.returncode == 0 and "processed 0" in r.stdout
    assert count(events(data), "exported") == {k: 1 for k in keys}


# --------------------------------------------------------------------------- manifest and tray


def test_manifest_errors_name_file_and_line(tmp_path):
    tray = tmp_path / "tray"
    (tray / "in").mkdir(parents=True)
    (tmp_path / "outside.png").write_bytes(b"x")
    os.symlink(tmp_path, tray / "in" / "up")
    m = tmp_path / "m.csv"

    def bad(text: str, line: int, words: str):
        m.write_text(text)
        with pytest.raises(ManifestError) as e:
            read_manifest(m, tray=tray)
        msg = str(e.value)
        assert msg.startswith(f"{m}:{line}:") and words in msg, msg

    head = "file,copy,force,case_ref\n"
    bad("file,copy\nx.png,no\n", 1, "header")
    bad(head + "a.png,no,,\nb.png,perhaps,,\n", 3, "copy must be yes or no")
    bad(head + "a.png,no,,\n../outside.png,no,,\n", 3, "outside the tray")
    bad(head + f"{tmp_path / 'outside.png'},no,,\n", 2, "absolute")
    bad(head + "in/up/outside.png,no,,\n", 2, "symbolic link")
    bad(head + "in\\a.png,no,,\n", 2, "separator")
    bad(head + "a.png,no,,\n./a.png,yes,,\n", 3, "listed twice")
    bad(head + "a.png,no,Kent\x01,\n", 2, "printable")
    bad(head + "a.png,no,,\nb.png,no\n", 3, "columns")

    m.write_text("\ufeffcase_ref,file,copy,force\nCR 1,in/a.png,Yes,Kent Police\n\n,b.png,original,\n")
    entries = read_manifest(m, tray=tray)
    assert entries["in/a.png"].copy and entries["in/a.png"].force == "Kent Police"
    assert entries["in/a.png"].case_ref == "CR 1"
    assert not entries["b.png"].copy and entries["b.png"].force is None and entries["b.png"].line == 4


def test_batch_refuses_escaping_manifest_before_touching_anything(tmp_path):
    tray, out, data = tmp_path / "tray", tmp_path / "out", tmp_path / "data"
    tray.mkdir()
    (tray / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    m = tmp_path / "m.csv"
    m.write_text("file,copy,force,case_ref\na.png,no,,\n../../etc/passwd,no,,\n")
    res = CliRunner().invoke(batch, [str(tray), "--out", str(out), "--data", str(data), "--manifest", str(m)])
    assert res.exit_code == 2
    assert f"{m}:3" in res.output and "outside the tray" in res.output
    assert not data.exists() and not out.exists()
    res = CliRunner().invoke(batch, [str(tray), "--out", str(out), "--data", str(data), "--manifest", str(m), "--copy"])
    assert res.exit_code != 0 and "not both" in res.output


def test_tray_listing_skips_hidden_outputs_and_refuses_links(tmp_path):
    tray = tmp_path / "tray"
    for rel in ("b/2.png", "a.TIF", "b/1.jpeg", ".hidden.png", ".cache/x.png", "out/forms/f/prints/01.png",
                "noext", "notes.txt"):
        p = tray / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"%PDF-1.4" if rel == "noext" else b"data")
    os.symlink(tray / "a.TIF", tray / "link.png")
    listing = list_tray(tray, exclude=[tray / "out"])
    assert listing.scans == ("a.TIF", "b/1.jpeg", "b/2.png", "noext")
    assert [r for r, _ in listing.ignored] == ["notes.txt"]
    assert [r for r, _ in listing.refused] == ["link.png"]
    assert listing.hidden == (".cache/", ".hidden.png")


def test_copy_check_sends_a_copy_marked_original_to_review(scans):
    from ifb1.pipeline.form import copy_check
    from ifb1.pipeline.policy import PrintOutcome, decide
    from ifb1.pipeline.read import read_scan

    (copy_read,) = read_scan(scans / "copy.png")
    (orig_read,) = read_scan(scans / "a.png")
    c = copy_check(copy_read, is_copy=False)
    assert c.checked and c.looks_like_copy, c
    o = copy_check(orig_read, is_copy=False)
    assert o.checked and not o.looks_like_copy, o
    assert not copy_check(copy_read, is_copy=True).checked  # a declared copy needs no check
    good = [PrintOutcome(position=p, present=True, quality=60) for p in range(1, 11)]
    v = decide(good, is_copy=False, looks_like_copy=c.looks_like_copy, form_id="IFB1-2026-000001")
    assert v.verdict == "review"


def test_form_received_by_another_tool_is_processed_once_without_a_second_receipt(scans, tmp_path):
    from ifb1.batch import Progress, run_batch

    tray, out, data = tmp_path / "tray", tmp_path / "out", tmp_path / "data"
    tray.mkdir()
    shutil.copy(scans / "a.png", tray / "a.png")
    sha = hashlib.sha256((tray / "a.png").read_bytes()).hexdigest()
    with open_record(data) as rec:
        rec.add_root(tray, kind="tray", actor="test")
        key = rec.add_form(scan_sha256=sha, source_path=tray / "a.png", is_copy=False, actor="test",
                           form_id=truth(scans, "a.png")["form_id"], case_ref="CR-9")
    quiet = open(os.devnull, "w")
    s = run_batch(tray, out=out, data=data, progress=lambda n: Progress(n, stream=quiet))
    quiet.close()
    (f,) = s.files
    assert (f.action, f.form_key, f.verdict, f.export) == ("processed", key, "suitable", "exported"), f
    evts = events(data)
    assert count(evts, "received") == {key: 1} and count(evts, "processed") == {key: 1}
    assert count(evts, "exported") == {key: 1}
    t = parse_transaction(Path(f.export_path).read_bytes())  # built from the crop files
    assert "CR-9" in t.type2.values()


def test_process_refuses_a_folder_holding_the_batchs_recorded_output(scans, tmp_path):
    tray, out, data = tmp_path / "tray", tmp_path / "out", tmp_path / "data"
    tray.mkdir()
    shutil.copy(scans / "a.png", tray / "a.png")
    assert CliRunner().invoke(batch, [str(tray), "--out", str(out), "--data", str(data)]).exit_code == 0
    (result,) = (out / "forms").glob("*/result.json")
    before = result.read_bytes()
    for target in (out / "forms", out, result.parent, data, data / "sub"):
        r = CliRunner().invoke(process, [str(tray / "a.png"), "--out", str(target)])
        assert r.exit_code == 2, (target, r.output)
        assert "case record" in r.output and "a folder of its own" in r.output, r.output
    r = CliRunner().invoke(process, ["--watch", str(tray), "--out", str(out / "forms"), "--idle-exit", "0.1"])
    assert r.exit_code == 2 and "a folder of its own" in r.output
    assert result.read_bytes() == before and not (data / "sub").exists()
    assert CliRunner().invoke(process, [str(tray / "a.png"), "--out", str(tmp_path / "mine")]).exit_code == 0


def test_two_scans_of_one_form_id_export_once_and_the_other_is_held_not_failed(scans, tmp_path):
    from PIL import Image

    tray, out, data = tmp_path / "tray", tmp_path / "out", tmp_path / "data"
    tray.mkdir()
    shutil.copy(scans / "a.png", tray / "a.png")
    with Image.open(scans / "a.png") as im:  # the same form scanned again: other bytes, same form id
        im.save(tray / "rescan.png", dpi=(300, 300), compress_level=9)
    fid = truth(scans, "a.png")["form_id"]
    summary = tmp_path / "s.json"
    r = CliRunner().invoke(batch, [str(tray), "--out", str(out), "--data", str(data), "--json-summary", str(summary)])
    assert r.exit_code == 0, r.output  # not a failure: a person decides
    held = [line for line in r.output.splitlines() if line.startswith("  HELD ")]
    assert len(held) == 1 and "rescan.png" in held[0] and "a.png" in held[0] and fid in held[0], r.output
    assert "ifb1 audit log --form-id" in held[0]
    s = json.loads(summary.read_text())
    assert s["counts"]["exported"] == 1 and s["counts"]["export_held"] == 1 and s["ok"]
    check_exports(out / "exports", {fid})
    # The next nights: no failure, no retry, nothing new logged for it.
    n = len(events(data))
    for _ in range(2):
        r = CliRunner().invoke(batch, [str(tray), "--out", str(out), "--data", str(data)])
        assert r.exit_code == 0 and "FAILED" not in r.output, r.output
    assert len(events(data)) == n
    r = CliRunner().invoke(export, ["--data", str(data), "--out", str(out / "exports"), "--form-id", fid])
    assert r.exit_code == 0 and "HELD" in r.output and "ALREADY" in r.output, r.output
    with open_record(data, readonly=True) as rec:
        forms = rec.forms(form_id=fid)
        assert sorted(f.status for f in forms) == ["exported", "processed"]
        assert verify_chain(rec).intact
