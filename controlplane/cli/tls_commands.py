"""`wharf tls show|set|upload`: the TLS strategy and certificate of the base domain (admins), a
site (`--site`) or one of its custom domains (`--site` and `--domain`); never a private key."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controlplane.cli.client import EXIT_NOT_FOUND, CliFailure
from controlplane.cli.output import ago
from controlplane.cli.remote import Context
from controlplane.cli.resources import file_text, routing_note, site_path, usage_failure

STRATEGIES = ("none", "traefik", "wharf", "custom", "cloudflare")
UPLOADED = ("custom", "cloudflare")  # the strategies that serve an uploaded certificate
SOON_DAYS = 14  # as the admin UI: a certificate this close to its end is "expiring soon"
_REDIRECT = {"auto": None, "on": True, "off": False}


@dataclass(frozen=True)
class Target:
    """Whose TLS: the base domain (site None), a site, or a site's custom domain."""

    site: str | None
    domain: str | None

    def path(self) -> str:
        """Where its TLS is read (a domain's is inside its site's)."""
        return site_path(self.site, "tls") if self.site else "/api/v1/tls"

    def write_path(self) -> str:
        """Where its TLS is set."""
        if self.site and self.domain:
            return site_path(self.site, "domains", self.domain, "tls")
        return self.path()

    def name(self) -> str:
        """How it is named in messages."""
        if self.site and self.domain:
            return f"{self.domain} (of {self.site})"
        return self.site or "the base domain"


def target_of(args: argparse.Namespace) -> Target:
    """--site, --site with --domain, or neither (the base domain); --domain alone is usage."""
    if args.domain and not args.site:
        raise usage_failure(
            "--domain needs the site it belongs to: add --site SITE (`wharf sites list` shows them)"
        )
    return Target(args.site, args.domain)


def domain_status(document: dict[str, Any], target: Target) -> dict[str, Any]:
    """A custom domain's entry in its site's TLS; not found unless it is verified."""
    wanted = (target.domain or "").lower().rstrip(".")
    statuses: list[dict[str, Any]] = document["domains"]
    for status in statuses:
        if wanted in status["hostnames"]:
            return status
    raise CliFailure(
        f"{target.site} has no verified domain {target.domain!r}: see"
        f" `wharf domains list --site {target.site}`",
        code="domain_not_found",
        exit_code=EXIT_NOT_FOUND,
    )


def status_words(status: dict[str, Any]) -> str:
    """Some hosts' TLS in a sentence, as the admin UI's badge says it."""
    effective, cert = status["effective_strategy"], status["certificate"]
    days = cert["expires_in_seconds"] // 86400 if cert else 0
    if effective == "none":
        return "HTTP only: no TLS"
    if effective == "traefik":
        return "by Traefik: its ACME resolver obtains and renews the certificate"
    if cert and days < 0:
        return "EXPIRED: browsers refuse the certificate"
    if cert and days < SOON_DAYS:
        return f"HTTPS, expiring soon: the certificate ends in {days} days"
    if cert:
        return f"HTTPS: the certificate ends in {days} days"
    if status["last_error"]:
        return "no certificate yet (plain HTTP until there is one)"
    if effective == "wharf":
        return "pending: Wharf is ordering the certificate (plain HTTP until then)"
    return "no certificate: upload one with `wharf tls upload CERT KEY`"


def _strategy(status: dict[str, Any], inherited_from: str) -> str:
    own, effective = status["strategy"], status["effective_strategy"]
    if own is None:
        return f"{effective} (inherited from {inherited_from})"
    return own if own == effective else f"{own} (in effect: {effective})"


def _expiry(cert: dict[str, Any]) -> str:
    until = datetime.fromisoformat(cert["not_after"])
    return f"{until:%Y-%m-%d %H:%M} UTC ({ago(cert['not_after'])})"


def _certificate_fields(cert: dict[str, Any] | None) -> list[tuple[str, str]]:
    if cert is None:
        return [("Certificate", "none held by Wharf")]
    return [
        ("Certificate", f"{cert['source']}, for {', '.join(cert['names'])}"),
        ("Issuer", cert["issuer"]),
        ("Expires", _expiry(cert)),
        ("Fingerprint", f"SHA-256 {cert['fingerprint_sha256']}"),
    ]


def _problem_fields(status: dict[str, Any]) -> list[tuple[str, str]]:
    fields = []
    if status["last_error"]:
        fields.append(("Last error", status["last_error"]))
    if status["next_attempt_at"]:
        fields.append(("Next attempt", ago(status["next_attempt_at"])))
    return fields


def _redirect_words(redirect: bool | None) -> str:
    return {None: "auto (on when a certificate exists)", True: "on", False: "off"}[redirect]


def _hsts_words(seconds: int) -> str:
    return "off" if not seconds else f"max-age {seconds} s ({seconds // 86400} days)"


def show_base(ctx: Context, document: dict[str, Any]) -> None:
    """The base domain's TLS for a person."""
    ctx.output.fields(
        [
            ("Hosts", ", ".join(document["hostnames"])),
            ("Strategy", _strategy(document, "the base domain")),
            ("Status", status_words(document)),
            *_certificate_fields(document["certificate"]),
            ("Redirect", _redirect_words(document["redirect_https"])),
            ("HSTS", _hsts_words(document["hsts_max_age"])),
            *_problem_fields(document),
        ]
    )


def show_site(ctx: Context, site: str, document: dict[str, Any]) -> None:
    """A site's TLS, then one row per group of hosts."""
    own = document["strategy"]
    effective = document["effective_strategy"]
    ctx.output.fields(
        [
            ("Site", site),
            (
                "Domains' strategy",
                f"{effective} (inherited from the base domain)" if own is None else own,
            ),
            ("Redirect", _redirect_words(document["redirect_https"])),
            ("HSTS", _hsts_words(document["hsts_max_age"])),
            *(
                _certificate_fields(document["certificate"])
                if document["certificate"] or effective in UPLOADED
                else []
            ),
        ]
    )
    ctx.output.line("")
    statuses = [document["base_domain"], *document["domains"]]
    ctx.output.table(
        ("HOSTS", "STRATEGY", "TLS", "EXPIRES"),
        [
            (
                ", ".join(status["hostnames"]),
                status["effective_strategy"],
                status_words(status),
                ago(status["certificate"]["not_after"]) if status["certificate"] else "—",
            )
            for status in statuses
        ],
        "No hosts.",
    )


def show_domain(ctx: Context, target: Target, status: dict[str, Any]) -> None:
    """One custom domain's TLS for a person."""
    ctx.output.fields(
        [
            ("Domain", ", ".join(status["hostnames"])),
            ("Site", target.site or ""),
            ("Strategy", _strategy(status, "the site")),
            ("Status", status_words(status)),
            *_certificate_fields(status["certificate"]),
            *_problem_fields(status),
        ]
    )


def show(ctx: Context, target: Target, document: dict[str, Any]) -> None:
    """Whichever target's TLS, for a person."""
    if target.site is None:
        show_base(ctx, document)
    elif target.domain is None:
        show_site(ctx, target.site, document)
    else:
        show_domain(ctx, target, domain_status(document, target))


async def show_tls(ctx: Context, args: argparse.Namespace) -> None:
    """The TLS of the base domain, a site, or a custom domain (its site's document with --json)."""
    target = target_of(args)
    document = await ctx.client.call("GET", target.path())
    if target.domain:
        domain_status(document, target)  # not verified: exit 3, with --json too
    ctx.output.result(document, lambda: show(ctx, target, document))


def _settings_body(
    target: Target, current: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """Redirect and HSTS to send: as given, else the base domain's kept; a site's redirect is
    kept, its HSTS goes back to the base domain's (the API shows only the HSTS in effect)."""
    redirect = _REDIRECT[args.redirect] if args.redirect else current["redirect_https"]
    if target.site is None:
        hsts = args.hsts if args.hsts is not None else current["hsts_max_age"]
    else:
        hsts = args.hsts
    return {"redirect_https": redirect, "hsts_max_age": hsts}


def _check_domain_options(target: Target, args: argparse.Namespace) -> None:
    if target.domain and (args.redirect or args.hsts is not None):
        raise usage_failure(
            f"--redirect and --hsts are set per site: run without --domain"
            f" (wharf tls set … --site {target.site})"
        )


async def _put(
    ctx: Context, target: Target, current: dict[str, Any], body: dict[str, Any]
) -> dict[str, Any]:
    """Send the change; the answer, with a note when a site's HSTS changed as a consequence."""
    answer: dict[str, Any] = await ctx.client.call("PUT", target.write_path(), body=body)
    before, after = current.get("hsts_max_age"), answer.get("hsts_max_age")
    if target.site and not target.domain and body.get("hsts_max_age") is None and before != after:
        ctx.output.note(
            f"HSTS of {target.site} is now the base domain's, {after} s (it was {before} s):"
            f" give --hsts {before} to keep it."
        )
    return answer


async def set_tls(ctx: Context, args: argparse.Namespace) -> None:
    """Choose a strategy (inherit: the site's or base domain's) and the redirect and HSTS."""
    target = target_of(args)
    _check_domain_options(target, args)
    if args.strategy == "inherit" and target.site is None:
        raise usage_failure("the base domain inherits from nothing: give a strategy")
    current = await ctx.client.call("GET", target.path())
    strategy = None if args.strategy == "inherit" else args.strategy
    body: dict[str, Any] = {"strategy": strategy}
    if target.domain:
        domain_status(current, target)
    else:
        body.update(_settings_body(target, current, args))
    answer = await _put(ctx, target, current, body)

    def human() -> None:
        ctx.output.line(f"TLS of {target.name()} is set.")
        show(ctx, target, answer)

    ctx.output.result(answer, human)
    routing_note(ctx, answer)


async def upload_tls(ctx: Context, args: argparse.Namespace) -> None:
    """Upload a certificate and its key (files); the certificate's names and expiry."""
    target = target_of(args)
    _check_domain_options(target, args)
    pem = {
        "certificate": file_text(args.certificate, "certificate, PEM"),
        "key": file_text(args.key, "private key, PEM"),
    }
    if args.chain:
        pem["chain"] = file_text(args.chain, "issuers' certificates, PEM")
    current = await ctx.client.call("GET", target.path())
    now = domain_status(current, target) if target.domain else current
    strategy = args.strategy or (now["strategy"] if now["strategy"] in UPLOADED else "custom")
    body: dict[str, Any] = {"strategy": strategy, **pem}
    if not target.domain:
        body.update(_settings_body(target, current, args))
    answer = await _put(ctx, target, current, body)

    def human() -> None:
        ctx.output.line(f"Uploaded the certificate of {target.name()} (strategy {strategy}).")
        show(ctx, target, answer)

    ctx.output.result(answer, human)
    routing_note(ctx, answer)


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], remote: argparse.ArgumentParser
) -> None:
    """Add `wharf tls …`."""
    whose = argparse.ArgumentParser(add_help=False)
    group = whose.add_argument_group("whose TLS (neither: the base domain, admins only)")
    group.add_argument("--site", help="a site: its custom domains' strategy and certificate")
    group.add_argument("--domain", metavar="HOST", help="one verified custom domain of --site")
    settings = argparse.ArgumentParser(add_help=False)
    settings.add_argument(
        "--redirect",
        choices=list(_REDIRECT),
        help="HTTP to HTTPS redirect; auto: on once a certificate exists [default: unchanged]",
    )
    settings.add_argument(
        "--hsts",
        type=int,
        metavar="SECONDS",
        help="HSTS max-age, 0 for none [default: the base domain's kept; a site's inherits]",
    )
    tls = commands.add_parser("tls", help="TLS strategy and certificates")
    actions = tls.add_subparsers(dest="action", required=True)
    parser = actions.add_parser(
        "show", parents=[remote, whose], help="strategy, certificate and its expiry"
    )
    parser.set_defaults(run=show_tls)

    parser = actions.add_parser(
        "set", parents=[remote, whose, settings], help="choose the TLS strategy"
    )
    parser.add_argument(
        "strategy",
        choices=[*STRATEGIES, "inherit"],
        help="none, traefik, wharf (ACME by Wharf), custom or cloudflare (uploaded); inherit:"
        " a site's or domain's falls back to the one above it",
    )
    parser.set_defaults(run=set_tls)

    parser = actions.add_parser(
        "upload", parents=[remote, whose, settings], help="upload a certificate and its key"
    )
    parser.add_argument("certificate", metavar="CERT", help="PEM file: the leaf (then issuers)")
    parser.add_argument("key", metavar="KEY", help="PEM file: its private key (never shown)")
    parser.add_argument("--chain", metavar="FILE", help="PEM file: the issuers, leaf's first")
    parser.add_argument(
        "--strategy",
        choices=list(UPLOADED),
        help="custom or cloudflare [default: the current one of those, else custom]",
    )
    parser.set_defaults(run=upload_tls)
