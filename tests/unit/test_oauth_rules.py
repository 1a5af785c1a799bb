"""Provider sign-in rules that need no provider: settings, who an oauth gate's list admits,
the signed tickets and hand-offs, and that callback URLs never reach a log with their code."""

from __future__ import annotations

import pytest

from controlplane.accounts.providers import GOOGLE_ISSUER, configured_providers
from controlplane.config import ConfigError, load_settings
from controlplane.errors import Invalid
from controlplane.gates.gate_service import GateTokens, admits, validate_allowed
from controlplane.logs import redact_text
from controlplane.models import ProviderAccount


def _account(*emails: str, provider: str = "oidc", orgs: tuple[str, ...] = ()) -> ProviderAccount:
    return ProviderAccount(
        provider=provider,  # type: ignore[arg-type]
        issuer="https://id.example.test",
        subject="s1",
        email=emails[0] if emails else None,
        email_verified=bool(emails),
        verified_emails=emails,
        orgs=orgs,
    )


def test_oauth_settings_name_the_providers_without_their_secrets() -> None:
    settings = load_settings(
        environ={
            "WHARF_OIDC_ISSUER": "https://id.example.test/application/o/wharf/",
            "WHARF_OIDC_CLIENT_ID": "wharf",
            "WHARF_OIDC_CLIENT_SECRET": "s3cret-oidc",
            "WHARF_OIDC_NAME": "Authentik",
            "WHARF_OAUTH_GOOGLE_CLIENT_ID": "g.apps.googleusercontent.com",
            "WHARF_OAUTH_GOOGLE_CLIENT_SECRET": "s3cret-google",
            "WHARF_OAUTH_GITHUB_CLIENT_ID": "Iv1.abc",
            "WHARF_OAUTH_GITHUB_CLIENT_SECRET": "s3cret-github",
            "WHARF_PUBLIC_URL": "https://wharf.example.test/",
        }
    )
    providers = configured_providers(settings)
    assert [(p.key, p.label) for p in providers] == [
        ("oidc", "Authentik"),
        ("google", "Google"),
        ("github", "GitHub"),
    ]
    assert providers[1].issuer == GOOGLE_ISSUER
    assert providers[2].issuer == "https://github.com"
    assert providers[2].api_url == "https://api.github.com"
    assert settings.browser_url == "https://wharf.example.test"
    assert "s3cret" not in repr(settings) and "s3cret" not in repr(providers)


def test_oauth_settings_default_to_no_provider_and_the_listen_address() -> None:
    settings = load_settings(environ={})
    assert configured_providers(settings) == ()
    assert settings.browser_url == "http://127.0.0.1:8000"
    assert load_settings(environ={"WHARF_CONTROL_HOST": "wharf.example.test"}).browser_url == (
        "https://wharf.example.test"
    )


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"WHARF_OAUTH_GITHUB_CLIENT_ID": "x"}, "WHARF_OAUTH_GITHUB_CLIENT_ID"),
        ({"WHARF_OAUTH_GOOGLE_CLIENT_SECRET": "x"}, "WHARF_OAUTH_GOOGLE_CLIENT_ID"),
        ({"WHARF_OIDC_CLIENT_ID": "x", "WHARF_OIDC_CLIENT_SECRET": "y"}, "WHARF_OIDC_ISSUER"),
        ({"WHARF_OIDC_ISSUER": "id.example.test"}, "WHARF_OIDC_ISSUER"),
        ({"WHARF_PUBLIC_URL": "https://wharf.example.test/admin"}, "WHARF_PUBLIC_URL"),
        ({"WHARF_OAUTH_ALLOWED_DOMAINS": "not a domain"}, "WHARF_OAUTH_ALLOWED_DOMAINS"),
        ({"WHARF_OAUTH_ALLOWED_GITHUB_ORGS": "-bad"}, "WHARF_OAUTH_ALLOWED_GITHUB_ORGS"),
    ],
)
def test_oauth_settings_that_cannot_work_stop_the_start(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(environ=environ)


def test_oauth_gate_list_is_normalised() -> None:
    entries = validate_allowed(
        [" Ana@Example.com", "example.org", "@Example.net", "github:Wharf-Dev", "ana@example.com"],
        ("oidc", "github"),
    )
    assert entries == ("ana@example.com", "@example.org", "@example.net", "github:wharf-dev")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "allowed_required"),
        ([], "allowed_required"),
        ("ana@example.com", "allowed_required"),
        (["ana@"], "invalid_allowed"),
        (["not a thing"], "invalid_allowed"),
        ([7], "invalid_allowed"),
        (["github:-nope"], "invalid_allowed"),
        (["x@example.com"] * 101, "too_many_allowed"),
    ],
)
def test_oauth_gate_list_refuses_what_cannot_match(value: object, code: str) -> None:
    with pytest.raises(Invalid) as refused:
        validate_allowed(value, ("oidc", "github"))
    assert refused.value.code == code


def test_oauth_gate_list_refuses_github_orgs_without_github_sign_in() -> None:
    with pytest.raises(Invalid, match="GitHub configured"):
        validate_allowed(["github:wharf-dev"], ("oidc",))


def test_oauth_gate_admits_listed_verified_emails_domains_and_github_orgs() -> None:
    allowed = ("ana@example.com", "@example.org", "github:wharf-dev")
    assert admits(allowed, _account("ana@example.com"))
    assert admits(allowed, _account("bo@example.org"))
    assert admits(allowed, _account("x@elsewhere.test", provider="github", orgs=("wharf-dev",)))
    assert not admits(allowed, _account("bo@example.com"))  # the domain of a listed email
    assert not admits(allowed, _account("bo@sub.example.org"))  # a subdomain is another domain
    assert not admits(allowed, _account())  # no verified email at all
    # An OpenID provider cannot vouch for GitHub organisations.
    assert not admits(allowed, _account("x@elsewhere.test", orgs=("wharf-dev",)))


def test_oauth_tickets_are_signed_and_of_one_kind() -> None:
    clock = [1000.0]
    tokens = GateTokens(b"k" * 32, clock=lambda: clock[0])
    ticket = tokens.seal("ticket", ["blog.example.test", True, "blog/production"], 1600)
    assert tokens.open(ticket, "ticket") == (["blog.example.test", True, "blog/production"], 1600)
    assert tokens.open(ticket, "handoff") is None  # a ticket is no hand-off
    assert tokens.open(ticket[:-2] + "xx", "ticket") is None
    assert GateTokens(b"j" * 32).open(ticket, "ticket") is None
    clock[0] = 1600
    assert tokens.open(ticket, "ticket") is None  # expired


def test_oauth_callback_urls_reach_logs_without_code_or_state() -> None:
    line = redact_text(
        "GET /auth/oidc/callback?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj&iss=x 303"
    )
    assert "SplxlOBeZQQYbYS6WxSbIA" not in line and "af0ifjsldkj" not in line
    assert "iss=x" in line
