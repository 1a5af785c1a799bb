"""Sign-in with GitHub through its OAuth apps API, against a fake that follows GitHub's
documented endpoints (tests/harness/github.py): the scopes asked, PKCE, the primary verified
email, and the organisation allow-list admitting and refusing."""

from __future__ import annotations

from pathlib import Path

import pytest
from yarl import URL

from controlplane.web.keys import SERVICES
from tests.harness.github import (
    OCTOCAT,
    GitHubEmail,
    GitHubOrg,
    GitHubUser,
    authorize,
    fake_github,
)
from tests.harness.wharf_sign_in import page_text, sign_in_with, signed_in_cookie, wharf_app

pytestmark = pytest.mark.one_database

STRANGER = GitHubUser(
    id=77,
    login="stranger",
    emails=(GitHubEmail("stranger@elsewhere.test", primary=True, verified=True),),
    orgs=(GitHubOrg("other-org", public=True),),
)
UNVERIFIED = GitHubUser(
    id=78,
    login="unverified",
    emails=(GitHubEmail("admin@example.test", primary=True, verified=False),),
)


def _github(github: object, **more: str) -> dict[str, str]:
    return {
        "oauth_github_client_id": github.client_id,  # type: ignore[attr-defined]
        "oauth_github_client_secret": github.client_secret,  # type: ignore[attr-defined]
        "oauth_github_url": github.url,  # type: ignore[attr-defined]
        "oauth_github_api_url": github.api_url,  # type: ignore[attr-defined]
        **more,
    }


def _as(login: str | None):  # type: ignore[no-untyped-def]
    async def step(url: str) -> str:
        return await authorize(url, login)

    return step


async def test_github_org_members_get_an_account_and_others_are_refused(
    database_url: str, tmp_path: Path
) -> None:
    async with fake_github({"octocat": OCTOCAT, "stranger": STRANGER}) as github:
        options = _github(github, oauth_allowed_github_orgs="wharf-dev")
        async with wharf_app(database_url, tmp_path / "data", **options) as client:
            assert "Sign in with GitHub" in await page_text(await client.get("/sign-in"))
            back = await sign_in_with(client, "github", _as("octocat"))
            assert back.status == 200, await page_text(back)
            # An org list is set, so read:org was asked for; nothing more than needed.
            assert sorted(github.scopes_asked[-1]) == ["read:org", "read:user", "user:email"]
            assert github.authorize_requests[-1]["code_challenge_method"] == "S256"
            assert "octo@example.test" in await page_text(await client.get("/sites"))
            users_now = await client.server.app[SERVICES].store.list_users()
            created = next(user for user in users_now if user.email == "octo@example.test")
            assert created.role == "member"

            client.session.cookie_jar.clear()
            refused = await sign_in_with(client, "github", _as("stranger"))
            text = await page_text(refused)
            assert refused.status == 403 and "not_allowed" in text
            assert "There is no Wharf account for stranger@elsewhere.test" in text
            assert signed_in_cookie(client) is None


async def test_github_asks_only_for_the_user_and_links_by_primary_verified_email(
    database_url: str, tmp_path: Path
) -> None:
    async with fake_github({"octocat": OCTOCAT, "unverified": UNVERIFIED}) as github:
        options = _github(github)
        async with wharf_app(database_url, tmp_path / "data", **options) as client:
            await client.server.app[SERVICES].accounts.create_user(
                None, "octo@example.test", "member-password-1", "member"
            )
            back = await sign_in_with(client, "github", _as("octocat"))
            assert back.status == 200, await page_text(back)
            assert sorted(github.scopes_asked[-1]) == ["read:user", "user:email"]
            identities = await client.server.app[SERVICES].store.list_identities(2)
            assert [(i.provider, i.issuer, i.subject) for i in identities] == [
                ("github", github.url, "1")
            ]

            # An unverified primary email naming the admin must not open the admin's account.
            client.session.cookie_jar.clear()
            refused = await sign_in_with(client, "github", _as("unverified"))
            assert refused.status == 403
            assert "has not verified admin@example.test" in await page_text(refused)

            client.session.cookie_jar.clear()
            cancelled = await sign_in_with(client, "github", _as(None))
            assert cancelled.status == 403
            assert "declined the sign-in" in await page_text(cancelled)


async def test_github_a_refused_code_says_sign_in_again(database_url: str, tmp_path: Path) -> None:
    async with fake_github({"octocat": OCTOCAT}) as github:
        options = _github(github)
        async with wharf_app(database_url, tmp_path / "data", **options) as client:
            github.code_lifetime = 0  # the code expires before Wharf exchanges it
            back = await sign_in_with(client, "github", _as("octocat"))
            text = await page_text(back)
            assert back.status == 403 and "code_refused" in text
            assert "GitHub refused the sign-in code" in text
            assert URL(github.token_requests[-1]["redirect_uri"]).path == "/auth/github/callback"
