"""What the CLI prints: with --json exactly the API's JSON (one document) on stdout; otherwise
words and aligned tables (rich) for a person, in colour only on a terminal and never with
NO_COLOR. Progress and notes go to stderr, so stdout stays what a script reads."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import humanize
from rich.console import Console
from rich.table import Table


def ago(moment: str | None) -> str:
    """An ISO timestamp as "3 minutes ago" ("—" for none)."""
    if not moment:
        return "—"
    return humanize.naturaltime(datetime.now(UTC) - datetime.fromisoformat(moment))


def _console(stream: TextIO) -> Console:
    """A console that styles only a terminal, and nothing under NO_COLOR (not even bold)."""
    styled = stream.isatty() and "NO_COLOR" not in os.environ
    return Console(
        file=stream,
        color_system="auto" if styled else None,
        highlight=False,
        soft_wrap=True,
        emoji=False,
    )


class Output:
    """Where a command's result goes, and in which form."""

    def __init__(self, as_json: bool, out: TextIO | None = None, err: TextIO | None = None):
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.console = _console(self.out)
        self.err_console = _console(self.err)

    def result(self, document: Any, human: Callable[[], None]) -> None:
        """The API's document with --json, else what `human` prints."""
        if self.as_json:
            self.out.write(json.dumps(document, indent=2) + "\n")
        else:
            human()

    def line(self, text: str, style: str | None = None) -> None:
        """One line for a person on stdout (rich markup is not read: text stays text)."""
        self.console.print(text, style=style, markup=False)

    def note(self, text: str, style: str | None = None) -> None:
        """A line on stderr: progress and hints, never what a script parses."""
        self.err_console.print(text, style=style, markup=False)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> None:
        """Aligned columns with a header, or the `empty` sentence when there are no rows."""
        if not rows:
            self.line(empty)
            return
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        self.console.print(table)

    def fields(self, pairs: Sequence[tuple[str, str]]) -> None:
        """`name: value` lines, the names aligned."""
        width = max((len(name) for name, _ in pairs), default=0)
        for name, value in pairs:
            self.line(f"{name + ':':<{width + 1}} {value}")
