"""The IFB1 layout template: the form's printed geometry, read from data.

The geometry is never hard-coded: :func:`load_layout` reads the bundled
``ifb1-layout.json`` (a copy of the layout contract) or any other template
file, so the real form's geometry can be dropped in later.
"""

from ifb1.forms.layout import Box, Field, Layout, load_layout, DEFAULT_LAYOUT_PATH

__all__ = ["Box", "Field", "Layout", "load_layout", "DEFAULT_LAYOUT_PATH"]
