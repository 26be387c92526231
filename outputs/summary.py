"""The human summary of one processed form: what the operator at the scanner reads.
"""

from __future__ import annotations

from pathlib import Path


_FINGER_WIDTH = 19



def _short(message: str) -> str:
    """The name of a problem: its message up to the first colon ("Too light (under-inked)")."""
    return message.split(":", 1)[0].rstrip(".")



def _print_line(p: dict, min_quality: int | None) -> str:
    """One line per box: position, finger, score and its problems, named in plain words."""
    what = f"{p['position']:>4}  {p['finger']:<{_FINGER_WIDTH}}{p['impression']:<7} "
    if not p["present"]:
        a = p.get("annotation") or {}
        if a.get("kind") == "annotated" and a.get("code"):
            return what + f"  --  no print, box marked {a['code']}"
        return what + "  --  no print in the box"
    q = p.get("quality")
    fb = p.get("feedback") or {"codes": [], "messages": []}
    if q is None:
        if p.get("quality_status") == "not-scored":
            return what + "  --  " + (p.get("quality_note") or "not scored")
        reason = ", ".join(_short(m) for m in fb["messages"]) or p.get("quality_note") or "no score"
        return what + "  --  no score: " + reason
    problems = ", ".join(_short(m) for m in fb["messages"])
    poor = min_quality is not None and q < min_quality
    label = ("POOR: " if poor else "") + (problems or ("no problem found" if not poor else "low ridge quality"))
    return what + f"{q:>4}  {label}"



def summary_lines(result: dict, *, min_quality: int | None = None, out_dir: Path | None = None) -> list[str]:
    """The human summary of one processed form, for the operator at the scanner.

    First line: ``OK`` and the form id, or ``MANUAL ENTRY`` when no barcode
    was read (``REJECTED`` and the reason when the scan could not be read);
    then the verdict in capitals with its reasons, any warnings, one line per
    box (NFIQ 2 score and its problems by name), what to do about each problem
    found (once) and where the files went.

    Parameters
    ----------
    result : dict
        From :func:`write_outputs` or :meth:`ifb1.pipeline.form.FormResult.to_dict`.
    min_quality : int, optional
        The policy's threshold: scores below it are marked POOR.
    out_dir : Path, optional
        The output folder, to show where the files went.

    Returns
    -------
    list of str
    """
    src = result["source"]
    if result["status"] != "ok":
        error = str(result.get("error"))
        # The error names the file already (the stages' convention): do not say it twice.
        return [f"REJECTED {error}" if error.startswith(f"{src}: ") else f"REJECTED {src}: {error}"]
    bc = result.get("barcode") or {}
    if bc.get("text") is not None and not bc.get("valid_id"):
        # Read, but not a form id: say so, as the JSON does (repr: the text is from outside).
        text = bc["text"] if len(bc["text"]) <= 40 else bc["text"][:40] + "..."
        unread = f"a barcode was read but its text {text!r} is not a valid form id"
    else:
        unread = "no barcode read"
    if result.get("form_id") and not result.get("manual_entry"):
        fid = f"form {result['form_id']}"
    elif result.get("form_id"):
        fid = f"form {result['form_id']} (typed in: {unread})"
    else:
        fid = f"MANUAL ENTRY: {unread}, enter the form id by hand"
    copy = " (marked as a scanned copy)" if result.get("is_copy") else ""
    lines = [f"OK {src}: {fid}{copy}"]
    v = result.get("verdict")
    if v is not None:
        on = " (decided on NIST's NFIQ 2)" if v.get("scorer") == "nist" else ""
        lines.append(f"  VERDICT: {v['verdict'].upper()}{on}")
        lines += [f"    - {r}" for r in v["reasons"]]
    lines += [f"  WARNING: {w}" for w in result.get("warnings", [])]
    below = f", POOR below {min_quality}" if min_quality is not None else ""
    scorers = {p.get("scorer") for p in result["prints"]} - {None}
    by = {"nist": " by NIST's NFIQ 2", "fast": " by ifb1's fast NFIQ 2"}.get(scorers.pop()) if len(scorers) == 1 else ""
    lines.append(f"  Prints (NFIQ 2 score 0-100{by}{below}):")
    lines += ["  " + _print_line(p, min_quality) for p in result["prints"]]
    advice: dict[str, str] = {}
    for p in result["prints"]:
        for m in (p.get("feedback") or {}).get("messages", []):
            if ":" in m and p.get("quality") is not None:
                advice.setdefault(_short(m), m)
    if advice:
        lines.append("  What the problems mean:")
        lines += [f"    {m}" for m in advice.values()]
    n = sum(1 for p in result["prints"] if p.get("file"))
    total = result.get("timings_ms", {}).get("total")
    took = f" in {total / 1000:.1f} s" if total is not None else ""
    if result.get("output"):
        where = out_dir / result["output"] if out_dir is not None else Path(result["output"])
        lines.append(f"  Files: {where}/ ({n} prints, preview.jpg, result.json){took}")
    return lines
