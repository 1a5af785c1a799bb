"""The one release installer: a site built on disk the way the pipeline leaves it."""

from __future__ import annotations

import json
from pathlib import Path

from controlplane.deploys.release_files import ReleaseFiles
from controlplane.deploys.release_tree import BuildOptions, build_release
from controlplane.deploys.site_rules import parse_site_rules, rules_document
from tests.sites import write_site

__all__ = ["install_release"]


def install_release(
    data_dir: Path,
    site: str,
    deploy_id: str,
    files: dict[str, str | bytes],
    *,
    minify: bool = False,
) -> Path:
    """Build a site the way the pipeline does (site/, manifest.json, rules.json) into releases/."""
    source = write_site(data_dir.parent / "sources" / site / deploy_id, files)
    rules = parse_site_rules(source)
    assert rules.problems == [], rules.problems
    release = ReleaseFiles(data_dir).release_path(site, deploy_id)
    release.mkdir(parents=True)
    build_release(
        source, release / "site", BuildOptions(minify=minify), manifest=release / "manifest.json"
    )
    (release / "rules.json").write_text(json.dumps(rules_document(rules)))
    return release
