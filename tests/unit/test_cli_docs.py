"""docs/cli.md and the `wharf` parser agree: every command has a section naming each of its
options and arguments, and the page documents no command the parser lacks."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

from controlplane.cli.commands import build_parser
from controlplane.config import SETTINGS

PAGE = Path(__file__).parents[2] / "docs" / "cli.md"
HEADING = re.compile(r"^### (wharf(?: [\w-]+)*)\s*$", re.M)
# The per-setting options of the server commands are documented once, in configuration.md; a
# section that links there need not repeat them.
SETTING_FLAGS = {setting.flag for setting in SETTINGS}


def _commands(
    parser: argparse.ArgumentParser, path: str = "wharf"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command path and its parser (groups such as `wharf sites` too)."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, f"{path} {name}")


def _is_group(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(action, argparse._SubParsersAction) for action in parser._actions)


def _sections() -> dict[str, str]:
    """`### wharf …` heading → the text up to the next heading of level 3 or above."""
    text = PAGE.read_text()
    sections = {}
    for match in HEADING.finditer(text):
        rest = text[match.end() :]
        end = re.search(r"^#{1,3} ", rest, re.M)
        sections[match[1]] = rest[: end.start()] if end else rest
    return sections


def _mentions(section: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", section) is not None


def _undocumented(parser: argparse.ArgumentParser, section: str) -> list[str]:
    """The options and arguments of a command its section does not name."""
    settings_referred = "configuration.md" in section
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.option_strings:
            for option in action.option_strings:
                if settings_referred and option in SETTING_FLAGS:
                    continue
                if not _mentions(section, option):
                    missing.append(f"option {option}")
        elif action.choices:  # a positional with choices: each is named
            missing += [f"choice {c}" for c in action.choices if not _mentions(section, str(c))]
        else:
            shown = str(action.metavar or action.dest.upper())
            if not _mentions(section, shown):
                missing.append(f"argument {shown}")
    return missing


def test_cli_docs_every_command_has_a_section() -> None:
    sections = _sections()
    missing = [
        path
        for path, parser in _commands(build_parser())
        if path != "wharf" and not _is_group(parser) and path not in sections
    ]
    assert missing == [], f"docs/cli.md has no `### <command>` section for: {', '.join(missing)}"


def test_cli_docs_every_option_is_named_in_its_section() -> None:
    sections = _sections()
    problems = [
        f"{path}: {item}"
        for path, parser in _commands(build_parser())
        if path in sections
        for item in _undocumented(parser, sections[path])
    ]
    assert problems == [], "docs/cli.md does not name these:\n  " + "\n  ".join(problems)


def test_cli_docs_documents_no_command_the_parser_lacks() -> None:
    known = {path for path, _ in _commands(build_parser())}
    stale = sorted(set(_sections()) - known)
    assert stale == [], f"docs/cli.md documents commands wharf does not have: {', '.join(stale)}"


def test_cli_docs_setting_options_are_documented_in_configuration() -> None:
    text = (PAGE.parent / "configuration.md").read_text()
    missing = [flag for flag in sorted(SETTING_FLAGS) if f"`{flag}`" not in text]
    assert missing == [], f"docs/configuration.md does not name: {', '.join(missing)}"


def test_cli_docs_page_is_linked_from_the_readme() -> None:
    assert "docs/cli.md" in (PAGE.parents[1] / "README.md").read_text()


def test_cli_docs_the_check_finds_what_is_missing() -> None:
    """The checks themselves: a missing option and a missing argument are both reported."""
    parser = argparse.ArgumentParser(prog="wharf x")
    parser.add_argument("name")
    parser.add_argument("--site")
    parser.add_argument("--names")
    assert _undocumented(parser, "wharf x NAME --names") == ["option --site"]
    assert _undocumented(parser, "--site --names") == ["argument NAME"]
