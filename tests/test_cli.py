import subprocess
import sys

from click.testing import CliRunner

from ifb1 import __version__
from ifb1.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_lists_subcommands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "samples" in result.output


def test_help_does_not_import_numpy():
    # The CLI must start fast: heavy imports stay lazy until a stage runs.
    code = "import sys, ifb1.cli; ifb1.cli.main(['--help'], standalone_mode=False); print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_folders_created_on_the_way_to_out_and_data_are_private(tmp_path):
    """`--out a/b/c` and `--data x/y/z`: every folder ifb1 creates is 0700, not just the last one."""
    import os
    import stat

    from click.testing import CliRunner

    from ifb1.cli import main

    tray = tmp_path / "tray"
    tray.mkdir()
    out, data, summary = tmp_path / "o1" / "o2" / "out", tmp_path / "d1" / "d2" / "data", tmp_path / "s1" / "s.json"
    old = os.umask(0o022)  # a usual umask: plain mkdir -p would give 0755 parents
    try:
        r = CliRunner().invoke(main, ["batch", str(tray), "--out", str(out), "--data", str(data),
                                      "--json-summary", str(summary)])
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(main, ["process", str(tmp_path / "none.png"), "--out", str(tmp_path / "p1" / "p2")])
    finally:
        os.umask(old)
    assert r.exit_code == 1  # the scan is missing; the folders are made first
    for d in (out, out.parent, out.parent.parent, data, data.parent, data.parent.parent, summary.parent,
              tmp_path / "p1", tmp_path / "p1" / "p2"):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
