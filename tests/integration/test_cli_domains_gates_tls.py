"""The installed `wharf` executable's domains, gate, share and tls commands against a running
`wharf serve`: human and --json output, prompts on a terminal, and each error's exit code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from tests.certs import self_signed
from tests.harness.control_plane import control_plane
from tests.harness.ports import free_port
from tests.harness.wharf_cli import WharfCli
from tests.harness.wharf_cli import log_in as _logged_in
from tests.integration.test_domains import FakeDns

pytestmark = [pytest.mark.slow, pytest.mark.one_database]

MEMBER = {"email": "member@example.test", "password": "member-password-1"}


def _flat(text: str) -> str:
    """Output with runs of spaces (and rich's wrapping) as one space."""
    return " ".join(text.split())


async def _site(cli: WharfCli, name: str = "blog") -> None:
    await _logged_in(cli)
    assert (await cli.run("sites", "create", name)).code == 0


def _secret_file(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text + "\n")
    return str(path)


async def test_cli_domains_add_list_show_verify_remove_in_words_and_json(cli: WharfCli) -> None:
    await _site(cli)
    empty = await cli.run("domains", "list", "--site", "blog")
    assert (empty.code, empty.out.strip()) == (
        0,
        "No custom domains on blog yet: add one with `wharf domains add HOST --site blog`.",
    )

    added = await cli.run("domains", "add", "www.example.com", "--site", "blog")
    assert added.code == 0, added.err
    show = ("domains", "show", "www.example.com", "--site", "blog", "--json")
    token = json.loads((await cli.run(*show)).out)["token"]
    lines = added.out.splitlines()
    assert "Added www.example.com to blog (production)" in lines[0]
    assert "  Type:  TXT" in lines
    assert "  Name:  _wharf-challenge.www.example.com" in lines
    assert f"  Value: {token}" in lines
    assert (
        "If your DNS host appends the domain to the name you type (most do), enter"
        " _wharf-challenge.www (usually), not the full name." in _flat(added.out)
    )
    assert f"  http://www.example.com/.well-known/wharf-challenge/{token}" in lines
    assert lines[-1] == "Then run: wharf domains verify www.example.com --site blog"
    assert "\x1b[" not in added.out  # no colour off a terminal

    staged = await cli.run(
        "domains", "add", "preview.example.org", "--site", "blog", "--env", "staging", "--json"
    )
    document = json.loads(staged.out)
    assert (document["environment"], document["status"]) == ("staging", "pending")
    assert document["dns_record"]["name"] == "_wharf-challenge.preview.example.org"

    listed = await cli.run("domains", "list", "--site", "blog")
    header, *rows = listed.out.splitlines()
    assert header.split() == ["DOMAIN", "ENV", "STATUS", "CHECKED", "LAST", "ERROR"]
    assert {row.split()[0] for row in rows} == {"www.example.com", "preview.example.org"}
    as_json = json.loads((await cli.run("domains", "list", "--site", "blog", "--json")).out)
    assert sorted(d["hostname"] for d in as_json["domains"]) == [
        "preview.example.org",
        "www.example.com",
    ]
    shown = await cli.run("domains", "show", "www.example.com", "--site", "blog")
    assert "Status: pending: not proven yours yet" in _flat(shown.out)
    assert "Name:  _wharf-challenge.www.example.com" in shown.out

    # The server's checks reach nothing here (see the `server` fixture): still pending, exit 1.
    pending = await cli.run("domains", "verify", "www.example.com", "--site", "blog")
    assert pending.code == 1
    assert "www.example.com is still pending. The check found:" in pending.out
    assert "\n  DNS: " in pending.out and "\n  HTTP: " in pending.out
    assert "is not verified yet: publish the TXT record" in pending.err
    again = await cli.run("domains", "verify", "www.example.com", "--site", "blog", "--json")
    assert again.code == 1
    assert json.loads(again.out)["status"] == "pending" and json.loads(again.out)["last_error"]
    vouched = await cli.run(
        "domains", "verify", "www.example.com", "--site", "blog", "--method", "admin"
    )
    assert (vouched.code, vouched.out.strip()) == (
        0,
        "www.example.com is verified (vouched for by an admin): it serves blog (production).",
    )

    refused = await cli.run("domains", "remove", "www.example.com", "--site", "blog")
    assert refused.code == 2 and "--yes" in refused.err
    removed = await cli.run("domains", "remove", "www.example.com", "--site", "blog", "--yes")
    assert (removed.code, removed.out.strip()) == (
        0,
        "Removed www.example.com: it no longer reaches blog.",
    )
    typed = await cli.on_terminal(
        "domains", "remove", "preview.example.org", "--site", "blog", "--json",
        answers=(("to confirm: ", "preview.example.org"),),
    )  # fmt: skip
    assert typed.code == 0, typed.out
    assert '"removed": true' in typed.out


async def test_cli_domains_errors_and_exit_codes(cli: WharfCli) -> None:
    await _site(cli)
    bad = await cli.run("domains", "add", "not a host", "--site", "blog")
    assert bad.code == 1 and bad.err.startswith("wharf: ") and bad.out == ""
    reserved = await cli.run("domains", "add", "blog.localhost", "--site", "blog")
    assert reserved.code == 1
    no_site = await cli.run("domains", "add", "www.example.com", "--site", "nosuch")
    assert no_site.code == 3 and "no site named 'nosuch'" in no_site.err
    missing = await cli.run("domains", "list")
    assert missing.code == 2 and "--site" in missing.err
    assert (await cli.run("domains", "add", "www.example.com", "--site", "blog")).code == 0
    taken = await cli.run("domains", "add", "www.example.com", "--site", "blog", "--json")
    assert taken.code == 1 and taken.out == "" and "wharf:" in taken.err
    unknown = await cli.run("domains", "show", "other.example.com", "--site", "blog")
    assert unknown.code == 3 and "other.example.com" in unknown.err
    gone = await cli.run("domains", "remove", "other.example.com", "--site", "blog", "--yes")
    assert gone.code == 3
    # A site name is one path segment, never a way to another endpoint.
    sneaky = await cli.run("domains", "list", "--site", "../users")
    assert sneaky.code == 3
    # On a terminal the zone warning is in colour, unless NO_COLOR says not to.
    coloured = await cli.on_terminal(
        "domains", "add", "a.example.net", "--site", "blog", TERM="xterm-256color"
    )
    assert coloured.code == 0 and "\x1b[" in coloured.out
    plain = await cli.on_terminal(
        "domains", "add", "b.example.net", "--site", "blog", NO_COLOR="1", TERM="xterm-256color"
    )
    assert plain.code == 0 and "\x1b[" not in plain.out


@pytest.fixture
async def fake_dns_server(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[FakeDns, str]]:
    """A FakeDns, and `wharf serve` asking it for TXT records; the DNS and the server's URL."""
    transport, dns = await asyncio.get_running_loop().create_datagram_endpoint(
        FakeDns, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    listen = ("127.0.0.1", free_port())
    options = {
        "dns_resolver": f"127.0.0.1:{port}",
        "http_check_address": f"127.0.0.1:{free_port()}",
        "domain_check_timeout": "2",
    }
    try:
        async with control_plane(
            tmp_path / "data", database_url, listen, tmp_path / "serve.log", **options
        ) as url:
            yield dns, url
    finally:
        transport.close()


async def test_cli_domains_verify_says_what_the_dns_check_found(
    fake_dns_server: tuple[FakeDns, str], tmp_path: Path
) -> None:
    dns, url = fake_dns_server
    cli = WharfCli(tmp_path / "home", url)
    await _site(cli)
    added = await cli.run("domains", "add", "www.example.com", "--site", "blog", "--json")
    token = json.loads(added.out)["token"]
    absent = await cli.run("domains", "verify", "www.example.com", "--site", "blog")
    assert absent.code == 1
    assert (
        "  DNS: no TXT record at _wharf-challenge.www.example.com (the name does not exist)"
        in absent.out.splitlines()
    )
    dns.records["_wharf-challenge.www.example.com"] = ["not-the-token"]
    verify = ("domains", "verify", "www.example.com", "--site", "blog")
    wrong = await cli.run(*verify, "--method", "dns")
    assert wrong.code == 1 and "does not hold this domain's token" in wrong.out
    dns.records["_wharf-challenge.www.example.com"] = [token]
    found = await cli.run("domains", "verify", "www.example.com", "--site", "blog")
    assert (found.code, found.out.strip()) == (
        0,
        "www.example.com is verified (by its DNS record): it serves blog (production).",
    )
    listed = await cli.run("domains", "list", "--site", "blog")
    assert "verified" in listed.out.splitlines()[1]


async def test_cli_gate_set_show_off_and_share_link(cli: WharfCli, tmp_path: Path) -> None:
    await _site(cli)
    shown = await cli.run("gate", "show", "--site", "blog")
    header, *rows = shown.out.splitlines()
    assert header.split() == ["ENV", "GATE", "WHO", "CHANGED"]
    assert [row.split()[:2] for row in rows] == [
        ["production", "none"],
        ["staging", "none"],
        ["previews", "none"],
    ]
    alice = _secret_file(tmp_path, "alice.txt", "alice-passphrase")
    basic = await cli.run(
        "gate", "set", "--site", "blog", "--env", "production", "--mode", "basic",
        "--user", f"alice:{alice}",
    )  # fmt: skip
    assert (basic.code, basic.out.strip()) == (
        0,
        "production of blog asks for a username and password (basic): alice.",
    )
    bob = _secret_file(tmp_path, "bob.txt", "bob-passphrase")
    kept = await cli.run(
        "gate", "set", "--site", "blog", "--env", "production", "--mode", "basic",
        "--user", f"bob:{bob}", "--keep-users", "--json",
    )  # fmt: skip
    assert kept.code == 0, kept.err
    assert sorted(json.loads(kept.out)["users"]) == ["alice", "bob"]
    document = json.loads((await cli.run("gate", "show", "--site", "blog", "--json")).out)
    assert document["gates"]["production"]["mode"] == "basic"
    only = await cli.run("gate", "show", "--site", "blog", "--env", "production")
    assert len(only.out.splitlines()) == 2 and "alice" in only.out and "bob" in only.out

    visitors = _secret_file(tmp_path, "visitors.txt", "visitors-password")
    password = await cli.run(
        "gate", "set", "--site", "blog", "--env", "staging", "--mode", "password",
        "--password-file", visitors,
    )  # fmt: skip
    assert password.code == 0, password.err
    assert password.out.splitlines() == [
        "staging of blog asks visitors for its password.",
        "A link that opens it without signing in: wharf share create --site blog --env"
        " staging --expires 7d",
    ]
    for ran in (basic, kept, password):
        for secret in ("alice-passphrase", "bob-passphrase", "visitors-password"):
            assert secret not in ran.out + ran.err

    link = await cli.run("share", "create", "--site", "blog", "--env", "staging", "--expires", "1h")
    assert link.code == 0, link.err
    *words, url = link.out.splitlines()
    assert url.startswith("http://blog--staging.localhost") and "?" in url
    assert "opens staging of blog without a password or sign-in until" in _flat(" ".join(words))
    share = json.loads(
        (await cli.run("share", "create", "--site", "blog", "--env", "staging", "--json")).out
    )
    assert set(share) == {"url", "expires_at"}
    left = datetime.fromisoformat(share["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=6, hours=23) < left <= timedelta(days=7)  # the default, 7d

    off = await cli.run("gate", "off", "--site", "blog", "--env", "staging")
    assert (off.code, off.out.strip()) == (0, "staging of blog is open: no gate.")
    off_json = json.loads(
        (await cli.run("gate", "off", "--site", "blog", "--env", "staging", "--json")).out
    )
    assert off_json["mode"] == "none"


async def test_cli_gate_and_share_errors_and_exit_codes(cli: WharfCli, tmp_path: Path) -> None:
    await _site(cli)
    gate = ("gate", "set", "--site", "blog", "--env", "production")
    nobody = await cli.run(*gate, "--mode", "basic")
    assert nobody.code == 2 and "needs at least one --user" in nobody.err
    no_terminal = await cli.run(*gate, "--mode", "basic", "--user", "alice")
    assert no_terminal.code == 2
    assert "no terminal to ask for the password: give --user alice:PASSWORD-FILE" in no_terminal.err
    mixed = await cli.run(*gate, "--mode", "password", "--user", "alice")
    assert mixed.code == 2 and "--user is for --mode basic" in mixed.err
    nobody_listed = await cli.run(*gate, "--mode", "oauth")
    assert (
        nobody_listed.code == 2 and "--mode oauth needs at least one --allow" in nobody_listed.err
    )
    misplaced = await cli.run(*gate, "--mode", "password", "--allow", "@example.com")
    assert misplaced.code == 2 and "--allow is for --mode oauth" in misplaced.err
    no_provider = await cli.run(*gate, "--mode", "oauth", "--allow", "@example.com")
    assert no_provider.code == 1 and "an oauth gate needs a sign-in provider" in no_provider.err
    no_file = await cli.run(*gate, "--mode", "basic", "--user", f"alice:{tmp_path}/none.txt")
    assert no_file.code == 1 and f"no file {tmp_path}/none.txt" in no_file.err
    short = _secret_file(tmp_path, "short.txt", "short")
    too_short = await cli.run(*gate, "--mode", "password", "--password-file", short)
    assert too_short.code == 1 and "wharf:" in too_short.err and "short" not in too_short.out
    no_env = await cli.run("gate", "set", "--site", "blog", "--mode", "password")
    assert no_env.code == 2 and "--env" in no_env.err
    no_site = await cli.run("gate", "show", "--site", "nosuch")
    assert no_site.code == 3 and "no site named 'nosuch'" in no_site.err
    not_password = await cli.run("share", "create", "--site", "blog", "--env", "production")
    assert (
        not_password.code == 1
        and "share links open password and oauth gates only" in not_password.err
    )
    for wrong in ("90d", "soon", "0h"):
        bad = await cli.run(
            "share", "create", "--site", "blog", "--env", "staging", "--expires", wrong
        )
        assert bad.code == 2 and "--expires" in bad.err, wrong


async def test_cli_gate_passwords_are_prompted_on_a_terminal(cli: WharfCli) -> None:
    await _site(cli)
    secret = "carol-passphrase"
    asked = await cli.on_terminal(
        "gate", "set", "--site", "blog", "--env", "production", "--mode", "basic",
        "--user", "carol",
        answers=(("Password for carol: ", secret), ("Again, to be sure: ", secret)),
    )  # fmt: skip
    assert asked.code == 0, asked.out
    assert "(basic): carol." in asked.out and secret not in asked.out  # not echoed
    differ = await cli.on_terminal(
        "gate", "set", "--site", "blog", "--env", "staging", "--mode", "password",
        answers=(("Visitors' password: ", secret), ("Again, to be sure: ", "something-else")),
    )  # fmt: skip
    assert differ.code == 1 and "the two passwords differ: nothing was changed" in differ.out
    gates = json.loads((await cli.run("gate", "show", "--site", "blog", "--json")).out)["gates"]
    assert gates["staging"]["mode"] == "none"
    same = await cli.on_terminal(
        "gate", "set", "--site", "blog", "--env", "staging", "--mode", "password",
        answers=(("Visitors' password: ", secret), ("Again, to be sure: ", secret)),
    )  # fmt: skip
    assert same.code == 0 and "asks visitors for its password" in same.out
    link = await cli.on_terminal("share", "create", "--site", "blog", "--env", "staging")
    assert link.code == 0 and link.out.strip().splitlines()[-1].startswith("http://")


async def _member(cli: WharfCli, server: str, tmp_path: Path) -> WharfCli:
    """A member created through the API by the admin, logged in with a CLI of their own."""
    token = json.loads((tmp_path / "home" / "config" / "wharf" / "logins.json").read_text())
    headers = {"Authorization": f"Bearer {token['logins'][server]['token']}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server}/api/v1/users", json={**MEMBER, "role": "member"}, headers=headers
        ) as response,
    ):
        assert response.status == 201, await response.text()
    member = WharfCli(tmp_path / "member", server)
    ran = await member.run(
        "login", "--email", MEMBER["email"], "--password-stdin", stdin=MEMBER["password"] + "\n"
    )
    assert ran.code == 0, ran.err
    return member


async def test_cli_tls_show_set_and_upload_for_the_base_domain(
    cli: WharfCli, server: str, tmp_path: Path
) -> None:
    await _logged_in(cli)
    shown = await cli.run("tls", "show")
    assert shown.code == 0, shown.err
    assert "Hosts: localhost, *.localhost" in _flat(shown.out)
    base = json.loads((await cli.run("tls", "show", "--json")).out)
    assert base["hostnames"] == ["localhost", "*.localhost"]

    hsts = await cli.run("tls", "set", "none", "--hsts", "300", "--redirect", "off", "--json")
    assert hsts.code == 0, hsts.err
    assert (json.loads(hsts.out)["hsts_max_age"], json.loads(hsts.out)["redirect_https"]) == (
        300,
        False,
    )
    # Only the strategy changes: the redirect and HSTS stay as they were.
    kept = json.loads((await cli.run("tls", "set", "none", "--json")).out)
    assert (kept["hsts_max_age"], kept["redirect_https"]) == (300, False)

    cert, key, certificate = self_signed("localhost", "*.localhost")
    (tmp_path / "cert.pem").write_text(cert)
    (tmp_path / "key.pem").write_text(key)
    uploaded = await cli.run("tls", "upload", str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    assert uploaded.code == 0, uploaded.err
    flat = _flat(uploaded.out)
    assert "Uploaded the certificate of the base domain (strategy custom)." in flat
    assert "Certificate: upload, for localhost, *.localhost" in flat
    assert f"Expires: {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC" in flat
    assert "HTTPS: the certificate ends in 89 days" in flat
    assert "HSTS: max-age 300 s" in flat  # kept through the upload
    as_json = await cli.run(
        "tls", "upload", str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"), "--json"
    )
    assert json.loads(as_json.out)["certificate"]["names"] == ["localhost", "*.localhost"]
    body = key.splitlines()[1]
    shown_again = [await cli.run("tls", "show"), await cli.run("tls", "show", "--json")]
    for ran in (uploaded, as_json, *shown_again):
        assert "PRIVATE KEY" not in ran.out + ran.err and body not in ran.out + ran.err

    inherit = await cli.run("tls", "set", "inherit")
    assert inherit.code == 2 and "inherits from nothing" in inherit.err
    no_file = await cli.run("tls", "upload", str(tmp_path / "nope.pem"), str(tmp_path / "key.pem"))
    assert no_file.code == 1 and "no file" in no_file.err
    other, other_key, _ = self_signed("elsewhere.example")
    (tmp_path / "other.pem").write_text(other)
    (tmp_path / "other-key.pem").write_text(other_key)
    refused = await cli.run("tls", "upload", str(tmp_path / "other.pem"), str(tmp_path / "key.pem"))
    assert refused.code == 1 and "wharf:" in refused.err
    assert key.splitlines()[1] not in refused.err

    member = await _member(cli, server, tmp_path)
    for args in (("tls", "show"), ("tls", "show", "--json"), ("tls", "set", "wharf")):
        denied = await member.run(*args)
        assert denied.code == 4 and denied.out == "" and "only admins" in denied.err, args


async def test_cli_tls_for_a_site_and_its_domain(cli: WharfCli, tmp_path: Path) -> None:
    await _site(cli)
    shown = await cli.run("tls", "show", "--site", "blog")
    assert shown.code == 0, shown.err
    assert "Site: blog" in _flat(shown.out)
    assert shown.out.splitlines()[-1].split()[:3] == ["localhost,", "*.localhost", "none"]
    document = json.loads((await cli.run("tls", "show", "--site", "blog", "--json")).out)
    assert set(document) >= {"strategy", "effective_strategy", "base_domain", "domains"}

    chosen = await cli.run("tls", "set", "wharf", "--site", "blog", "--redirect", "on")
    assert chosen.code == 0, chosen.err
    assert "TLS of blog is set." in chosen.out and "Domains' strategy: wharf" in _flat(chosen.out)
    after = json.loads((await cli.run("tls", "show", "--site", "blog", "--json")).out)
    assert (after["strategy"], after["redirect_https"]) == ("wharf", True)
    back = json.loads((await cli.run("tls", "set", "inherit", "--site", "blog", "--json")).out)
    assert back["strategy"] is None and back["redirect_https"] is True  # the redirect is kept
    # A site's HSTS not given goes back to the base domain's, and the CLI says so.
    assert (await cli.run("tls", "set", "wharf", "--site", "blog", "--hsts", "600")).code == 0
    reset = await cli.run("tls", "set", "wharf", "--site", "blog")
    assert reset.code == 0
    assert "HSTS of blog is now the base domain's, 0 s (it was 600 s): give --hsts 600" in _flat(
        reset.err
    )

    domain = ("--site", "blog", "--domain", "www.example.com")
    assert (await cli.run("domains", "add", "www.example.com", "--site", "blog")).code == 0
    pending = await cli.run("tls", "show", *domain)
    assert pending.code == 3 and "blog has no verified domain 'www.example.com'" in pending.err
    vouch = ("domains", "verify", "www.example.com", "--site", "blog", "--method", "admin")
    assert (await cli.run(*vouch)).code == 0
    one = await cli.run("tls", "show", *domain)
    assert one.code == 0, one.err
    assert "Domain: www.example.com" in _flat(one.out) and "Site: blog" in _flat(one.out)
    own = await cli.run("tls", "set", "none", *domain)
    assert own.code == 0 and "Strategy: none" in _flat(own.out)
    no_cert = await cli.run("tls", "set", "custom", *domain)
    assert no_cert.code == 1 and "wharf:" in no_cert.err

    cert, key, _ = self_signed("www.example.com")
    (tmp_path / "cert.pem").write_text(cert)
    (tmp_path / "key.pem").write_text(key)
    files = (str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    uploaded = await cli.run("tls", "upload", *files, *domain)
    assert uploaded.code == 0, uploaded.err
    assert "Certificate: upload, for www.example.com" in _flat(uploaded.out)
    assert "PRIVATE KEY" not in uploaded.out + uploaded.err

    alone = await cli.run("tls", "show", "--domain", "www.example.com")
    assert alone.code == 2 and "--domain needs the site" in alone.err
    per_site = await cli.run("tls", "set", "none", *domain, "--hsts", "5")
    assert per_site.code == 2 and "set per site" in per_site.err
    unknown = await cli.run("tls", "set", "wharf", "--site", "nosuch")
    assert unknown.code == 3 and "no site named 'nosuch'" in unknown.err
    bad = await cli.run("tls", "set", "letsencrypt", "--site", "blog")
    assert bad.code == 2
