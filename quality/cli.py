"""Former home of ``ifb1 quality``; kept so that existing imports keep working.

The command is :mod:`ifb1.commands.quality`; scoring one file is
:func:`ifb1.sampleset.score.assess_file`.
"""

from __future__ import annotations

from ifb1.commands.quality import quality  # noqa: F401
from ifb1.sampleset.score import assess_file  # noqa: F401

__all__ = ["assess_file", "quality"]
