"""The ``ifb1`` command line.

Each command group has its own thin module under :mod:`ifb1.commands`; they are
imported only when invoked so that ``ifb1 --help`` starts fast (no numpy/OpenCV import).
"""

from __future__ import annotations

import importlib

import click

from ifb1 import __version__

# name -> "module:attribute" of a click command; loaded lazily.
SUBCOMMANDS: dict[str, str] = {
    "samples": "ifb1.commands.samples:samples",
    "quality": "ifb1.commands.quality:quality",
    "delete": "ifb1.commands.records:delete",
    "audit": "ifb1.commands.records:audit",
    "process": "ifb1.commands.process:process",
    "batch": "ifb1.commands.batch:batch",
    "export": "ifb1.commands.batch:export",
    "report": "ifb1.commands.report:report",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ifb1")
def main() -> None:
    """Read scanned IFB1 fingerprint forms: barcode, print boxes, quality, verdict, export."""
