"""Words from the vault or a person are shown as written: no markup, no Unicode formatting that
reorders or hides text, no accelerator '&', no run of blank lines (R3)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.ui.literal_text import literal, menu_text, one_line, tooltip_text

RIGHT_TO_LEFT_OVERRIDE = "\u202e"
ZERO_WIDTH_SPACE = "\u200b"


def test_markup_is_kept_as_characters() -> None:
    text = "<h1 style='color:red'>This call is NOT recorded</h1>"
    assert literal(text) == text


def test_bidi_overrides_and_invisible_characters_are_dropped() -> None:
    # With the override the line would read "...recorded" backwards from there on.
    text = f"This call is {RIGHT_TO_LEFT_OVERRIDE}dedrocer{ZERO_WIDTH_SPACE}\x07 today"
    assert literal(text) == "This call is dedrocer today"


def test_line_breaks_kept_but_blank_runs_collapse() -> None:
    text = "First line\r\nsecond\u2028third" + "\n" * 200 + "far below\t\tend  "
    assert literal(text) == "First line\nsecond\nthird\n\nfar below end"


def test_one_line_and_menu_text() -> None:
    assert one_line("Quality\n\nand\tR&D ") == "Quality and R&D"
    assert menu_text("Problem: R&D said <b>no</b>") == "Problem: R&&D said <b>no</b>"


def test_tooltip_starts_with_the_product_name() -> None:
    assert tooltip_text(["<b>x</b>", "", "two\nlines"]) == "Callreel\n<b>x</b>\ntwo lines"


@given(st.text())
def test_literal_is_stable_and_free_of_formatting(text: str) -> None:
    shown = literal(text)
    assert literal(shown) == shown
    assert RIGHT_TO_LEFT_OVERRIDE not in shown
    assert "\n\n\n" not in shown
    assert all(char == "\n" or char.isprintable() for char in shown)
