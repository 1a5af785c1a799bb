"""The edge config file is written whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.atomic import write_json_atomically


def test_edge_config_written_atomically_and_readable(tmp_path: Path) -> None:
    target = tmp_path / "edge" / "config.json"
    write_json_atomically(target, {"spa": ["a"], "domains": {}})
    write_json_atomically(target, {"spa": ["b"], "domains": {}})
    assert json.loads(target.read_text())["spa"] == ["b"]
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]


def test_edge_config_refuses_what_would_not_read_back(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    write_json_atomically(target, {"spa": []})
    with pytest.raises(ValueError):
        write_json_atomically(target, {"when": float("nan")})
    assert json.loads(target.read_text()) == {"spa": []}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
