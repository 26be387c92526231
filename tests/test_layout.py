import json

import pytest

from ifb1.forms import load_layout
from ifb1.forms.layout import mm_to_px


def test_bundled_layout_has_fourteen_boxes():
    layout = load_layout()
    assert sorted(b.position for b in layout.boxes) == list(range(1, 15))
    assert len(layout.rolled) == 10 and len(layout.plain) == 4
    assert layout.page_mm == (210.0, 297.0)
    assert layout.box(1).corners_mm()[0] == (10.0, 74.0)


def test_malformed_layout_names_file(tmp_path):
    bad = tmp_path / "bad.json"
    data = json.loads(load_layout.__globals__["DEFAULT_LAYOUT_PATH"].read_text())
    data["boxes"] = data["boxes"][:3]
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="bad.json"):
        load_layout(bad)


def test_mm_to_px():
    assert mm_to_px(25.4, 500) == pytest.approx(500)
