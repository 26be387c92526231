"""ifb1: reads scanned IFB1 fingerprint forms for the NSEC safeguarding team.

Subpackages are the pipeline's stages: :mod:`ifb1.samples` (synthetic forms
with ground truth), :mod:`ifb1.forms` (the layout template), :mod:`ifb1.barcode`,
:mod:`ifb1.enhance`, :mod:`ifb1.quality`, :mod:`ifb1.models` and
:mod:`ifb1.pipeline`.
"""

__version__ = "0.1.0"
