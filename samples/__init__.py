"""ifb1.samples: synthetic scanned IFB1 forms with exact ground truth.

Entry points (imported lazily, so ``import ifb1.samples`` stays light):

- :func:`generate_form`, :class:`FormOptions`, :class:`GeneratedForm`,
  :func:`save_scan` (:mod:`ifb1.samples.generate`)
- :func:`render_blank_form` (:mod:`ifb1.samples.form`)
- :func:`make_person`, :func:`make_master` (:mod:`ifb1.samples.fingerprint`),
  :func:`rolled_impression`, :func:`plain_impression`, :func:`slap_impression`
  (:mod:`ifb1.samples.impression`), :func:`ink_print`, :func:`random_damage`,
  :class:`Damage` (:mod:`ifb1.samples.ink`)
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "FormOptions": "generate", "GeneratedForm": "generate", "generate_form": "generate", "save_scan": "generate",
    "verdict_for": "generate", "form_id_for": "generate",
    "render_blank_form": "form",
    "ScanParams": "scan", "CopyParams": "scan", "ScanGeometry": "scan",
    "LabelParams": "label", "render_label": "label",
    "make_person": "fingerprint", "make_master": "fingerprint", "MasterFingerprint": "fingerprint",
    "MasterParams": "fingerprint", "PATTERNS": "fingerprint",
    "Impression": "impression", "rolled_impression": "impression", "plain_impression": "impression",
    "slap_impression": "impression",
    "Damage": "ink", "InkedPrint": "ink", "ink_print": "ink", "random_damage": "ink",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ifb1.samples' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ifb1.samples.{module}"), name)
