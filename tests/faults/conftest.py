"""Shared material for the fault suite: generated scans and ways to run ifb1 as staff do."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ifb1.records import open_record
from ifb1.samples.generate import FormOptions, generate_form, save_scan

REPO = Path(__file__).resolve().parents[2]
SEED = 3
# Clean originals (suitable) and a strongly degraded, badly inked copy (unsuitable); 300 ppi keeps them fast.
ORIGINAL = dict(ppi=300, missing_rate=0.0, poor_inking_rate=0.0, upside_down=False)
BAD_COPY = dict(ppi=300, copy=True, poor_inking_rate=1.0, copy_degradation=(1.0, 1.0), upside_down=False)
FORMS = {"good1.png": (1, ORIGINAL), "good2.png": (2, ORIGINAL), "bad.png": (3, BAD_COPY)}


@pytest.fixture(scope="session")
def scans(tmp_path_factory) -> Path:
    """``good1.png``, ``good2.png`` (suitable originals) and ``bad.png`` (an unsuitable copy), with truth."""
    d = tmp_path_factory.mktemp("fault-scans")
    for name, (index, opts) in FORMS.items():
        save_scan(generate_form(SEED, index, options=FormOptions(**opts)), d / name, fmt="png", ppi_in_metadata=300)
    return d


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def ifb1(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m ifb1 ARGS`` as a separate process (what staff and cron do)."""
    full = dict(os.environ)
    full.pop("IFB1_TEST_CRASH_AT", None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "ifb1", *map(str, args)], env=full, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def events(data: Path) -> list:
    with open_record(data, readonly=True) as rec:
        return list(rec.events())


def per_form(evts, kind: str) -> dict:
    out: dict = {}
    for e in evts:
        if e.kind == kind:
            out[e.form_key] = out.get(e.form_key, 0) + 1
    return out


def synthetic_unsuitable_record(base: Path, n: int, *, files_per_form: int = 6) -> dict:
    """A record of ``n`` unsuitable copies, each with its scan twice in the tray and derived files.

    No image is processed (deletion does not look inside files), so many deletions cost little.
    Returns ``{"data", "tray", "out", "files": {form_key: [paths]}}``.
    """
    from ifb1.records import PrintEntry

    tray, out, data = base / "tray", base / "out", base / "data"
    tray.mkdir(parents=True)
    out.mkdir()
    files: dict[int, list[Path]] = {}
    with open_record(data) as rec:
        rec.add_root(tray, kind="tray", actor="test")
        rec.add_root(out, kind="output", actor="test")
        for i in range(n):
            content = f"scan {i} ".encode() * 1000
            scan, again = tray / f"copy{i:02d}.png", tray / f"copy{i:02d}-again.png"
            scan.write_bytes(content)
            again.write_bytes(content)
            digest = hashlib.sha256(content).hexdigest()
            key = rec.add_form(scan_sha256=digest, source_path=scan, is_copy=True, actor="test",
                               form_id=f"IFB1-2025-{i:06d}")
            paths = [scan, again]
            prints = []
            for pos in range(1, files_per_form + 1):
                crop = out / "forms" / f"f{i:02d}" / "prints" / f"{pos:02d}.png"
                crop.parent.mkdir(parents=True, exist_ok=True)
                crop.write_bytes(b"crop %d %d" % (i, pos))
                prints.append(PrintEntry(pos, True, 10.0, crop_path=str(crop)))
                paths.append(crop)
            rec.set_prints(key, prints)
            for p in paths[2:]:
                rec.add_artefact(key, "crop", p, sha256=hashlib.sha256(p.read_bytes()).hexdigest())
            rec.set_verdict(key, "unsuitable", ["all prints poor"], actor="test")
            rec.add_scan_copy(key, again, sha256=digest, actor="test")
            files[key] = paths
    return {"data": data, "tray": tray, "out": out, "files": files}
