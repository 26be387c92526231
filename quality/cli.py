"""``ifb1 quality``: NFIQ 2 unified score and feedback for fingerprint image files.

Heavy imports (numpy, OpenCV, onnxruntime) happen inside the command, so
``ifb1 --help`` stays fast.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import click


def _clean(v: Any) -> Any:
    """JSON-safe value: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        return int(v) if v.is_integer() and abs(v) < 2**53 else v
    return v


def assess_file(path: str, *, ppi: float | None = None, scorer: str = "fast") -> dict[str, Any]:
    """Score one fingerprint image file; never raises for a bad file.

    Parameters
    ----------
    path : str
        Image file.
    ppi : float, optional
        Resolution overriding the file's metadata.
    scorer : str
        ``"fast"`` (ifb1's NFIQ 2) or ``"nist"`` (NIST's NFIQ 2 through nbis-py: its
        score, measures and actionable values; the plain-word feedback stays ifb1's).

    Returns
    -------
    dict
        ``source``, ``quality`` (0-100 or None), ``scorer``, ``error`` (None or a message
        naming the file), ``ppi``, ``ppi_source``, ``resampled_from``, ``width``/``height``
        (scored, 500 ppi), ``features`` (NFIQ 2 names), ``actionable``, ``feedback`` (codes
        and messages).

    Raises
    ------
    NistScorerUnavailable
        With ``scorer="nist"`` when NIST's NFIQ 2 is not installed here.
    """
    from ifb1.quality.feedback import assess_print
    from ifb1.quality.io import ImageReadError, read_fingerprint

    out: dict[str, Any] = {"source": path, "quality": None, "scorer": scorer, "error": None, "ppi": None,
                           "ppi_source": None, "resampled_from": None, "width": None, "height": None,
                           "features": {}, "actionable": {}, "feedback": {"codes": [], "messages": []}}
    try:
        fp = read_fingerprint(path, ppi=ppi)
    except ImageReadError as exc:
        out["error"] = str(exc)
        return out
    out.update(ppi=round(fp.ppi, 2), ppi_source=fp.ppi_source,
               resampled_from=None if fp.resampled_from is None else round(fp.resampled_from, 2),
               height=int(fp.image.shape[0]), width=int(fp.image.shape[1]))
    try:
        res = assess_print(fp.image)
    except Exception as exc:  # a failure on one print must not stop the others
        out["error"] = f"{path}: quality assessment failed ({type(exc).__name__}: {exc})"
        return out
    out.update(quality=res.quality, features=dict(res.features), actionable=dict(res.feedback.actionable),
               feedback={"codes": list(res.feedback.codes), "messages": list(res.feedback.messages)})
    error = res.error
    if scorer == "nist":
        from ifb1.quality.nist import score_nist

        nq = score_nist(fp.image)
        out.update(quality=nq.quality, features=nq.features, actionable=nq.actionable)
        error = nq.error
    if out["quality"] is None:
        out["error"] = f"{path}: {error}"
    return out


def _human(r: dict[str, Any]) -> str:
    src = r["source"]
    if r["quality"] is None and not r["feedback"]["codes"]:
        return f"ERROR {r['error']}"
    bits = []
    if r["resampled_from"] is not None:
        bits.append(f"resampled {r['resampled_from']:.0f} -> 500 ppi")
    elif r["ppi_source"] == "assumed":
        bits.append("no ppi in file, 500 assumed")
    who = "NIST NFIQ 2" if r.get("scorer") == "nist" else "NFIQ 2"
    q = "no score" if r["quality"] is None else f"{who} = {r['quality']}"
    msgs = "; ".join(r["feedback"]["messages"]) or "no problems found"
    head = f"{src}: {q}" + (f" ({', '.join(bits)})" if bits else "")
    return f"{head}. {msgs}" + (f" [{r['error']}]" if r["error"] else "")


@click.command("quality")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, one per line.")
@click.option("--ppi", type=click.FloatRange(min=1.0), default=None,
              help="Resolution of the files (overrides their metadata); resampled to 500 ppi.")
@click.option("--scorer", type=click.Choice(["fast", "nist"]), default="fast", show_default=True,
              help="fast: ifb1's own NFIQ 2 (about 30 ms a print); nist: NIST's NFIQ 2 itself (nbis-py, "
                   "about 0.3-0.6 s a print).")
def quality(images: tuple[str, ...], as_json: bool, ppi: float | None, scorer: str) -> None:
    """NFIQ 2 quality (0-100) and plain-word feedback for fingerprint IMAGE files.

    Reads PNG, TIFF, JPEG, BMP and WSQ; images not at 500 ppi are resampled and
    the output says so. Exit status 0 when every file was scored, 1 otherwise,
    2 when the NIST scorer was asked for and is not installed.
    """
    if scorer == "nist":
        from ifb1.quality.nist import NistScorerUnavailable, require_nist

        try:
            require_nist()
        except NistScorerUnavailable as exc:
            raise click.UsageError(f"--scorer nist: {exc}") from exc
    failed = 0
    for path in images:
        r = assess_file(path, ppi=ppi, scorer=scorer)
        failed += r["quality"] is None
        if as_json:
            click.echo(json.dumps(_clean(r), allow_nan=False))
        else:
            from ifb1.printable import printable

            click.echo(printable(_human(r)))
        sys.stdout.flush()
    if failed:
        if not as_json:
            click.echo(f"{failed} of {len(images)} file(s) not scored", err=True)
        sys.exit(1)
