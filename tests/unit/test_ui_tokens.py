"""The admin UI's stylesheet takes every colour, space and radius from the tokens in `:root`,
so a theme is one block of custom properties."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).parents[2] / "templates" / "static"
TOKENS = STATIC / "tokens.css"
EDGE_STATIC = Path(__file__).parents[2] / "edge" / "static"
DARK_BLOCKS = re.compile(r":root(?::not\(\[data-theme=light\]\)|\[data-theme=dark\])\s*\{([^}]*)\}")
ROOT_BLOCK = re.compile(r":root\s*\{[^}]*\}")
DECLARATIONS = re.compile(r"\{([^{}]*)\}")
RAW = re.compile(r"#[0-9a-fA-F]{3,8}\b|\brgba?\(|\d+(?:\.\d+)?(?:px|rem|em)\b")


def test_ui_tokens_every_colour_and_space_comes_from_a_custom_property() -> None:
    tokens = TOKENS.read_text()
    light = "".join(ROOT_BLOCK.findall(tokens))
    assert "--bg" in light and "--space-3" in light and "--radius" in light
    # The dark scheme overrides only tokens the light one has.
    names = re.compile(r"(--[\w-]+):")
    for dark in DARK_BLOCKS.findall(tokens):
        assert set(names.findall(dark)) <= set(names.findall(light))
    # Only tokens.css has raw values; the stylesheets that use them have none.
    text = (STATIC / "wharf.css").read_text() + (STATIC / "visitor.css").read_text()
    assert ":root" not in text
    rules = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    # Declarations only: selectors and @media breakpoints may name ids and widths.
    declarations = " ".join(DECLARATIONS.findall(rules))
    raw = [match for match in RAW.findall(declarations) if match not in ("1px", "2px")]
    assert raw == [], raw


def test_ui_tokens_dark_is_one_block_for_the_browsers_choice_and_the_cookies() -> None:
    """The dark tokens under prefers-color-scheme (unless the theme says light) and under
    data-theme=dark are the same declarations, so the two ways to dark never drift apart."""
    blocks = [" ".join(block.split()) for block in DARK_BLOCKS.findall(TOKENS.read_text())]
    assert len(blocks) == 2 and blocks[0] == blocks[1]
    assert "@media (prefers-color-scheme: dark)" in TOKENS.read_text()


def test_ui_tokens_the_edge_copies_are_the_control_planes() -> None:
    """The edge styles its own pages with copies (it serves only sites' files): `make edge-css`."""
    for name in ("tokens.css", "visitor.css"):
        assert (EDGE_STATIC / name).read_bytes() == (STATIC / name).read_bytes(), name
