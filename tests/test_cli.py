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
