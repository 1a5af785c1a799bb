"""`wharf completion bash|zsh|fish`: a shell completion script made from the parser itself
(shtab for bash and zsh; shtab has no fish, so fish's `complete` lines are walked here)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import shtab

SHELLS = ("bash", "zsh", "fish")

# Two fish functions the lines below test with: the subcommand words typed so far (up to the
# first option) are exactly, or start with, the path given.
_FISH_PREAMBLE = """\
# fish completion for wharf: `wharf completion fish > ~/.config/fish/completions/wharf.fish`
function __wharf_words
    set -l words (commandline -opc)
    set -e words[1]
    set -l path
    for word in $words
        string match -q -- '-*' $word; and break
        set path $path $word
    end
    string join ' ' -- $path
end
function __wharf_at
    test (__wharf_words) = "$argv"
end
function __wharf_in
    set -l typed (__wharf_words)
    test "$typed" = "$argv"; or string match -q -- "$argv *" "$typed"
end
complete -c wharf -f
"""


def _children(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """The parser's subcommands: name → (parser, help)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            return {name: (sub, helps.get(name, "")) for name, sub in action.choices.items()}
    return {}


def _quoted(text: str) -> str:
    """A fish single-quoted word; a help text is cut before its first bracket."""
    text = text.split(" [", 1)[0].split(" (", 1)[0]
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_lines(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> Iterator[str]:
    where = " ".join(path)
    children = _children(parser)
    for name, (_, text) in children.items():
        yield f"complete -c wharf -n {_quoted('__wharf_at ' + where)} -a {name} -d {_quoted(text)}"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        if not action.option_strings:  # a positional: only a path completes, as files
            if action.type is Path:
                yield f"complete -c wharf -n {_quoted('__wharf_in ' + where)} -F"
            continue
        line = f"complete -c wharf -n {_quoted('__wharf_in ' + where)}"
        for option in action.option_strings:
            line += f" -l {option[2:]}" if option.startswith("--") else f" -s {option[1:]}"
        if action.choices:
            line += " -x -a " + _quoted(" ".join(str(choice) for choice in action.choices))
        elif action.nargs != 0:
            line += " -r"
        yield line + f" -d {_quoted(action.help or '')}"
    for name, (child, _) in children.items():
        yield from _fish_lines(child, (*path, name))


def fish_script(parser: argparse.ArgumentParser) -> str:
    """fish `complete` lines for every subcommand and option of the parser."""
    return _FISH_PREAMBLE + "\n".join(_fish_lines(parser, ())) + "\n"


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for one shell."""
    if shell == "fish":
        return fish_script(parser)
    return str(shtab.complete(parser, shell=shell))


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    root: argparse.ArgumentParser,
) -> None:
    """Add `wharf completion SHELL`; the script is of `root`, the whole parser."""
    parser = commands.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a completion script: bash and zsh by shtab, fish from the parser.",
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell the script is for")
    parser.set_defaults(completion_of=root)
