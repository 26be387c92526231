"""Text for a terminal or a log line: control and invisible characters escaped.

A file name (or any text from outside: a barcode, a manifest) may hold a newline, a carriage
return, a terminal escape sequence or a right-to-left override. Printed raw, it would split one
line of output into two, forge a line ("OK ...") or repaint the screen. Every human line ifb1
prints goes through :func:`printable`; JSON output is escaped by JSON itself.
"""

from __future__ import annotations

import unicodedata

# Characters kept as they are although their category would escape them: none. Categories
# escaped: Cc (C0/C1 controls, DEL), Cf (format: bidi overrides, zero-width), Zl/Zp (line and
# paragraph separators), Cs (surrogates: bytes of a file name that are not UTF-8).
_ESCAPED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: object) -> str:
    """``text`` with every control, format and separator character escaped (``\\n``, ``\\x1b``, ``\\u202e``).

    Plain text, accented letters and other scripts are unchanged; the result
    is always one line.
    """
    s = str(text)
    if s.isprintable() and s.isascii():
        return s
    return "".join(_escape(ch) if unicodedata.category(ch) in _ESCAPED else ch for ch in s)
