"""What the probes after a publish expect of a release, read from its manifest."""

from __future__ import annotations

import json
from pathlib import Path

from controlplane.deploys.release_probes import PROBE_PAGES, Probe, ProbeReport, expectations


def _release(tmp_path: Path, paths: list[str]) -> Path:
    files = [{"path": path, "sha256": f"h-{path}"} for path in paths]
    (tmp_path / "manifest.json").write_text(json.dumps({"files": files}))
    return tmp_path


def test_probes_expect_the_root_some_pages_and_the_sites_404(tmp_path: Path) -> None:
    pages = [f"docs/p{i}/index.html" for i in range(20)]
    root = _release(tmp_path, ["index.html", "404.html", "app.js", *pages])
    wanted = expectations(root, spa=False, seed="abc123abc123")
    assert (wanted[0].path, wanted[0].status, wanted[0].sha256) == ("/", 200, "h-index.html")
    sampled = wanted[1:-1]
    assert len(sampled) == PROBE_PAGES and all(item.path.startswith("/docs/p") for item in sampled)
    assert [item.path for item in sampled] == [
        item.path for item in expectations(root, spa=False, seed="abc123abc123")[1:-1]
    ]  # the same deploy samples the same pages
    missing = wanted[-1]
    assert (missing.status, missing.sha256) == (404, "h-404.html")
    assert "missing" in missing.path


def test_probes_expect_a_single_page_app_to_answer_unknown_paths_with_its_index(
    tmp_path: Path,
) -> None:
    wanted = expectations(_release(tmp_path, ["index.html"]), spa=True, seed="x")
    assert [(item.status, item.sha256) for item in wanted] == [
        (200, "h-index.html"),
        (200, "h-index.html"),
    ]


def test_probes_that_got_no_answer_are_inconclusive_not_failed() -> None:
    down = Probe("/", "edge", 200, None, 1.0, False, "no answer (ConnectError)")
    wrong = Probe("/", "edge", 200, 404, 1.0, False, "answered 404, expected 200")
    assert not ProbeReport("d", "blog.localhost", [down]).conclusive
    assert ProbeReport("d", "blog.localhost", [wrong]).as_json()["status"] == "failed"
    assert ProbeReport("d", "blog.localhost", [down]).as_json()["status"] == "unreachable"
    assert ProbeReport("d", "blog.localhost", [down]).summary().startswith("probes inconclusive")
