"""Frozen dataclasses for the IFB1 layout template (units: millimetres).

The origin is the page's top-left corner, x to the right, y down. Rectangles
are ``(x, y, width, height)`` of a printed border, centred on the line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LAYOUT_PATH = Path(__file__).with_name("ifb1-layout.json")

MM_PER_INCH = 25.4

Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class Box:
    """One print box.

    Attributes
    ----------
    position : int
        ANSI/NIST-ITL finger position code (1-10 rolled, 11 right thumb plain,
        12 left thumb plain, 13 right four fingers, 14 left four fingers).
    finger : str
        Plain-words name, e.g. ``"right thumb"``.
    impression : str
        ``"rolled"`` or ``"plain"``.
    rect_mm : tuple of float
        ``(x, y, width, height)`` of the printed border, in mm.
    label : str
        The label printed in the box's top-left corner.
    """

    position: int
    finger: str
    impression: str
    rect_mm: Rect
    label: str

    def corners_mm(self) -> tuple[tuple[float, float], ...]:
        """The border's corners TL, TR, BR, BL in page millimetres."""
        return rect_corners(self.rect_mm)


@dataclass(frozen=True)
class Field:
    """A labelled box for hand-written details or a signature."""

    name: str
    label: str
    rect_mm: Rect


@dataclass(frozen=True)
class Label:
    """A line of printed text anchored at ``at_mm`` (top-left of the text)."""

    text: str
    at_mm: tuple[float, float]


@dataclass(frozen=True)
class Layout:
    """The whole form template.

    Attributes
    ----------
    form, version : str, int
        Template identity.
    page_mm : tuple of float
        Page width and height in mm (A4 portrait: 210 x 297).
    line_width_mm : float
        Width of printed border lines.
    title_rect_mm, title_text
        The title bar.
    barcode_zone_mm : tuple of float
        Where the barcode label is usually stuck (a hint only).
    fields, footer : tuple of Field
        Detail and signature boxes.
    section_labels : tuple of Label
        Printed section headings.
    boxes : tuple of Box
        The fourteen print boxes, in template order.
    """

    form: str
    version: int
    page_mm: tuple[float, float]
    line_width_mm: float
    title_rect_mm: Rect
    title_text: str
    barcode_zone_mm: Rect
    fields: tuple[Field, ...]
    footer: tuple[Field, ...]
    section_labels: tuple[Label, ...]
    boxes: tuple[Box, ...]

    def box(self, position: int) -> Box:
        """The box with ANSI/NIST finger position ``position``."""
        for b in self.boxes:
            if b.position == position:
                return b
        raise KeyError(f"layout {self.form} v{self.version} has no box for position {position}")

    @property
    def rolled(self) -> tuple[Box, ...]:
        return tuple(b for b in self.boxes if b.impression == "rolled")

    @property
    def plain(self) -> tuple[Box, ...]:
        return tuple(b for b in self.boxes if b.impression == "plain")


def rect_corners(rect: Rect) -> tuple[tuple[float, float], ...]:
    """Corners TL, TR, BR, BL of an ``(x, y, w, h)`` rectangle."""
    x, y, w, h = rect
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


def mm_to_px(mm: float, ppi: float) -> float:
    """Millimetres to pixels at ``ppi``."""
    return mm * ppi / MM_PER_INCH


def _rect(value, where: str, path: Path) -> Rect:
    if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value)):
        raise ValueError(f"{path}: {where} must be [x, y, width, height] in mm, got {value!r}")
    x, y, w, h = (float(v) for v in value)
    if w <= 0 or h <= 0:
        raise ValueError(f"{path}: {where} has a non-positive size {value!r}")
    return (x, y, w, h)


def load_layout(path: str | Path | None = None) -> Layout:
    """Read a layout template.

    Parameters
    ----------
    path : str or Path, optional
        A layout JSON file; the bundled IFB1 template when omitted.

    Returns
    -------
    Layout

    Raises
    ------
    ValueError
        Naming the file and the problem, when the template is malformed.
    """
    path = Path(path) if path is not None else DEFAULT_LAYOUT_PATH
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the layout template: {exc}") from exc
    if data.get("units") != "mm":
        raise ValueError(f"{path}: units must be 'mm', got {data.get('units')!r}")
    try:
        boxes = tuple(
            Box(
                position=int(b["position"]),
                finger=str(b["finger"]),
                impression=str(b["impression"]),
                rect_mm=_rect(b["rect_mm"], f"box {b.get('position')}", path),
                label=str(b["label"]),
            )
            for b in data["boxes"]
        )
        fields = tuple(Field(str(f["name"]), str(f["label"]), _rect(f["rect_mm"], f["name"], path)) for f in data.get("fields", []))
        footer = tuple(Field(str(f["name"]), str(f["label"]), _rect(f["rect_mm"], f["name"], path)) for f in data.get("footer", []))
        labels = tuple(Label(str(s["text"]), (float(s["at_mm"][0]), float(s["at_mm"][1]))) for s in data.get("section_labels", []))
        layout = Layout(
            form=str(data["form"]),
            version=int(data["version"]),
            page_mm=(float(data["page_mm"][0]), float(data["page_mm"][1])),
            line_width_mm=float(data["line_width_mm"]),
            title_rect_mm=_rect(data["title"]["rect_mm"], "title", path),
            title_text=str(data["title"]["text"]),
            barcode_zone_mm=_rect(data["barcode_label_zone_mm"], "barcode_label_zone_mm", path),
            fields=fields,
            footer=footer,
            section_labels=labels,
            boxes=boxes,
        )
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{path}: malformed layout template, missing or wrong {exc}") from exc
    positions = sorted(b.position for b in boxes)
    if positions != list(range(1, 15)):
        raise ValueError(f"{path}: expected boxes for positions 1-14, got {positions}")
    return layout
