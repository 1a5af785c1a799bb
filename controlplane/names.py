"""Naming rules: what a site name may be, and the hostnames derived from it."""

from __future__ import annotations

import re

from controlplane.errors import Invalid

SITE_NAME_MAX = 63
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# "--" separates the parts of derived hosts (<site>--staging, <deploy>--<site>), so no name has it.
HOST_PART_SEPARATOR = "--"
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}")


def validate_site_name(name: object) -> str:
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
    return name


def validate_email(email: object) -> str:
    """Return the email if it has the form local@domain, else raise Invalid."""
    if not isinstance(email, str) or not _EMAIL.fullmatch(email):
        raise Invalid("an email address of the form name@domain is required", code="invalid_email")
    return email


def preview_host(deploy_id: str, site: str, base_domain: str) -> str | None:
    """The preview hostname of a deploy, or None when the label would pass 63 characters."""
    label = f"{deploy_id}{HOST_PART_SEPARATOR}{site}"
    return f"{label}.{base_domain}" if len(label) <= SITE_NAME_MAX else None


def site_hosts(site: str, base_domain: str) -> dict[str, str]:
    """The hostnames of a site's environments under the base domain."""
    return {
        "production": f"{site}.{base_domain}",
        "staging": f"{site}{HOST_PART_SEPARATOR}staging.{base_domain}",
    }
