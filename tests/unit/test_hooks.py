"""The git hooks run the gates `make test` runs, so a commit that passes them passes CI's lint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]


def _hooks() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


def test_hooks_run_the_lint_gates_before_commit_and_unit_tests_before_push() -> None:
    hooks = _hooks()
    makefile = (ROOT / "Makefile").read_text()
    before_commit = {name for name, hook in hooks.items() if "stages" not in hook}
    assert before_commit == {"ruff", "ruff-format", "mypy", "lint-imports"}
    for tool in ("ruff check", "ruff format", "mypy controlplane edge", "lint-imports"):
        assert f"$(BIN)/{tool}" in makefile  # the same tool make test runs
        assert any(hook["entry"].startswith(f".venv/bin/{tool}") for hook in hooks.values())
    push = hooks["unit-tests"]
    assert push["stages"] == ["pre-push"] and "tests/unit" in push["entry"]
    assert "hooks:" in makefile and "pre-commit install" in makefile
