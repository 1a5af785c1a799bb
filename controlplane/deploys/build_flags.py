"""Build flags: the documented catalogue, a site's allow-list, secret values kept out of sight."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from controlplane.errors import Invalid

# name -> (type, help). `env.NAME` flags are a family: see ENV_FLAG.
CATALOGUE: dict[str, tuple[type, str]] = {
    "minify": (bool, "Minify HTML, CSS and JS for this deploy (overrides the site setting)."),
    "precompress": (bool, "Write .br and .gz variants of text files (default true)."),
    "root": (str, "Folder inside the archive to publish, instead of detecting it."),
}
ENV_FLAG = re.compile(r"env\.([A-Z][A-Z0-9_]{0,63})")
ENV_FLAG_HELP = (
    "Replace the placeholder __WHARF_ENV_<NAME>__ in text files with the value. The value ends up"
    " in the published files; `secret` only keeps it out of logs and API answers."
)
DEFAULT_ALLOWED = ("minify", "precompress", "root")
MAX_FLAG_VALUE = 4096
MASK = "********"


@dataclass(frozen=True)
class BuildFlag:
    """One flag given with a deploy."""

    value: bool | str
    secret: bool = False


def _known(name: str) -> bool:
    return name in CATALOGUE or ENV_FLAG.fullmatch(name) is not None


def validate_allowed_flags(patterns: object) -> list[str]:
    """A site's allow-list: catalogue names, `env.NAME`, or `env.*`."""
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise Invalid("allowed_flags is a list of flag names", code="invalid_allowed_flags")
    for pattern in patterns:
        if pattern != "env.*" and not _known(pattern):
            raise Invalid(f"unknown build flag {pattern!r}", code="invalid_allowed_flags")
    return sorted(set(patterns))


def parse_flags(raw: object, allowed: list[str]) -> dict[str, BuildFlag]:
    """Validate flags given with a deploy against the catalogue and the site's allow-list."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise Invalid("flags is a JSON object", code="invalid_flags")
    problems = []
    flags: dict[str, BuildFlag] = {}
    for name, given in raw.items():
        secret = False
        value = given
        if isinstance(given, dict):
            value, secret = given.get("value"), bool(given.get("secret", False))
        problem = _flag_problem(name, value, allowed)
        if problem:
            problems.append({"flag": name, **problem})
        else:
            flags[name] = BuildFlag(value=value, secret=secret)
    if problems:
        raise Invalid("some build flags were refused", code="invalid_flags", details=problems)
    return flags


def _flag_problem(name: str, value: object, allowed: list[str]) -> dict[str, str] | None:
    if not _known(name):
        return {"code": "unknown_flag", "message": "not a documented build flag"}
    if not any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
        return {"code": "flag_not_allowed", "message": "not in this site's allowed_flags"}
    expected = CATALOGUE[name][0] if name in CATALOGUE else str
    if not isinstance(value, expected):
        return {"code": "invalid_value", "message": f"expects a {expected.__name__}"}
    if isinstance(value, str) and (len(value) > MAX_FLAG_VALUE or "\x00" in value):
        return {"code": "invalid_value", "message": f"at most {MAX_FLAG_VALUE} characters"}
    return None


def flags_to_json(flags: dict[str, BuildFlag]) -> dict[str, Any]:
    """The stored form."""
    return {name: {"value": flag.value, "secret": flag.secret} for name, flag in flags.items()}


def flags_from_json(stored: dict[str, Any]) -> dict[str, BuildFlag]:
    """Back from the stored form."""
    return {name: BuildFlag(item["value"], item["secret"]) for name, item in stored.items()}


def masked(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored form with secret values replaced, for API answers."""
    return {
        name: {"value": MASK if item["secret"] else item["value"], "secret": item["secret"]}
        for name, item in stored.items()
    }


def secret_values(flags: dict[str, BuildFlag]) -> list[str]:
    """The values to redact from build logs."""
    return [str(flag.value) for flag in flags.values() if flag.secret and flag.value]
