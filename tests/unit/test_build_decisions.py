"""Decisions the end-to-end tests reach only through a whole stack, tested directly: the build
of one deploy, build flags, a routing change's report, the issuer's retry and due rules."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controlplane.deploys.archive import ArchiveLimits
from controlplane.deploys.build import BuildFailed, BuildPlan, build_options, run_build
from controlplane.deploys.build_flags import (
    MASK,
    BuildFlag,
    flags_from_json,
    flags_to_json,
    masked,
    parse_flags,
    secret_values,
)
from controlplane.errors import Invalid
from controlplane.models import RoutingProgress, StoredCertificate
from controlplane.routing.reconciler import report_for
from controlplane.tls.issuer import RETRY_FIRST, RETRY_MAX, needs_issuing, retry_delay
from tests.sites import zip_bytes

LIMITS = ArchiveLimits()
PAGE = "<html><body>  <p>Hello   __WHARF_ENV_GREETING__</p>  </body></html>"


def _plan(tmp_path: Path, files: Mapping[str, str | bytes], **options: object) -> BuildPlan:
    tmp_path.mkdir(parents=True, exist_ok=True)
    artifact = tmp_path / "upload.zip"
    artifact.write_bytes(zip_bytes(dict(files)))
    workdir = tmp_path / "work"
    workdir.mkdir()
    return BuildPlan(artifact, workdir, LIMITS, minify=False, **options)  # type: ignore[arg-type]


# The build of one deploy


def test_build_release_has_the_site_its_manifest_and_rules(tmp_path: Path) -> None:
    page = PAGE + "<p>long enough to be worth compressing</p>" * 100
    plan = _plan(tmp_path, {"dist/index.html": page, "dist/_redirects": "/old /new 301\n"})
    lines: list[str] = []
    built = run_build(plan, lines.append)
    assert (built.path / "site" / "index.html").read_text() == page  # minify off
    assert (built.path / "site" / "index.html.br").exists()  # precompressed by default
    manifest = json.loads((built.path / "manifest.json").read_text())
    assert "index.html" in json.dumps(manifest)
    rules = json.loads((built.path / "rules.json").read_text())
    assert [r["from"] for r in rules["redirects"]] == ["/old"]
    assert "dist" in built.report["root"]
    assert built.report["rules"]["redirects"] == 1 and built.file_count == 1
    assert any("site root" in line for line in lines)


def test_build_env_flags_fill_placeholders_and_the_root_flag_picks_the_folder(
    tmp_path: Path,
) -> None:
    flags = {
        "env.GREETING": BuildFlag("world"),
        "root": BuildFlag("public"),
    }
    files = {"public/index.html": PAGE, "other/index.html": "<p>not this</p>"}
    built = run_build(_plan(tmp_path, files, flags=flags), lambda _: None)
    assert "Hello   world" in (built.path / "site" / "index.html").read_text()


def test_build_refuses_bad_rules_and_a_bad_archive_with_a_report(tmp_path: Path) -> None:
    bad_rules = _plan(tmp_path / "a", {"index.html": PAGE, "_redirects": "/a\n"})
    with pytest.raises(BuildFailed) as failed:
        run_build(bad_rules, lambda _: None)
    assert failed.value.report["rules"]["problems"][0]["line"] == 1

    traversal = _plan(tmp_path / "b", {"../escape.html": PAGE, "index.html": PAGE})
    with pytest.raises(BuildFailed) as failed:
        run_build(traversal, lambda _: None)
    assert failed.value.report["archive"]


@pytest.mark.parametrize(
    ("override", "site", "flag", "minify"),
    [
        (None, False, None, False),  # the site's setting
        (None, True, None, True),
        (None, False, True, True),  # the deploy's flag beats the site
        (None, True, False, False),
        (False, True, True, False),  # WHARF_MINIFY beats both
        (True, False, False, True),
    ],
)
def test_build_minify_precedence(
    tmp_path: Path, override: bool | None, site: bool, flag: bool | None, minify: bool
) -> None:
    flags = {} if flag is None else {"minify": BuildFlag(flag)}
    plan = BuildPlan(tmp_path, tmp_path, LIMITS, site, override, flags)
    assert build_options(plan).minify is minify
    assert build_options(plan).precompress is True


def test_build_precompress_flag_turns_it_off(tmp_path: Path) -> None:
    plan = BuildPlan(tmp_path, tmp_path, LIMITS, False, flags={"precompress": BuildFlag(False)})
    assert build_options(plan).precompress is False


# Build flags


def test_flags_are_checked_against_the_catalogue_the_allow_list_and_their_types() -> None:
    allowed = ["minify", "env.*"]
    parsed = parse_flags({"minify": True, "env.API": {"value": "k", "secret": True}}, allowed)
    assert parsed == {"minify": BuildFlag(True), "env.API": BuildFlag("k", secret=True)}
    with pytest.raises(Invalid) as refused:
        parse_flags({"root": "x", "nope": 1, "minify": "yes", "env.lower": "v"}, allowed)
    codes = {item["flag"]: item["code"] for item in refused.value.details}
    assert codes == {
        "root": "flag_not_allowed",
        "nope": "unknown_flag",
        "minify": "invalid_value",
        "env.lower": "unknown_flag",
    }
    with pytest.raises(Invalid):
        parse_flags(["minify"], allowed)
    assert parse_flags(None, allowed) == {}


def test_flags_secret_values_are_masked_in_answers_and_listed_for_redaction() -> None:
    flags = {"env.TOKEN": BuildFlag("s3cret", secret=True), "env.NAME": BuildFlag("blog")}
    stored = flags_to_json(flags)
    assert flags_from_json(stored) == flags
    assert masked(stored)["env.TOKEN"]["value"] == MASK
    assert masked(stored)["env.NAME"]["value"] == "blog"
    assert secret_values(flags) == ["s3cret"]


# A routing change's report


@pytest.mark.parametrize(
    ("progress", "version", "state"),
    [
        (RoutingProgress(5, 5, 5, 0, None), 5, "confirmed"),
        (RoutingProgress(5, 5, 4, 0, None), 5, "pending"),  # written, not yet loaded
        (RoutingProgress(5, 4, 4, 0, None), 5, "pending"),  # not yet written
        (RoutingProgress(5, 4, 4, 5, "bad rule"), 5, "error"),  # refused
        (RoutingProgress(6, 6, 6, 5, "bad rule"), 5, "confirmed"),  # a later change recovered
        (RoutingProgress(6, 6, 4, 5, "bad rule"), 5, "pending"),  # written since: no error
    ],
)
def test_routing_report_of_a_change(progress: RoutingProgress, version: int, state: str) -> None:
    report = report_for(progress, version)
    assert report.state == state
    assert report.error == ("bad rule" if state == "error" else None)


# The issuer's retry and due-list rules


def test_issuer_retry_delay_doubles_from_a_minute_up_to_the_cap() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [
        RETRY_FIRST,
        RETRY_FIRST * 2,
        RETRY_FIRST * 4,
        RETRY_FIRST * 8,
    ]
    assert retry_delay(30) == RETRY_MAX == retry_delay(10**6)
    assert retry_delay(0) == RETRY_FIRST


def _certificate(source: str, names: tuple[str, ...], expires_in: timedelta) -> StoredCertificate:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return StoredCertificate(
        source=source,  # type: ignore[arg-type]
        names=names,
        cert_pem="",
        chain_pem="",
        key_encrypted="",
        issuer="CN=Test CA",
        not_before=now - timedelta(days=1),
        not_after=now + expires_in,
        fingerprint="ab",
        id=1,
        site_id=None,
        domain_id=1,
        created_at=now,
    )


@pytest.mark.parametrize(
    ("certificate", "due"),
    [
        (None, True),  # nothing yet
        (_certificate("upload", ("www.shop.test",), timedelta(days=80)), True),  # not ours
        (_certificate("acme", ("shop.test",), timedelta(days=80)), True),  # other names
        (_certificate("acme", ("*.shop.test",), timedelta(days=80)), False),  # a wildcard covers
        (_certificate("acme", ("www.shop.test",), timedelta(days=31)), False),
        (_certificate("acme", ("www.shop.test",), timedelta(days=30)), True),  # renewal window
    ],
)
def test_issuer_due_when_missing_foreign_mismatched_or_expiring(
    certificate: StoredCertificate | None, due: bool
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert needs_issuing(certificate, ("www.shop.test",), now, timedelta(days=30)) is due
