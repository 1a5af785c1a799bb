"""The admin UI's stylesheet takes every colour, space and radius from the tokens in `:root`,
so a theme is one block of custom properties."""

from __future__ import annotations

import re
from pathlib import Path

CSS = Path(__file__).parents[2] / "templates" / "static" / "wharf.css"
ROOT_BLOCK = re.compile(r":root\s*\{[^}]*\}")
DECLARATIONS = re.compile(r"\{([^{}]*)\}")
RAW = re.compile(r"#[0-9a-fA-F]{3,8}\b|\brgba?\(|\d+(?:\.\d+)?(?:px|rem|em)\b")


def test_ui_tokens_every_colour_and_space_comes_from_a_custom_property() -> None:
    text = CSS.read_text()
    tokens = "".join(ROOT_BLOCK.findall(text))
    assert "--bg" in tokens and "--space-3" in tokens and "--radius" in tokens
    # Both schemes define the same tokens.
    light, dark = ROOT_BLOCK.findall(text)[:2]
    names = re.compile(r"(--[\w-]+):")
    assert set(names.findall(dark)) <= set(names.findall(light))
    rules = re.sub(r"/\*.*?\*/", "", ROOT_BLOCK.sub("", text), flags=re.S)
    # Declarations only: selectors and @media breakpoints may name ids and widths.
    declarations = " ".join(DECLARATIONS.findall(rules))
    raw = [match for match in RAW.findall(declarations) if match not in ("1px", "2px")]
    assert raw == [], raw
