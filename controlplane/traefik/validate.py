"""Checks a rendered Traefik config before it may replace the live one."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

_HOST_CALL = re.compile(r"Host\(([^)]*)\)")
_HOSTREGEXP_CALL = re.compile(r"HostRegexp\(`([^`]*)`\)")
_AUTH_ADDRESS = re.compile(r"^https?://[^\s/?#]+/[^\s]*$")
# A schema message quotes the value it judged: never let it carry a certificate or a key.
_PEM = re.compile(r"-----BEGIN [A-Z ]+-----.*?(-----END [A-Z ]+-----|$)", re.DOTALL)
_HASH = re.compile(r"^[^:\s]+:(\$2[aby]\$\d\d\$.{53}|\$apr1\$.+|\$1\$.+|\{SHA\}.+)$")


# libyaml's safe dumper and loader when PyYAML was built with it: 4-5 times faster on a
# config with thousands of routers, and the same output.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class InvalidConfig(ValueError):
    """The config would break or freeze Traefik; every problem is listed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@cache
def _validator() -> jsonschema.Draft7Validator:
    text = (
        resources.files("controlplane.traefik")
        .joinpath("schemas/traefik-v3-file-provider.json")
        .read_text()
    )
    return jsonschema.Draft7Validator(json.loads(text))


def validate(config: dict[str, Any]) -> str:
    """The config as YAML text, after every check passed; InvalidConfig otherwise."""
    text = yaml.dump(config, Dumper=_Dumper, sort_keys=True)
    problems: list[str] = []
    if yaml.load(text, Loader=_Loader) != config:  # noqa: S506 (a safe loader, C or Python)
        problems.append("the YAML does not read back as the config")
    problems.extend(
        f"schema: {'/'.join(map(str, error.absolute_path))}: {_PEM.sub('<PEM>', error.message)}"
        for error in _validator().iter_errors(config)
    )
    problems.extend(_empty_maps(config, "config"))
    http = config.get("http", {})
    routers = http.get("routers", {})
    services = http.get("services", {})
    middlewares = http.get("middlewares", {})
    for name, router in routers.items():
        problems.extend(f"router {name}: {p}" for p in _rule_problems(router.get("rule", "")))
        if router.get("service") not in services:
            problems.append(f"router {name}: service {router.get('service')!r} is not defined")
        for middleware in router.get("middlewares", []):
            if middleware not in middlewares:
                problems.append(f"router {name}: middleware {middleware!r} is not defined")
        if not isinstance(router.get("priority"), int) or router["priority"] < 1:
            problems.append(f"router {name}: needs an explicit positive priority")
    for name, middleware in middlewares.items():
        if "basicAuth" in middleware and not middleware["basicAuth"].get("users"):
            problems.append(f"middleware {name}: basicAuth has no users")
        for user in middleware.get("basicAuth", {}).get("users", []):
            if not _HASH.match(user):
                problems.append(f"middleware {name}: a basicAuth user entry is not user:hash")
        address = middleware.get("forwardAuth", {}).get("address")
        if address is not None and not _AUTH_ADDRESS.match(address):
            problems.append(f"middleware {name}: forwardAuth address is not an http(s) URL")
    if problems:
        raise InvalidConfig(problems)
    return text


def _empty_maps(value: Any, where: str) -> list[str]:
    """Every empty mapping: one of them freezes Traefik's whole file provider."""
    if isinstance(value, dict):
        found = [f"{where} is an empty map"] if not value else []
        for key, item in value.items():
            found.extend(_empty_maps(item, f"{where}.{key}"))
        return found
    if isinstance(value, list):
        return [
            p for index, item in enumerate(value) for p in _empty_maps(item, f"{where}[{index}]")
        ]
    return []


def _rule_problems(rule: str) -> list[str]:
    """Host() with exactly one backticked host; HostRegexp anchored with ^ and $."""
    problems = []
    if not rule:
        return ["no rule"]
    for argument in _HOST_CALL.findall(rule):
        if not re.fullmatch(r"`[a-z0-9.-]+`", argument):
            problems.append(f"Host() must hold exactly one backticked hostname, got {argument!r}")
    for pattern in _HOSTREGEXP_CALL.findall(rule):
        if not (pattern.startswith("^") and pattern.endswith("$")):
            problems.append("HostRegexp must be anchored with ^ and $")
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"HostRegexp is not a valid regexp: {exc}")
    return problems
