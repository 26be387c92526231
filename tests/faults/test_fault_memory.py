"""Decompression bombs and memory: any file costs a worker under 400 MB, and a bomb is refused with one limit.

Each measurement runs in a fresh process (its peak resident memory, ``VmHWM``; Linux only), as a
batch worker would process the file.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from ifb1.intake.scan import DEFAULT_MAX_PIXELS, IntakeError, load_scan
from ifb1.samples.generate import FormOptions, generate_form

PEAK_LIMIT_MB = 400

# VmHWM, the peak of this process's own memory (ru_maxrss would carry the parent's over a fork + exec).
_PEAK = """
import json, sys
from ifb1.pipeline.form import ProcessOptions, process_form
r = process_form(sys.argv[1], options=ProcessOptions())
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"status": r.status, "error": r.error, "peak_mb": hwm / 1024}))
"""


def peak(path: Path) -> dict:
    if not Path("/proc/self/status").is_file():
        pytest.skip("peak memory is read from /proc (Linux)")
    r = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def streamed_png(path: Path, w: int, h: int, channels: int, *, ink_rows: int = 0) -> Path:
    """A valid PNG of w x h pixels written row by row (never held in memory): white, a few black rows."""
    colour = {1: 0, 3: 2, 4: 6}[channels]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    white = b"\0" + b"\xff" * (w * channels)
    black = b"\0" + (b"\0" * (channels - 1) + b"\xff" if channels == 4 else b"\0" * channels) * w
    z = zlib.compressobj(6)
    parts = [z.compress(black if 0 < y % 997 <= ink_rows else white) for y in range(h)]
    parts.append(z.flush())
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
                     + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    return path


def test_a_small_png_of_119_megapixels_is_refused_before_decoding(tmp_path):
    bomb = streamed_png(tmp_path / "bomb.png", 10_900, 10_900, 3)
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(IntakeError) as info:
        load_scan(bomb)
    message = str(info.value)
    assert "decompression bomb" in message
    limits = re.findall(r"(\d+) MP limit", message)
    assert limits == [str(DEFAULT_MAX_PIXELS // 1_000_000)], message
    assert 30_000_000 <= DEFAULT_MAX_PIXELS <= 45_000_000  # about a real page: a flatbed A4 at 600 ppi
    result = peak(bomb)
    assert result["status"] == "rejected" and result["peak_mb"] < 150, result


@pytest.mark.parametrize("side", [20_000, 100_000])
def test_bombs_of_any_size_name_one_limit(tmp_path, side):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path = tmp_path / "header.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    with pytest.raises(IntakeError) as info:
        load_scan(path)
    numbers = set(re.findall(r"limit of (\d+)|(\d+) MP limit|(\d{6,}) pixels", str(info.value)))
    assert len(numbers) == 1, str(info.value)


def test_colour_page_at_the_pixel_cap_decodes_under_400_mb(tmp_path):
    # RGBA is the costliest layout Pillow holds (4 bytes a pixel); a page just under the cap.
    side_w = 5_400
    side_h = DEFAULT_MAX_PIXELS // side_w - 1
    path = streamed_png(tmp_path / "rgba.png", side_w, side_h, 4, ink_rows=3)
    result = peak(path)
    assert result["peak_mb"] < PEAK_LIMIT_MB, result


def test_a_600_ppi_colour_form_is_processed_under_400_mb(tmp_path):
    from PIL import Image

    form = generate_form(5, 1, options=FormOptions(ppi=600, upside_down=False))
    grey = np.asarray(form.image, dtype=np.uint8)
    path = tmp_path / "colour600.png"
    Image.fromarray(grey).convert("RGB").save(path, dpi=(600, 600), compress_level=1)
    result = peak(path)
    assert result["status"] == "ok", result
    assert result["peak_mb"] < PEAK_LIMIT_MB, result
