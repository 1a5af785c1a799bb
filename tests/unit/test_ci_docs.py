"""docs/ci.md's examples: each YAML block parses, and every `wharf` command in them is one the
parser takes, with options that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from controlplane.cli.commands import build_parser

CI = Path(__file__).parents[2] / "docs" / "ci.md"


def _wharf_commands(node: object) -> list[str]:
    """Every shell line of a CI file that runs wharf."""
    if isinstance(node, dict):
        return [line for value in node.values() for line in _wharf_commands(value)]
    if isinstance(node, list):
        return [line for value in node for line in _wharf_commands(value)]
    if isinstance(node, str):
        return [line.strip() for line in node.splitlines() if line.strip().startswith("wharf ")]
    return []


def test_ci_examples_parse_and_use_real_wharf_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHARF_SITE", "blog")  # the examples set it for the job
    blocks = re.findall(r"```yaml\n(.*?)```", CI.read_text(), re.S)
    assert len(blocks) == 2  # GitHub Actions and GitLab CI
    commands = [line for block in blocks for line in _wharf_commands(yaml.safe_load(block))]
    assert len(commands) >= 4
    for line in commands:
        words = shlex.split(re.split(r" [|>] ", line)[0])
        build_parser().parse_args(words[1:])  # argparse exits on an unknown command or option
