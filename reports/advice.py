"""The problems a report counts, in plain words, each with advice an officer can act on.

The feedback codes and their wording are those of :mod:`ifb1.quality.feedback`
(:data:`~ifb1.quality.feedback.MESSAGES`, "Too dark (over-inked): the ridges run
together. Use less ink and lighter pressure."): the part before the first colon
names the problem, the rest says what it looks like and what to do. Where that
wording only describes the problem, :data:`EXTRA_ADVICE` adds what to do.
The case record stores the codes with spaces (``"too dark"``, as the batch
writes them); :func:`code_of` maps them back.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A rolled box left empty with no reason written in it (XX, AMP or UP).
MISSING = "missing_unannotated"
#: A poor print (below the threshold, or not scored) with no feedback code.
NO_CAUSE = "no_single_cause"

#: What to do, for the feedback codes whose message only describes the problem.
EXTRA_ADVICE: dict[str, str] = {
    "uniform_image": "Check that every box holds a print before the form is sent.",
    "empty_or_low_contrast": "Ink the finger and roll it in its own box; check every box before the form is sent.",
    "few_minutiae": "Clean and dry the finger, ink thinly and evenly, and roll once from nail to nail.",
    "off_centre": "Place the finger in the middle of its box before rolling.",
    "too_small": "Roll the whole finger from nail edge to nail edge so that the print fills most of the box.",
    "creased": ("Dry or wrinkled skin: clean and dry the finger and roll with firm, even pressure "
                "(lines from scars cannot be avoided)."),
}

#: Shorter names, where the message has no "name: description" form.
SHORT_LABELS: dict[str, str] = {"few_minutiae": "Too few ridge details (minutiae)"}

_OWN: dict[str, tuple[str, str]] = {
    MISSING: ("Missing, no reason written",
              "A box was left empty without a reason. Take the print, or, if the finger cannot be printed, "
              "write the reason in its box: XX or AMP (amputated), UP (unable to print)."),
    NO_CAUSE: ("Poor ridge detail, no single cause found",
               "Clean and dry the finger, ink thinly and evenly, and roll once from nail to nail without sliding."),
}


@dataclass(frozen=True)
class Advice:
    """One problem: its code, short name and what to do about it."""

    code: str
    label: str
    advice: str


def _messages() -> dict[str, str]:
    from ifb1.quality.feedback import MESSAGES

    return MESSAGES


def problem_codes() -> tuple[str, ...]:
    """The feedback codes a report counts, in :data:`~ifb1.quality.feedback.MESSAGES` order."""
    return tuple(_messages())


def code_of(text: str) -> str | None:
    """The feedback code a stored feedback text stands for (``"too dark"`` -> ``"too_dark"``), or None.

    Other texts (notes such as "four-finger slap: not scored ...") are not problems and give None.
    """
    code = text.strip().replace(" ", "_").replace("-", "_")
    return code if code in _messages() else None


def advice_for(code: str) -> Advice:
    """The short name and advice for a feedback code, :data:`MISSING` or :data:`NO_CAUSE`.

    Raises
    ------
    KeyError
        For an unknown code.
    """
    if code in _OWN:
        label, text = _OWN[code]
        return Advice(code, label, text)
    message = _messages()[code]
    label, _, rest = message.partition(": ")
    rest = rest.strip()
    extra = EXTRA_ADVICE.get(code)
    text = (rest[:1].upper() + rest[1:]) if rest else ""
    if extra:
        text = f"{text} {extra}".strip()
    return Advice(code, SHORT_LABELS.get(code, label.strip().rstrip(".")), text or message)
