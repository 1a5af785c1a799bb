"""The blocking build of one deploy: extract, choose the root, apply flags, check rules, build."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane.atomic import write_json_atomically
from controlplane.deploys.archive import ArchiveLimits, ArchiveRejected, extract_archive
from controlplane.deploys.build_flags import ENV_FLAG, BuildFlag
from controlplane.deploys.release_tree import BuildOptions, build_release, find_site_root
from controlplane.deploys.site_rules import parse_site_rules, rules_document
from controlplane.errors import WharfError

# Text files where __WHARF_ENV_<NAME>__ placeholders are replaced.
_SUBSTITUTED_SUFFIXES = {".html", ".htm", ".css", ".js", ".mjs", ".json", ".txt", ".xml", ".svg"}
_PLACEHOLDER = re.compile(rb"__WHARF_ENV_([A-Z][A-Z0-9_]{0,63})__")


class BuildFailed(Exception):
    """The deploy cannot be built; the message and report say why."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class BuildPlan:
    """What to build and how."""

    artifact: Path
    workdir: Path
    limits: ArchiveLimits
    minify: bool
    minify_override: bool | None = None  # WHARF_MINIFY always/never beats site and flag
    flags: dict[str, BuildFlag] = field(default_factory=dict)
    brotli_quality: int = 6


@dataclass(frozen=True)
class BuiltRelease:
    """A finished release directory and what the build found."""

    path: Path
    file_count: int
    total_bytes: int
    report: dict[str, Any]


def substitute_env_flags(root: Path, values: dict[str, str]) -> int:
    """Replace __WHARF_ENV_<NAME>__ in text files under root; returns files changed."""
    if not values:
        return 0
    encoded = {name.encode(): value.encode() for name, value in values.items()}
    changed = 0
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in _SUBSTITUTED_SUFFIXES or not path.is_file():
            continue
        original = path.read_bytes()
        updated = _PLACEHOLDER.sub(lambda m: encoded.get(m[1], m[0]), original)
        if updated != original:
            path.write_bytes(updated)
            changed += 1
    return changed


def build_options(plan: BuildPlan) -> BuildOptions:
    """Minify: WHARF_MINIFY when set, else the deploy's flag, else the site's setting;
    precompress: the deploy's flag, else on."""
    minify_flag = plan.flags.get("minify")
    precompress_flag = plan.flags.get("precompress")
    if plan.minify_override is not None:
        minify = plan.minify_override
    else:
        minify = bool(minify_flag.value) if minify_flag else plan.minify
    return BuildOptions(
        minify=minify,
        precompress=bool(precompress_flag.value) if precompress_flag else True,
        brotli_quality=plan.brotli_quality,
    )


def run_build(plan: BuildPlan, log: Callable[[str], None]) -> BuiltRelease:
    """Build a release directory under plan.workdir; raises BuildFailed with a report."""
    extracted = plan.workdir / "extracted"
    try:
        summary = extract_archive(plan.artifact, extracted, plan.limits)
    except ArchiveRejected as rejected:
        problems = [vars(problem) for problem in rejected.problems]
        raise BuildFailed("the archive was rejected", {"archive": problems}) from None
    log(f"extracted {summary.file_count} files, {summary.total_bytes} bytes")

    explicit_root = plan.flags.get("root")
    try:
        root = find_site_root(extracted, str(explicit_root.value) if explicit_root else None)
    except WharfError as exc:
        raise BuildFailed(exc.message, {"root": exc.message}) from None
    log(f"site root: {root.reason}")

    env_values = {
        match[1]: str(flag.value)
        for name, flag in plan.flags.items()
        if (match := ENV_FLAG.fullmatch(name))
    }
    if env_values:
        changed = substitute_env_flags(root.path, env_values)
        log(f"substituted {len(env_values)} env flag(s) in {changed} file(s)")

    rules = parse_site_rules(root.path)
    rules_report = {
        "redirects": len(rules.redirects),
        "headers": len(rules.headers),
        "problems": [vars(problem) for problem in rules.problems],
    }
    for problem in rules.problems:
        log(f"{problem.file}:{problem.line}: {problem.message}")
    if rules.problems:
        raise BuildFailed("_redirects or _headers has errors", {"rules": rules_report})
    log(f"rules: {len(rules.redirects)} redirects, {len(rules.headers)} header rules")

    options = build_options(plan)
    release = plan.workdir / "release"
    release.mkdir()
    result = build_release(root.path, release / "site", options, log, release / "manifest.json")
    write_json_atomically(release / "rules.json", rules_document(rules), compact=True)
    total_bytes = sum(entry.size for entry in result.files)
    log(
        f"built {len(result.files)} files: {result.minified} minified"
        f" (-{result.bytes_saved_by_minify} bytes), {result.precompressed} precompressed"
    )
    report = {
        "root": root.reason,
        "files": len(result.files),
        "bytes": total_bytes,
        "minified": result.minified,
        "precompressed": result.precompressed,
        "rules": rules_report,
    }
    return BuiltRelease(release, len(result.files), total_bytes, report)
