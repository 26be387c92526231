"""`ifb1 process --watch DIR`: the warm process at the scanner desk (generated 300 ppi forms)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ifb1.commands.process import process
from ifb1.intake.watch import FolderWatch
from ifb1.samples.generate import FormOptions, generate_form, save_scan

SEED = 31
TIMEOUT = 30.0  # seconds to wait for any one answer (a form takes ~1 s)


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    """Two different generated originals at 300 ppi (PNG bytes) and their form ids."""
    d = tmp_path_factory.mktemp("forms")
    out = []
    for i in (1, 2):
        form = generate_form(SEED, i, options=FormOptions(ppi=300, upside_down=False, annotation_rate=0.0))
        truth = save_scan(form, d / f"form{i}.png", fmt="png", ppi_in_metadata=300)
        out.append(((d / f"form{i}.png").read_bytes(), truth["form_id"]))
    return out


class Watcher:
    """``ifb1 process --watch`` in a subprocess, its stdout and stderr lines collected as they come."""

    def __init__(self, folder: Path, out: Path, *extra: str):
        cmd = [sys.executable, "-c", "from ifb1.cli import main; main()", "process", "--watch", str(folder),
               "--out", str(out), *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=folder.parent)
        self.lines = {"out": [], "err": []}
        self._cond = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(s, k), daemon=True)
                         for s, k in ((self.proc.stdout, "out"), (self.proc.stderr, "err"))]
        for t in self._readers:
            t.start()

    def _read(self, stream, key):
        for line in stream:
            with self._cond:
                self.lines[key].append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, key: str, predicate, timeout: float = TIMEOUT) -> str:
        """The first line of stdout/stderr (``key`` "out"/"err") that satisfies ``predicate``."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[key]:
                    if predicate(line):
                        return line
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not any(t.is_alive() for t in self._readers)):
                    raise AssertionError(f"no matching {key} line; stdout={self.lines['out']} "
                                         f"stderr={self.lines['err']}")
                self._cond.wait(min(left, 0.2))

    def json_for(self, name: str) -> dict:
        line = self.wait_for("out", lambda s: s.startswith("{") and json.loads(s)["source"].endswith("/" + name))
        return json.loads(line)

    def finish(self, timeout: float = TIMEOUT) -> int:
        rc = self.proc.wait(timeout=timeout)
        for t in self._readers:
            t.join(timeout=5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def drop(folder: Path, name: str, data: bytes) -> None:
    """Save a file the way scanner software does: a temporary (hidden) name, then a rename."""
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, folder / name)


def snapshot(folder: Path) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_watch_processes_new_scans_once_and_leaves_the_folder_alone(forms, tmp_path):
    (a_bytes, a_id), (b_bytes, b_id) = forms
    folder, out = tmp_path / "scanner", tmp_path / "out"
    folder.mkdir()
    (folder / "old.png").write_bytes(a_bytes)  # there before the watch: listed, not processed
    w = Watcher(folder, out, "--json", "--poll", "0.2", "--max-files", "3")
    try:
        w.wait_for("err", lambda s: s.startswith("ready, watching"))
        assert any("already there, not processed" in s and "old.png" in s for s in w.lines["err"])

        drop(folder, "a.png", a_bytes)
        r = w.json_for("a.png")
        assert r["status"] == "ok" and r["form_id"] == a_id and r["verdict"]["verdict"]
        res = out / r["output"] / "result.json"
        assert json.loads(res.read_text())["form_id"] == a_id
        assert stat.S_IMODE(res.stat().st_mode) == 0o600
        assert stat.S_IMODE((out / r["output"]).stat().st_mode) == 0o700
        assert sum(1 for p in r["prints"] if p["file"]) == len(list((out / r["output"] / "prints").iterdir())) > 0

        # A corrupt file: its error line, and the watch goes on.
        drop(folder, "bad.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 500 + b"\x00\x00\x00\x00IEND\xaeB`\x82")
        bad = w.json_for("bad.png")
        assert bad["status"] == "rejected" and "bad.png" in bad["error"]

        # The same content under another name: named, not processed again.
        drop(folder, "a-again.png", a_bytes)
        w.wait_for("err", lambda s: "a-again.png" in s and "same content as a.png" in s
                   and "already processed" in s)

        # Written in two chunks with a pause (longer than two polls: the PNG has no end yet, so it
        # is held): processed once, complete.
        with open(folder / "b.png", "wb") as fh:
            half = len(b_bytes) // 2
            fh.write(b_bytes[:half])
            fh.flush()
            time.sleep(0.7)
            fh.write(b_bytes[half:])
        rb = w.json_for("b.png")
        assert rb["status"] == "ok" and rb["form_id"] == b_id

        assert w.finish() == 1  # stopped by --max-files 3; one scan was rejected
    finally:
        w.kill()
    sources = [Path(json.loads(s)["source"]).name for s in w.lines["out"]]
    assert sources == ["a.png", "bad.png", "b.png"]  # old.png and a-again.png never processed
    tally = w.lines["err"][-1]
    assert tally.startswith("stopped (3 scans processed)")
    assert "3 scans processed (2 read, 1 rejected), 1 duplicate not processed again, 1 already there" in tally
    # The scanner's folder is exactly as written: nothing moved, changed, added or deleted.
    assert sorted(snapshot(folder)) == ["a-again.png", "a.png", "b.png", "bad.png", "old.png"]
    assert (folder / "b.png").read_bytes() == b_bytes and (folder / "old.png").read_bytes() == a_bytes


def _sockets(pid: int) -> list[str]:
    fds = Path(f"/proc/{pid}/fd")
    links = []
    for fd in fds.iterdir():
        try:
            links.append(os.readlink(fd))
        except OSError:
            pass
    return [s for s in links if s.startswith("socket:")]


def test_watch_human_summary_then_sigterm_stops_with_the_tally(forms, tmp_path):
    (a_bytes, a_id), _ = forms
    folder, out = tmp_path / "scanner", tmp_path / "out"
    folder.mkdir()
    w = Watcher(folder, out, "--poll", "0.2")
    try:
        w.wait_for("err", lambda s: s.startswith(f"ready, watching {folder}"))
        drop(folder, "desk-001.png", a_bytes)
        w.wait_for("out", lambda s: s.startswith("  Files:"))
        assert w.lines["out"][0] == f"OK {folder / 'desk-001.png'}: form {a_id}"
        assert w.lines["out"][1].startswith("  VERDICT: ")
        if Path(f"/proc/{w.proc.pid}/fd").is_dir():
            assert _sockets(w.proc.pid) == []  # nothing listens on (or opens) a network port
        w.proc.send_signal(signal.SIGTERM)
        assert w.finish(timeout=10) == 0
    finally:
        w.kill()
    assert w.lines["err"][-1].startswith("stopped (SIGTERM)")
    assert "1 scan processed (1 read, 0 rejected)" in w.lines["err"][-1]


def test_watch_stops_on_ctrl_c_and_when_idle(tmp_path):
    folder = tmp_path / "scanner"
    folder.mkdir()
    w = Watcher(folder, tmp_path / "out", "--poll", "0.1")
    try:
        w.wait_for("err", lambda s: s.startswith("ready, watching"))
        w.proc.send_signal(signal.SIGINT)
        assert w.finish(timeout=10) == 0
    finally:
        w.kill()
    assert w.lines["err"][-1].startswith("stopped (SIGINT)") and "0 scans processed" in w.lines["err"][-1]

    w = Watcher(folder, tmp_path / "out", "--poll", "0.1", "--idle-exit", "0.3")
    try:
        assert w.finish() == 0
    finally:
        w.kill()
    assert w.lines["err"][-1].startswith("stopped (nothing new for 0.3 s)")


@pytest.mark.parametrize("args, message", [
    (["x.png", "--watch", "{d}"], "not both"),
    ([], "give the SCAN files"),
    (["x.png", "--poll", "1"], "--poll only go with --watch"),
    (["x.png", "--max-files", "2", "--idle-exit", "1"], "--max-files, --idle-exit only go with --watch"),
    (["--watch", "{d}", "--form-id", "IFB1-2026-000001"], "--form-id is for one scan"),
    (["--watch", "{d}/missing"], "does not exist"),
    (["--watch", "{d}", "--poll", "0"], "--poll"),
])
def test_usage_errors(tmp_path, args, message):
    d = tmp_path / "scanner"
    d.mkdir()
    res = CliRunner().invoke(process, [a.format(d=d) for a in args] + ["--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and message in res.output, res.output


def test_out_must_not_be_the_watched_folder(tmp_path):
    res = CliRunner().invoke(process, ["--watch", str(tmp_path), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--out must not be the watched folder" in res.output


def test_folder_watch_waits_for_a_stable_file_and_returns_each_version_once(tmp_path):
    d = tmp_path
    (d / "before.png").write_bytes(b"\x89PNG\r\n\x1a\nold")
    (d / "sub").mkdir()
    w = FolderWatch(d)
    assert w.baseline() == ["before.png"]
    assert w.poll() == []

    (d / "scan.jpg").write_bytes(b"\xff\xd8\xff" + b"1" * 100)
    (d / ".hidden.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (d / "scan2.png.part").write_bytes(b"\x89PNG\r\n\x1a\n")
    (d / "empty.png").write_bytes(b"")
    assert w.poll() == []  # seen once: not yet known to be complete
    with open(d / "scan.jpg", "ab") as fh:
        fh.write(b"2" * 100 + b"\xff\xd9")  # still being written
    assert w.poll() == []
    assert w.poll() == [("scan.jpg", "scan")]  # unchanged over two polls
    assert w.poll() == []  # returned once
    assert w.waiting == 1  # the empty file waits for its bytes

    (d / "noext").write_bytes(b"%PDF-1.4 ...\n%%EOF\n")
    (d / "notes.txt").write_text("hello")
    os.symlink(d / "scan.jpg", d / "link.jpg")
    w.poll()
    assert sorted(w.poll()) == [("link.jpg", "link"), ("noext", "scan"), ("notes.txt", "not-scan")]

    # A file saved again under the same name, or a changed pre-existing file, is new.
    (d / "before.png").write_bytes(b"\x89PNG\r\n\x1a\nnew content IEND\xaeB`\x82")
    (d / "scan.jpg").unlink()
    (d / "scan.jpg").write_bytes(b"\xff\xd8\xff" + b"3" * 10 + b"\xff\xd9")
    w.poll()
    assert sorted(w.poll()) == [("before.png", "scan"), ("scan.jpg", "scan")]


@pytest.mark.parametrize("name, whole", [
    ("s.jpg", b"\xff\xd8\xff\xe0" + b"x" * 3000 + b"\xff\xd9"),
    ("s.png", b"\x89PNG\r\n\x1a\n" + b"x" * 3000 + b"\x00\x00\x00\x00IEND\xaeB`\x82"),
    ("s.pdf", b"%PDF-1.4\n" + b"x" * 3000 + b"\n%%EOF\n"),
    ("s.bmp", b"BM" + (3006).to_bytes(4, "little") + b"x" * 3000),
])
def test_a_scan_with_no_end_yet_is_held_until_written_or_long_unchanged(tmp_path, name, whole):
    w = FolderWatch(tmp_path, incomplete_settle_s=0.3)
    w.baseline()
    (tmp_path / name).write_bytes(whole[:1500])  # the writer paused mid-file
    for _ in range(3):
        assert w.poll() == []  # unchanged, but its format's end is missing
    with open(tmp_path / name, "ab") as fh:
        fh.write(whole[1500:])
    assert w.poll() == []
    assert w.poll() == [(name, "scan")]

    (tmp_path / "cut.jpg").write_bytes(whole[:1500] if name == "s.jpg" else b"\xff\xd8\xff\xe0truncated")
    w.poll()
    assert w.poll() == []
    time.sleep(0.35)
    assert w.poll() == [("cut.jpg", "scan")]  # truncated for good: processed, to get its error


def test_an_empty_file_left_empty_is_reported_rejected(tmp_path, monkeypatch, capsys):
    from ifb1.desk.watch import watch_folder
    from ifb1.pipeline.form import ProcessOptions

    w = FolderWatch(tmp_path, incomplete_settle_s=0.3)
    w.baseline()
    (tmp_path / "empty.png").write_bytes(b"")
    assert w.poll() == [] and w.poll() == []  # may still be written
    time.sleep(0.35)
    assert w.poll() == [("empty.png", "scan")]  # empty for good: processed, to get its error
    assert w.poll() == []

    # The whole watch: the operator sees it REJECTED.
    monkeypatch.setitem(FolderWatch.__init__.__kwdefaults__, "incomplete_settle_s", 0.3)
    folder = tmp_path / "scans"
    folder.mkdir()
    threading.Timer(0.2, lambda: (folder / "zero.jpg").write_bytes(b"")).start()
    tally, _ = watch_folder(folder, options=ProcessOptions(), out_dir=tmp_path / "out", as_json=False,
                            poll=0.05, max_files=1, idle_exit=20)
    assert tally.rejected == 1
    out = capsys.readouterr().out
    assert "REJECTED" in out and "zero.jpg" in out and "empty (0 bytes)" in out, out
