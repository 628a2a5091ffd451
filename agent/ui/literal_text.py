"""Text that comes from the vault or a person, made safe to show as it was written (R3).

Qt guesses rich text in labels and tool tips and reads '&' in menu entries as a keyboard
accelerator, so a trainer's notice could otherwise be shown large, red or invisible. Beyond
markup, Unicode has its own formatting: bidirectional overrides reorder what follows them,
zero-width and control characters hide text, and a run of blank lines pushes the rest out of
sight. These functions take all of that out; the widgets then show the result as plain text.

No Qt here, so the rules are tested without a display.
"""

from __future__ import annotations

import re
import unicodedata

# Cc: control characters; Cf: format characters (bidi embeddings, overrides and isolates,
# zero-width spaces and joiners, soft hyphens); Co/Cs/Cn: private, surrogate, unassigned.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")
_BLANK_RUNS = re.compile(r"\n{3,}")
_SPACE_RUNS = re.compile(r"[^\S\n]+")


def literal(text: str) -> str:
    """`text` as plain characters: line breaks kept (at most one blank line in a row), tabs and
    odd spaces as one space, control and formatting characters dropped."""
    lines = _LINE_BREAKS.sub("\n", text)
    kept = "".join(
        char
        for char in lines
        if char in "\n\t" or unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    spaced = "\n".join(_SPACE_RUNS.sub(" ", line).strip() for line in kept.split("\n"))
    return _BLANK_RUNS.sub("\n\n", spaced).strip()


def one_line(text: str) -> str:
    """`literal`, on a single line: for menu entries, titles and tool tip lines."""
    return " ".join(literal(text).split())


def menu_text(text: str) -> str:
    """A menu entry that shows `text` literally: Qt takes a single '&' as an accelerator."""
    return one_line(text).replace("&", "&&")


def tooltip_text(lines: list[str]) -> str:
    """Plain text on every platform: Windows and macOS show tray tool tips as plain text, and
    X11's QToolTip guesses rich text only from the first line, which is always "Callreel"."""
    return "\n".join(["Callreel", *(one_line(line) for line in lines if line)])
