"""File names with newlines and control characters never split or forge a line of output."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from ifb1.cli import main
from ifb1.printable import printable
from ifb1.samples.generate import FormOptions, generate_form, save_scan

HOSTILE = "scan\nOK forged.png: form IFB1-2025-000001\x1b[2K\u202e.png"


def test_printable_escapes_controls_and_keeps_text():
    assert printable("plain/path é ü 漢字.png") == "plain/path é ü 漢字.png"
    assert printable("a\nb\r\tc\x1b[31m\x7f\x85") == "a\\nb\\r\\tc\\x1b[31m\\x7f\\x85"
    assert printable("x\u202ey\u2028z\u200b") == "x\\u202ey\\u2028z\\u200b"
    assert printable("bad\udcffbyte") == "bad\\xffbyte"


def _no_forged_lines(output: str, expected_lines: int | None = None) -> None:
    assert "\x1b" not in output and "\u202e" not in output
    assert not any(line.startswith("OK forged") for line in output.splitlines()), output


@pytest.fixture(scope="module")
def hostile_tray(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    tray = d / "tray"
    tray.mkdir()
    save_scan(generate_form(41, 1, options=FormOptions(ppi=300, upside_down=False)), d / "good.png", fmt="png",
              ppi_in_metadata=300)
    shutil.copy(d / "good.png", tray / HOSTILE)
    (tray / (HOSTILE + ".bad.png")).write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return d, tray


def test_process_text_escapes_names(hostile_tray, tmp_path):
    d, tray = hostile_tray
    r = CliRunner().invoke(main, ["process", str(tray / HOSTILE), str(tray / (HOSTILE + ".bad.png")),
                                  "--out", str(tmp_path / "out")])
    assert r.exit_code == 1, r.output
    _no_forged_lines(r.output)
    ok = [line for line in r.output.splitlines() if line.startswith("OK ")]
    rejected = [line for line in r.output.splitlines() if line.startswith("REJECTED ")]
    assert len(ok) == 1 and "scan\\nOK forged.png" in ok[0] and "\\x1b[2K\\u202e" in ok[0]
    assert len(rejected) == 1 and "scan\\nOK forged.png" in rejected[0]


def test_batch_delete_and_audit_log_escape_names(hostile_tray, tmp_path):
    d, tray = hostile_tray
    out, data = tmp_path / "out", tmp_path / "data"
    r = CliRunner().invoke(main, ["batch", str(tray), "--out", str(out), "--data", str(data)])
    assert r.exit_code == 1, r.output  # the bad one failed
    _no_forged_lines(r.output)
    failed = [line for line in r.output.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and "scan\\nOK forged.png" in failed[0], r.output
    for args in (["audit", "log"], ["delete", "--dry-run"]):
        r = CliRunner().invoke(main, [*args, "--data", str(data)])
        assert r.exit_code == 0, r.output
        _no_forged_lines(r.output)
    log = CliRunner().invoke(main, ["audit", "log", "--data", str(data)]).output
    assert all(line[:6].strip().isdigit() for line in log.splitlines()), log  # one line per event
