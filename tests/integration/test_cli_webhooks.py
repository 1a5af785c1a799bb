"""`wharf webhooks` against a running `wharf serve` and a receiver on loopback: the secret alone
on stdout once, the list without it, a test that says how the receiver answered (exit 1 when
it did not take it), the delivery log, removal, and each refusal's exit code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.control_plane import control_plane
from tests.harness.ports import free_port
from tests.harness.serving import serve
from tests.harness.webhook_receiver import Receiver
from tests.harness.wharf_cli import WharfCli, log_in

pytestmark = [pytest.mark.slow, pytest.mark.one_database]
ROOT = Path(__file__).parents[2]


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """`wharf serve` that may post to loopback, retrying after 30 s (so a test sees `pending`)."""
    options = {"job_poll": "1", "webhook_allow_private": "true", "webhook_retry_delays": "30"}
    listen = ("127.0.0.1", free_port())
    async with control_plane(
        tmp_path / "data", database_url, listen, tmp_path / "serve.log", **options
    ) as url:
        yield url


@pytest.fixture
def cli(server: str, tmp_path: Path) -> WharfCli:
    """`wharf` running this tree's code (the installed script may point at another checkout)."""
    return WharfCli(tmp_path / "home", server, PYTHONPATH=str(ROOT))


def _flat(text: str) -> str:
    return " ".join(text.split())


async def test_cli_webhooks_add_list_test_deliveries_and_remove(cli: WharfCli) -> None:
    await log_in(cli)
    assert (await cli.run("sites", "create", "blog")).code == 0
    empty = await cli.run("webhooks", "list", "--site", "blog")
    assert empty.out.strip() == (
        "No webhooks on blog yet: add one with `wharf webhooks add URL --site blog`."
    )
    taking, refusing = Receiver(), Receiver(answers=[500])
    async with serve(taking.app()) as good, serve(refusing.app()) as bad:
        added = await cli.run("webhooks", "add", f"{good}/hook", "--site", "blog")
        assert added.code == 0, added.err
        secret = added.out.strip()
        assert secret.startswith("whsec_") and "\n" not in secret
        assert "Added webhook 1 to blog: all events go to" in _flat(added.err)
        assert "shown this once" in added.err
        taking.secret = secret

        some = await cli.run(
            "webhooks", "add", f"{bad}/hook", "--site", "blog",
            "--event", "site.down", "--event", "webhook.test", "--json",
        )  # fmt: skip
        document = json.loads(some.out)
        assert document["events"] == ["site.down", "webhook.test"]
        assert document["secret"].startswith("whsec_")

        listed = await cli.run("webhooks", "list", "--site", "blog")
        header, *rows = listed.out.splitlines()
        assert header.split() == ["ID", "URL", "EVENTS", "LAST", "DELIVERY"]
        assert rows[0].split()[:3] == ["1", f"{good}/hook", "all"]
        assert "site.down, webhook.test" in rows[1]
        assert secret not in listed.out and document["secret"] not in listed.out

        tested = await cli.run("webhooks", "test", "1", "--site", "blog")
        assert tested.code == 0, tested.err
        assert tested.out.strip() == "Delivered: the receiver answered 200."
        assert len(taking.received) == 1 and taking.received[0].signed

        failing = await cli.run("webhooks", "test", "2", "--site", "blog")
        assert failing.code == 1
        assert _flat(failing.out).startswith("Not delivered: answered 500; next attempt in ")
        assert "wharf webhooks deliveries 2 --site blog" in failing.err

        queued = await cli.run("webhooks", "test", "2", "--site", "blog", "--no-wait")
        assert queued.code == 0 and queued.out.startswith("Queued test delivery")

    log = await cli.run("webhooks", "deliveries", "2", "--site", "blog")
    header, *rows = log.out.splitlines()
    assert header.split() == [
        "ID", "EVENT", "STATUS", "ATTEMPTS", "CREATED", "LAST", "ANSWER", "NEXT",
    ]  # fmt: skip
    assert len(rows) == 2 and all("webhook.test" in row and "pending" in row for row in rows)
    assert "answered 500" in log.out
    paged = json.loads(
        (
            await cli.run("webhooks", "deliveries", "2", "--site", "blog", "--limit", "1", "--json")
        ).out
    )
    assert len(paged["deliveries"]) == 1 and paged["next_before"] == paged["deliveries"][0]["id"]

    unconfirmed = await cli.run("webhooks", "remove", "2", "--site", "blog")
    assert unconfirmed.code == 2 and "--yes" in unconfirmed.err
    removed = await cli.run("webhooks", "remove", "2", "--site", "blog", "--yes")
    assert (removed.code, removed.out.strip()) == (
        0,
        f"Removed webhook 2: nothing more goes to {bad}/hook.",
    )
    after = json.loads((await cli.run("webhooks", "list", "--site", "blog", "--json")).out)
    assert [hook["id"] for hook in after["webhooks"]] == [1]


async def test_cli_webhooks_refusals_and_their_exit_codes(cli: WharfCli, tmp_path: Path) -> None:
    await log_in(cli)
    assert (await cli.run("sites", "create", "blog")).code == 0
    refused = await cli.run("webhooks", "add", "ftp://hooks.example.test/", "--site", "blog")
    assert refused.code == 1 and "https:// or http://" in refused.err
    credentials = await cli.run("webhooks", "add", "https://a:b@x.test/", "--site", "blog")
    assert credentials.code == 1 and "user name or password" in credentials.err
    bad_event = await cli.run(
        "webhooks", "add", "https://x.test/", "--site", "blog", "--event", "site.gone"
    )
    assert bad_event.code == 2  # argparse: not one of the choices
    assert (await cli.run("webhooks", "remove", "9", "--site", "blog", "--yes")).code == 3
    assert (await cli.run("webhooks", "test", "9", "--site", "blog")).code == 3
    assert (await cli.run("webhooks", "deliveries", "9", "--site", "blog")).code == 3
    assert (await cli.run("webhooks", "list", "--site", "nope")).code == 3
    logged_out = WharfCli(tmp_path / "nobody", cli.env["WHARF_URL"], PYTHONPATH=str(ROOT))
    assert (await logged_out.run("webhooks", "list", "--site", "blog")).code == 4
