"""Naming rules: what a site name may be, and the hostnames derived from it."""

from __future__ import annotations

import re

from controlplane.errors import Invalid

DNS_LABEL_MAX = 63
SITE_NAME_MAX = DNS_LABEL_MAX
# The DNS-label rule (lower-case LDH, RFC 1123): every name and hostname check builds on it.
DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME = rf"(?=.{{1,253}}$){DNS_LABEL}(?:\.{DNS_LABEL})*"
_DNS_LABEL = re.compile(DNS_LABEL)
_HOSTNAME = re.compile(HOSTNAME)
# "--" separates the parts of derived hosts (<site>--staging, <deploy>--<site>), so no name has it.
HOST_PART_SEPARATOR = "--"
STAGING_SUFFIX = f"{HOST_PART_SEPARATOR}staging"
# Site names that would read as the platform's own hosts; WHARF_RESERVED_SITE_NAMES changes them.
DEFAULT_RESERVED_SITE_NAMES = ("www", "api", "admin", "mail", "localhost")
# Paths the edge answers on every host: custom-domain ownership tokens and HTTP-01 answers.
CHALLENGE_PATH = "/.well-known/wharf-challenge/"
ACME_PATH = "/.well-known/acme-challenge/"
# Passwords (accounts and gates): argon2's cost grows with input length, so a cap keeps a
# login from being a cheap CPU attack.
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
EMAIL = r"[^@\s]{1,64}@[^@\s]{1,190}"
_EMAIL = re.compile(EMAIL)


def is_dns_label(text: str) -> bool:
    """Whether text is one lower-case LDH label of 1 to 63 characters."""
    return _DNS_LABEL.fullmatch(text) is not None


def is_hostname(text: str) -> bool:
    """Whether text is a lower-case LDH hostname (labels of 1 to 63, 253 at most)."""
    return _HOSTNAME.fullmatch(text) is not None


def validate_site_name(name: object, reserved: frozenset[str] = frozenset()) -> str:
    """Return the name if it is a valid site name, else raise Invalid saying why."""
    if not isinstance(name, str) or not name:
        raise Invalid("a site name is required", code="invalid_name")
    if len(name) > SITE_NAME_MAX:
        raise Invalid(f"a site name has at most {SITE_NAME_MAX} characters", code="invalid_name")
    if not _DNS_LABEL.fullmatch(name):
        raise Invalid(
            "a site name uses lowercase letters, digits and hyphens, and starts and ends with a"
            " letter or digit",
            code="invalid_name",
        )
    if HOST_PART_SEPARATOR in name:
        raise Invalid("a site name cannot contain '--'", code="invalid_name")
    if name in reserved:
        raise Invalid(f"{name!r} is reserved for the platform's own hosts", code="reserved_name")
    return name


def validate_email(email: object) -> str:
    """Return the email if it has the form local@domain, else raise Invalid."""
    if not isinstance(email, str) or not _EMAIL.fullmatch(email):
        raise Invalid("an email address of the form name@domain is required", code="invalid_email")
    return email


def preview_host(deploy_id: str, site: str, base_domain: str) -> str | None:
    """The preview hostname of a deploy, or None when the label would pass 63 characters."""
    label = f"{deploy_id}{HOST_PART_SEPARATOR}{site}"
    return f"{label}.{base_domain}" if len(label) <= DNS_LABEL_MAX else None


def has_staging_host(site: str) -> bool:
    """Whether `<site>--staging` fits a DNS label: not for site names of 55 or more characters."""
    return len(site) + len(STAGING_SUFFIX) <= DNS_LABEL_MAX


def staging_host(site: str, base_domain: str) -> str | None:
    """The staging hostname of a site, or None when it cannot exist (see has_staging_host)."""
    return f"{site}{STAGING_SUFFIX}.{base_domain}" if has_staging_host(site) else None


def site_hosts(site: str, base_domain: str) -> dict[str, str | None]:
    """The hostnames of a site's environments under the base domain (None: cannot exist)."""
    return {"production": f"{site}.{base_domain}", "staging": staging_host(site, base_domain)}


def reserved_site_names(
    names: tuple[str, ...], control_host: str | None, base: str
) -> frozenset[str]:
    """The names no site may take: the admin's list and the control host's label under base."""
    reserved = set(names)
    if control_host and control_host.endswith(f".{base}"):
        label = control_host.removesuffix(f".{base}")
        if is_dns_label(label):
            reserved.add(label)
    return frozenset(reserved)


def validate_password(password: object) -> str:
    """A password of PASSWORD_MIN to PASSWORD_MAX characters and no NUL (bcrypt, and so
    Traefik's basicAuth, stops reading at one: "\\0" * 8 would match the empty password)."""
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise Invalid(
            f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters", code="invalid_password"
        )
    if "\x00" in password:
        raise Invalid("a password may not contain a NUL character", code="invalid_password")
    return password


# The longest path a login or a form may send the browser back to.
MAX_NEXT = 2048


def safe_next(raw: object, default: str = "/") -> str:
    """A path on the same host to go back to: `/…`, never `//host`, `/\\host`, a control
    character (browsers drop tabs, so `/<TAB>/host` is `//host`) or a URL; else default."""
    if (
        not isinstance(raw, str)
        or not raw.startswith("/")
        or raw.startswith("//")
        or len(raw) > MAX_NEXT
        or "\\" in raw
        or any(ord(char) < 0x21 or ord(char) == 0x7F for char in raw)
    ):
        return default
    return raw
