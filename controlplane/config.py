"""Every WHARF_* setting as one table of data rows, turned into a frozen Settings object."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.layout import DataLayout
from controlplane.names import DEFAULT_RESERVED_SITE_NAMES, is_dns_label, is_hostname
from controlplane.secrets import Secret

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_listen(value: str) -> tuple[str, int]:
    """Split `host:port` (IPv6 hosts in brackets) into its parts."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """Parse a comma-separated list of CIDR networks."""
    return tuple(ipaddress.ip_network(part.strip()) for part in value.split(",") if part.strip())


def parse_positive_int(value: str) -> int:
    """Parse an integer that must be at least 1."""
    number = int(value)
    if number < 1:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return number


def parse_secret_key(value: str) -> Secret | None:
    """A secret key of at least 32 characters; empty means generate one."""
    if value and len(value) < 32:
        raise ValueError("use at least 32 random characters")
    return Secret(value) if value else None


def parse_optional_secret(value: str) -> Secret | None:
    """Wrap a non-empty value as a Secret; empty means unset."""
    return Secret(value) if value else None


def parse_optional(value: str) -> str | None:
    """Empty means unset."""
    return value or None


def parse_brotli_quality(value: str) -> int:
    """0 to 11."""
    quality = int(value)
    if not 0 <= quality <= 11:
        raise ValueError(f"expected 0 to 11, got {value!r}")
    return quality


def parse_workers(value: str) -> int:
    """A worker count; 0 means one per CPU core."""
    count = int(value)
    if count < 0:
        raise ValueError(f"expected 0 (one per core) or more, got {value!r}")
    return count or os.cpu_count() or 1


def parse_optional_listen(value: str) -> tuple[str, int] | None:
    """HOST:PORT, or empty for unset."""
    return parse_listen(value) if value else None


def parse_nameserver(value: str) -> tuple[str, int] | None:
    """IP:PORT of a DNS server; empty means the system's resolvers."""
    if not value:
        return None
    host, port = parse_listen(value)
    ipaddress.ip_address(host)  # a resolver is given by address, not by name
    return host, port


def parse_optional_hostname(value: str) -> str | None:
    """A lower-case DNS hostname, or empty for unset."""
    if not value:
        return None
    host = value.strip().lower().rstrip(".")
    if "." not in host or not is_hostname(host):
        raise ValueError(f"expected a hostname like wharf.example.com, got {value!r}")
    return host


def parse_name_list(value: str) -> tuple[str, ...]:
    """Comma-separated DNS labels (site names), lower-cased; empty for none."""
    names = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    for name in names:
        if not is_dns_label(name):
            raise ValueError(f"expected names like www,api; {name!r} is not a DNS label")
    return names


def parse_bool(value: str) -> bool:
    """true/false, yes/no, on/off, 1/0."""
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def parse_minify_mode(value: str) -> bool | None:
    """auto (each site decides), always or never."""
    modes = {"auto": None, "always": True, "never": False}
    if value.lower() not in modes:
        raise ValueError(f"expected auto, always or never, got {value!r}")
    return modes[value.lower()]


def parse_site_url(value: str) -> str | None:
    """A URL template containing {host}; empty means derived from WHARF_HTTP_LISTEN."""
    if not value:
        return None
    if "{host}" not in value or not value.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL containing {{host}}, got {value!r}")
    return value


def parse_public_url(value: str) -> str | None:
    """An http(s) URL with no path, query or fragment, without its trailing slash; empty: unset."""
    if not value:
        return None
    url = value.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or any(c in rest for c in "/?#"):
        raise ValueError(f"expected a URL like https://wharf.example.com, got {value!r}")
    return url


def parse_optional_issuer(value: str) -> str | None:
    """An OpenID issuer URL (http(s), no query or fragment), as the provider names itself."""
    if not value:
        return None
    issuer = value.strip()
    if not issuer.startswith(("https://", "http://")) or any(c in issuer for c in "?#"):
        raise ValueError(
            f"expected the provider's issuer URL, e.g. https://id.example.com, got {value!r}"
        )
    return issuer


def parse_url(value: str) -> str:
    """An http(s) URL, without its trailing slash."""
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


def parse_domain_list(value: str) -> tuple[str, ...]:
    """Comma-separated email domains (example.com), lower-cased; empty for none."""
    domains = tuple(part.strip().lower().lstrip("@") for part in value.split(",") if part.strip())
    for domain in domains:
        if not is_hostname(domain):
            raise ValueError(f"expected domains like example.com; {domain!r} is not one")
    return domains


def parse_org_list(value: str) -> tuple[str, ...]:
    """Comma-separated GitHub organisation logins, lower-cased; empty for none."""
    orgs = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    for org in orgs:
        if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,38})", org):
            raise ValueError(f"expected GitHub organisation names; {org!r} is not one")
    return orgs


def parse_non_negative_int(value: str) -> int:
    """Parse an integer that must be at least 0."""
    number = int(value)
    if number < 0:
        raise ValueError(f"expected 0 or more, got {value!r}")
    return number


def parse_dns_provider(value: str) -> str | None:
    """cloudflare, exec, or empty for none."""
    if value and value not in ("cloudflare", "exec"):
        raise ValueError(f"expected cloudflare, exec or nothing, got {value!r}")
    return value or None


def parse_resolver_name(value: str) -> str:
    """A Traefik certificate resolver's name."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", value):
        raise ValueError(f"expected a resolver name like letsencrypt, got {value!r}")
    return value


def parse_log_level(value: str) -> str:
    """Accept a standard logging level name."""
    level = value.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"expected debug, info, warning or error, got {value!r}")
    return level


def parse_log_format(value: str) -> str:
    """auto, json or text."""
    chosen = value.lower()
    if chosen not in {"auto", "json", "text"}:
        raise ValueError(f"expected auto, json or text, got {value!r}")
    return chosen


def parse_delays(value: str) -> tuple[float, ...]:
    """Comma-separated seconds, each above 0 (fractions allowed), at most 20; empty: none."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    delays = tuple(float(part) for part in parts)
    if len(delays) > 20 or any(not 0 < delay <= 86400 for delay in delays):
        raise ValueError(f"expected up to 20 delays in seconds like 10,30,120, got {value!r}")
    return delays


@dataclass(frozen=True)
class Setting:
    """One configuration row: attribute name, parser, default text and help."""

    name: str
    parse: Callable[[str], Any]
    default: str
    help: str

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return "WHARF_" + self.name.upper()

    @property
    def flag(self) -> str:
        """The command-line option that sets it."""
        return "--" + self.name.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", Path, "./.wharf", "Artifacts, releases, embedded database, secrets."),
    Setting(
        "database_url",
        parse_optional_secret,
        "",
        "postgresql:// URL of an external server; unset starts an embedded PostgreSQL.",
    ),
    Setting("base_domain", str.lower, "localhost", "Sites live at <site>.<base>."),
    Setting("listen", parse_listen, "127.0.0.1:8000", "Control plane address (API, admin UI)."),
    Setting("edge_listen", parse_listen, "127.0.0.1:8090", "Edge file server address."),
    Setting(
        "edge_url",
        parse_optional,
        "",
        "How Traefik reaches the edge; unset: http://edge-<COOLIFY_RESOURCE_UUID>:<edge port>"
        " in Coolify, else http://<WHARF_EDGE_LISTEN>.",
    ),
    Setting(
        "control_host",
        parse_optional_hostname,
        "",
        "Hostname Traefik routes to the control plane (API, admin UI), e.g. wharf.example.com;"
        " unset: no such router. Pick one that is no site's host.",
    ),
    Setting(
        "reserved_site_names",
        parse_name_list,
        ",".join(DEFAULT_RESERVED_SITE_NAMES),
        "Comma-separated names no site may take (besides the control host's label); empty: none.",
    ),
    Setting(
        "control_url",
        parse_optional,
        "",
        "How Traefik reaches the control plane (password and sign-in gates' check and pages);"
        " unset: http://wharf-<COOLIFY_RESOURCE_UUID>:<port> in Coolify, else http://<WHARF_LISTEN>.",
    ),
    Setting("http_listen", parse_listen, "127.0.0.1:8080", "Traefik's http entrypoint (wharf up)."),
    Setting(
        "https_listen", parse_listen, "127.0.0.1:8443", "Traefik's https entrypoint (wharf up)."
    ),
    Setting(
        "traefik_api_listen",
        parse_listen,
        "127.0.0.1:8081",
        "Traefik's API in wharf up (keep it on loopback).",
    ),
    Setting(
        "traefik_dynamic_dir",
        parse_optional,
        "",
        "Traefik's watched dynamic-config folder; unset means <data dir>/traefik/dynamic.",
    ),
    Setting("traefik", parse_bool, "true", "Run Traefik inside `wharf up` (false: your own)."),
    Setting(
        "traefik_api_url",
        parse_optional,
        "",
        "Traefik's API (http://host:port) to confirm routers and show routing status per site;"
        " wharf up sets it for the Traefik it runs.",
    ),
    Setting(
        "traefik_secret",
        parse_optional_secret,
        "",
        "Shared secret Traefik's HTTP provider sends (X-Wharf-Traefik-Secret) to read"
        " GET /traefik/config; unset disables that endpoint.",
    ),
    Setting(
        "probe_traefik_url",
        parse_optional,
        "",
        "Traefik's HTTP entrypoint that post-publish probes also ask for `/` (Host: the site's);"
        " wharf up sets it for the Traefik it runs; unset: probes ask the edge only.",
    ),
    Setting(
        "probe_traefik_https",
        parse_optional_listen,
        "",
        "HOST:PORT of Traefik's HTTPS entrypoint, where the monitor reads each host's"
        " certificate (its end); wharf up sets it for the Traefik it runs; unset: not read.",
    ),
    Setting(
        "edge_workers",
        parse_workers,
        "0",
        "Edge worker processes sharing the port (SO_REUSEPORT); 0 means one per core.",
    ),
    Setting(
        "edge_idle_timeout",
        parse_positive_int,
        "60",
        "Seconds the edge keeps a silent connection, or waits for a request's end, before closing.",
    ),
    Setting("admin_email", str, "admin@localhost", "Email of the first admin, created at start."),
    Setting(
        "admin_password",
        parse_optional_secret,
        "",
        "Password of the first admin; when unset, generated into"
        " <data dir>/initial_admin_password (0600).",
    ),
    Setting(
        "secret_key",
        parse_secret_key,
        "",
        "Signs tokens and cookies; generated once into <data dir>/secret_key (0600) when unset.",
    ),
    Setting(
        "public_url",
        parse_public_url,
        "",
        "The admin UI's address as browsers reach it (sign-in callbacks are"
        " <URL>/auth/<provider>/callback); unset: https://<control host>, else http://<listen>.",
    ),
    Setting(
        "oidc_issuer",
        parse_optional_issuer,
        "",
        "OpenID Connect provider's issuer URL (Authentik, Keycloak, GitLab, Dex...), found by"
        " discovery; unset: no such button.",
    ),
    Setting("oidc_client_id", parse_optional, "", "The client id Wharf has at that provider."),
    Setting("oidc_client_secret", parse_optional_secret, "", "The client secret at that provider."),
    Setting("oidc_name", str, "OpenID Connect", "The sign-in button's label for that provider."),
    Setting(
        "oauth_google_client_id",
        parse_optional,
        "",
        "Google OAuth client id (sign in with Google).",
    ),
    Setting("oauth_google_client_secret", parse_optional_secret, "", "Google OAuth client secret."),
    Setting(
        "oauth_github_client_id",
        parse_optional,
        "",
        "GitHub OAuth app's client id (sign in with GitHub).",
    ),
    Setting("oauth_github_client_secret", parse_optional_secret, "", "GitHub OAuth app's secret."),
    Setting(
        "oauth_github_url",
        parse_url,
        "https://github.com",
        "GitHub's web address (GitHub Enterprise: https://github.example.com).",
    ),
    Setting(
        "oauth_github_api_url",
        parse_url,
        "https://api.github.com",
        "GitHub's API (GitHub Enterprise: https://github.example.com/api/v3).",
    ),
    Setting(
        "oauth_allowed_domains",
        parse_domain_list,
        "",
        "Email domains whose verified users get a member account on their first sign-in with"
        " a provider (comma-separated); empty: only users an admin created, linked by email.",
    ),
    Setting(
        "oauth_allowed_github_orgs",
        parse_org_list,
        "",
        "GitHub organisations whose members get a member account on their first sign-in"
        " (asks GitHub for read:org); empty: none.",
    ),
    Setting("access_token_ttl", parse_positive_int, "3600", "Lifetime of a login JWT in seconds."),
    Setting(
        "login_max_failures",
        parse_positive_int,
        "5",
        "Failed logins per client address or account before 429.",
    ),
    Setting(
        "login_window", parse_positive_int, "300", "Seconds over which failed logins are counted."
    ),
    Setting(
        "trusted_proxies",
        parse_networks,
        "127.0.0.0/8,::1/128",
        "Peers whose X-Forwarded-For is believed (comma-separated CIDRs).",
    ),
    Setting("log_level", parse_log_level, "info", "debug, info, warning or error."),
    Setting(
        "log_format",
        parse_log_format,
        "auto",
        "json (one object a line), text (for a person), or auto: text on a terminal, else json.",
    ),
    Setting(
        "allow_wildcard_domains",
        parse_bool,
        "false",
        "Let users attach wildcard custom domains (*.example.com), verified by DNS only.",
    ),
    Setting(
        "dns_resolver",
        parse_nameserver,
        "",
        "IP:PORT of the DNS server ownership checks ask for TXT records; unset: the system's.",
    ),
    Setting(
        "domain_check_timeout",
        parse_positive_int,
        "5",
        "Seconds a custom-domain ownership check (DNS or HTTP) may take.",
    ),
    Setting(
        "http_check_address",
        parse_optional_listen,
        "",
        "HOST:PORT the HTTP ownership check connects to instead of the domain's address"
        " (the Host header stays the domain); unset: the domain's own address, port 80.",
    ),
    Setting(
        "site_url",
        parse_site_url,
        "",
        "How links to sites are shown, e.g. https://{host}/; unset: http://{host}:<http port>/.",
    ),
    Setting("max_upload_bytes", parse_positive_int, "104857600", "Largest ZIP accepted (413)."),
    Setting("max_file_bytes", parse_positive_int, "26214400", "Largest file inside a ZIP."),
    Setting("max_entries", parse_positive_int, "20000", "Most entries in a ZIP."),
    Setting(
        "max_total_bytes", parse_positive_int, "1073741824", "Most bytes a ZIP may extract to."
    ),
    Setting(
        "max_compression_ratio",
        parse_positive_int,
        "100",
        "Highest uncompressed/compressed ratio, per entry and overall (zip bombs).",
    ),
    Setting(
        "minify",
        parse_minify_mode,
        "auto",
        "auto: each site's setting; always or never: override every site.",
    ),
    Setting(
        "brotli_quality",
        parse_brotli_quality,
        "6",
        "Brotli quality of precompressed files (6: as fast as 5, 1% smaller; 9+ is slow).",
    ),
    Setting(
        "worker",
        parse_bool,
        "true",
        "Run a build worker inside `wharf serve` / `wharf up` (false: run `wharf worker`).",
    ),
    Setting(
        "job_lease", parse_positive_int, "30", "Seconds a worker holds a job between renewals."
    ),
    Setting(
        "job_poll", parse_positive_int, "5", "Seconds between queue polls when no NOTIFY arrives."
    ),
    Setting(
        "retention_free", parse_positive_int, "5", "Ready deploys kept per environment, free tier."
    ),
    Setting(
        "retention_pro", parse_positive_int, "50", "Ready deploys kept per environment, pro tier."
    ),
    Setting("failed_retention_days", parse_positive_int, "7", "Days a failed deploy is kept."),
    Setting("retention_interval", parse_positive_int, "300", "Seconds between retention runs."),
    Setting(
        "routing_interval",
        parse_positive_int,
        "60",
        "Seconds between routing rounds when no change is notified (a safety net).",
    ),
    Setting(
        "reconcile_interval",
        parse_positive_int,
        "5",
        "Seconds between checks that every live symlink names the deploy the database says.",
    ),
    Setting(
        "acme_directory",
        str,
        "https://acme-v02.api.letsencrypt.org/directory",
        "ACME directory URL for the wharf TLS strategy and wharf up's Traefik resolvers.",
    ),
    Setting("acme_email", parse_optional, "", "Contact email of the install's ACME account."),
    Setting(
        "acme_ca_bundle",
        parse_optional,
        "",
        "PEM file trusted for the ACME server's HTTPS (a private CA); unset: the system's.",
    ),
    Setting(
        "dns_provider",
        parse_dns_provider,
        "",
        "DNS-01 provider for wildcard certificates: cloudflare or exec; unset: none.",
    ),
    Setting(
        "dns_exec_script",
        parse_optional,
        "",
        "exec provider: run as `script present <fqdn.> <value>`, then `cleanup` (as lego's).",
    ),
    Setting(
        "cloudflare_api_token",
        parse_optional_secret,
        "",
        "cloudflare provider: API token with Zone:DNS:Edit on the zones.",
    ),
    Setting(
        "dns_propagation_wait",
        parse_non_negative_int,
        "10",
        "Seconds to wait after publishing DNS-01 TXT records before the CA checks them.",
    ),
    Setting(
        "tls_renew_days",
        parse_positive_int,
        "30",
        "Renew a certificate Wharf issued this many days before it expires.",
    ),
    Setting(
        "tls_check_interval",
        parse_positive_int,
        "60",
        "Seconds between checks for certificates to issue or renew.",
    ),
    Setting(
        "traefik_cert_resolver",
        parse_resolver_name,
        "letsencrypt",
        "Traefik resolver for the traefik strategy's hosts (Coolify's is letsencrypt).",
    ),
    Setting(
        "traefik_wildcard_resolver",
        parse_resolver_name,
        "letsencrypt-dns",
        "Traefik resolver with a DNS-01 challenge, for wildcards under the traefik strategy.",
    ),
    Setting(
        "webhook_allow_private",
        parse_bool,
        "false",
        "Let webhooks post to loopback, private and link-local addresses (false: only public"
        " ones, checked when a webhook is added and before every attempt).",
    ),
    Setting(
        "webhook_retry_delays",
        parse_delays,
        "10,30,120,600,3600",
        "Seconds before each retry of a webhook delivery that got no 2xx; after the last it"
        " is failed.",
    ),
    Setting(
        "webhook_timeout",
        parse_positive_int,
        "10",
        "Seconds one webhook attempt may take, from resolving the host to the answer's status.",
    ),
    Setting(
        "cloudflare_trusted_ips",
        parse_bool,
        "false",
        "wharf up's Traefik trusts X-Forwarded-* from Cloudflare's published address ranges.",
    ),
)


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; built once, then passed down.

    Each field is one raw setting, named as its WHARF_* variable. The properties derive
    what the code uses from them and are named for that use (`traefik_watched_dir` from
    `traefik_dynamic_dir`, `edge_upstream` from `edge_url`, `site_link_template` from
    `site_url`), so a raw value and the one derived from it never look alike.
    """

    data_dir: Path
    database_url: Secret | None
    base_domain: str
    listen: tuple[str, int]
    edge_listen: tuple[str, int]
    edge_url: str | None
    control_host: str | None
    reserved_site_names: tuple[str, ...]
    control_url: str | None
    http_listen: tuple[str, int]
    https_listen: tuple[str, int]
    traefik_api_listen: tuple[str, int]
    traefik_dynamic_dir: str | None
    traefik: bool
    traefik_api_url: str | None
    traefik_secret: Secret | None
    probe_traefik_url: str | None
    probe_traefik_https: tuple[str, int] | None
    edge_workers: int
    edge_idle_timeout: int
    admin_email: str
    admin_password: Secret | None
    secret_key: Secret | None
    public_url: str | None
    oidc_issuer: str | None
    oidc_client_id: str | None
    oidc_client_secret: Secret | None
    oidc_name: str
    oauth_google_client_id: str | None
    oauth_google_client_secret: Secret | None
    oauth_github_client_id: str | None
    oauth_github_client_secret: Secret | None
    oauth_github_url: str
    oauth_github_api_url: str
    oauth_allowed_domains: tuple[str, ...]
    oauth_allowed_github_orgs: tuple[str, ...]
    access_token_ttl: int
    login_max_failures: int
    login_window: int
    trusted_proxies: tuple[IPNetwork, ...]
    log_level: str
    log_format: str
    allow_wildcard_domains: bool
    dns_resolver: tuple[str, int] | None
    domain_check_timeout: int
    http_check_address: tuple[str, int] | None
    site_url: str | None
    max_upload_bytes: int
    max_file_bytes: int
    max_entries: int
    max_total_bytes: int
    max_compression_ratio: int
    minify: bool | None
    brotli_quality: int
    worker: bool
    job_lease: int
    job_poll: int
    retention_free: int
    retention_pro: int
    failed_retention_days: int
    retention_interval: int
    routing_interval: int
    reconcile_interval: int
    acme_directory: str
    acme_email: str | None
    acme_ca_bundle: str | None
    dns_provider: str | None
    dns_exec_script: str | None
    cloudflare_api_token: Secret | None
    dns_propagation_wait: int
    tls_renew_days: int
    tls_check_interval: int
    traefik_cert_resolver: str
    traefik_wildcard_resolver: str
    webhook_allow_private: bool
    webhook_retry_delays: tuple[float, ...]
    webhook_timeout: int
    cloudflare_trusted_ips: bool
    # Not a WHARF_* setting: Coolify puts its stack's id in every container and names the
    # containers <service>-<id>, the one name of the edge no other stack can share.
    coolify_resource_uuid: str | None = None

    @property
    def layout(self) -> DataLayout:
        """The paths under the data directory."""
        return DataLayout(self.data_dir)

    @property
    def traefik_watched_dir(self) -> Path:
        """Where Wharf writes Traefik's dynamic config."""
        return Path(self.traefik_dynamic_dir or self.layout.traefik_dynamic)

    @property
    def traefik_staging_dir(self) -> Path:
        """Where Traefik's file is written before its rename: a subfolder of the watched one,
        so that mounting that one folder is enough (a rename cannot cross mounts). Traefik reads
        subfolders but does not watch them, and skips files not named .yml/.yaml/.toml."""
        return self.traefik_watched_dir / ".wharf-staging"

    @property
    def site_link_template(self) -> str:
        """The link template for site hosts: configured, or Traefik's http entrypoint."""
        if self.site_url:
            return self.site_url
        port = self.http_listen[1]
        return "http://{host}/" if port == 80 else f"http://{{host}}:{port}/"

    @property
    def edge_upstream(self) -> str:
        """The URL Traefik forwards site requests to."""
        host, port = self.edge_listen
        if self.edge_url:
            return self.edge_url
        if self.coolify_resource_uuid:
            return f"http://edge-{self.coolify_resource_uuid}:{port}"
        return f"http://{host}:{port}"

    @property
    def control_upstream(self) -> str:
        """The URL Traefik forwards gate checks and gate logins to."""
        host, port = self.listen
        if self.control_url:
            return self.control_url
        if self.coolify_resource_uuid:
            return f"http://wharf-{self.coolify_resource_uuid}:{port}"
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def browser_url(self) -> str:
        """The admin UI's address as browsers reach it: configured, the control host over
        HTTPS, or the address the control plane listens on."""
        if self.public_url:
            return self.public_url
        if self.control_host:
            return f"https://{self.control_host}"
        host, port = self.listen
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


def load_settings(
    overrides: Mapping[str, str | None] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve every setting: explicit override, then WHARF_* variable, then default."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = overrides.get(setting.name)
        if raw is None:
            raw = environ.get(setting.env, setting.default)
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.env}: {exc}") from None
    for provider, client_id, secret in (
        ("OIDC", values["oidc_client_id"], values["oidc_client_secret"]),
        ("OAUTH_GOOGLE", values["oauth_google_client_id"], values["oauth_google_client_secret"]),
        ("OAUTH_GITHUB", values["oauth_github_client_id"], values["oauth_github_client_secret"]),
    ):
        if bool(client_id) != bool(secret):
            raise ConfigError(f"WHARF_{provider}_CLIENT_ID and _CLIENT_SECRET are set together")
    if bool(values["oidc_issuer"]) != bool(values["oidc_client_id"]):
        raise ConfigError("WHARF_OIDC_ISSUER and WHARF_OIDC_CLIENT_ID are set together")
    coolify = environ.get("COOLIFY_RESOURCE_UUID") or None
    if coolify is not None and not is_dns_label(coolify):
        raise ConfigError(f"COOLIFY_RESOURCE_UUID: expected Coolify's resource id, got {coolify!r}")
    return Settings(**values, coolify_resource_uuid=coolify)
