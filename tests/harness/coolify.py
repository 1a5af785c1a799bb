"""What Coolify 4 makes of a pasted compose file: a port of `serviceParser` for tests.

Follows coollabsio/coolify at commit 379abb252621f34b318190bd49b614aed9818716:
`bootstrap/helpers/parsers.php` (`serviceParser` l.1546-2807, `parseDockerVolumeString`
l.116-359), `bootstrap/helpers/shared.php` (volume, magic-variable and value helpers),
`bootstrap/helpers/services.php` (`${...}` splitting) and `app/Models/Service.php`
(`saveComposeConfigs` l.1585, `isDeployable` l.1662). It models a first parse on a Coolify whose
database holds only the `values` the user typed. Not ported (no decision for Wharf's file depends
on them): Coolify's labels (`defaultLabels`, Traefik/Caddy labels), database detection
(`isDatabaseImage`: every service is treated as an application), log drains, nested
`${A:-${B}}` defaults, shared `{{team.X}}` variables, Windows paths, previews.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

COMMIT = "379abb252621f34b318190bd49b614aed9818716"
SERVICES_DIR = (
    "/data/coolify/services"  # base_configuration_dir() . '/services' (parsers.php l.2218)
)
RESTART_MODE = "unless-stopped"  # bootstrap/helpers/constants.php l.37
_MODES = {"ro", "rw", "z", "Z", "rslave", "rprivate", "rshared", "slave", "private", "shared"}
_MODES |= {"cached", "delegated", "consistent"}  # parsers.php l.184
_DANGEROUS = ("`", "$(", "${", "|", "&", ";", "\n", "\r", "\t", ">", "<")  # shared.php l.139-151
_SIMPLE_VAR = re.compile(r"^\$\{[a-zA-Z_][a-zA-Z0-9_]*\}$")
_VAR_WITH_PATH = re.compile(r"^\$\{[a-zA-Z_][a-zA-Z0-9_]*\}[/\w.\-]*$")
_VAR_WITH_DEFAULT = re.compile(r"^\$\{[^}]+:-[^}]*\}$")
_MAGIC_REFERENCE = re.compile(r"\$(\{?([a-zA-Z_\x80-\xff][a-zA-Z0-9_\x80-\xff]*)\}?)")


class Rejected(Exception):
    """Coolify refuses the compose file (it throws, or its YAML parse fails: nothing is saved)."""


@dataclass
class Variable:
    """One Coolify environment variable row (`EnvironmentVariable`): value and required flag."""

    key: str
    value: str | None
    required: bool = False

    @property
    def missing(self) -> bool:
        """`isReallyRequired`, app/Models/EnvironmentVariable.php l.222-227 at COMMIT."""
        return self.required and not self.value


@dataclass(frozen=True)
class LocalFileVolume:
    """A bind Coolify records (parsers.php l.2220-2235): its UI can `rm -rf` the `fs_path`."""

    fs_path: str
    mount_path: str | None
    is_directory: bool


@dataclass(frozen=True)
class Domain:
    """A service's saved `fqdn` (URL, no port) and the port its proxy labels point at."""

    url: str
    port: int | None


@dataclass
class Parsed:
    """Everything `serviceParser` decides for one compose file."""

    compose: dict[str, Any]
    env: str
    variables: dict[str, Variable]
    local_file_volumes: list[LocalFileVolume]
    domains: dict[str, Domain]
    missing: list[str] = field(default_factory=list)

    @property
    def deployable(self) -> bool:
        """`Service::isDeployable` (app/Models/Service.php l.1662 at COMMIT): none missing."""
        return not self.missing


class _SymfonyYaml(yaml.SafeLoader):
    """Symfony's `Yaml::parse` scalars: `restart: no` stays "no", `8080:80` stays a string."""


_YAML_12 = {
    "tag:yaml.org,2002:bool": (r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    "tag:yaml.org,2002:int": (r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    "tag:yaml.org,2002:float": (
        r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$",
        "-+.0123456789",
    ),
}
_SymfonyYaml.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _YAML_12]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, (_pattern, _first) in _YAML_12.items():
    _SymfonyYaml.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def parse_volume_string(volume: str) -> tuple[str | None, str | None, str | None]:
    """(source, target, mode) as `parseDockerVolumeString`, parsers.php l.116-359 at COMMIT."""
    volume = volume.strip()
    source: str | None = None
    target: str | None = None
    mode: str | None = None
    # Only a leading ${VAR:-default} is set aside before counting colons (l.125-143).
    leading = re.match(r"^\$\{[^}]+:-[^}]*\}", volume)
    end = len(leading.group(0)) if leading else 0
    colons = volume[end:].count(":")
    if colons == 0:
        source = target = volume
    elif colons == 1:
        if leading:
            source, remaining = volume[:end], volume[end:]
            target = remaining[1:] if remaining.startswith(":") else remaining
        else:
            source, target = volume.split(":")
    elif colons == 2 and leading:
        source, remaining = volume[:end], volume[end:]
        # l.173: the target is read only when a colon follows the variable; else it stays null.
        if remaining.startswith(":"):
            remaining = remaining[1:]
            head, colon, possible = remaining.rpartition(":")
            target, mode = (head, possible) if colon and possible in _MODES else (remaining, None)
    else:
        # Two colons without a leading variable (l.199-226) and more than two (l.249-268) both
        # split on the first colon and take a known mode off the end.
        source, _, remaining = volume.partition(":")
        head, colon, possible = remaining.rpartition(":")
        target, mode = (head, possible) if colon and possible in _MODES else (remaining, None)
    # l.290-307: a source that is exactly ${VAR:-default} becomes the literal default.
    whole = re.match(r"^\$\{([^}]+)\}$", source or "")
    if whole and ":-" in whole.group(1):
        name, default = whole.group(1).split(":-", 1)
        source = default if default else "${" + name + "}"
    if source and not (_SIMPLE_VAR.match(source) or _VAR_WITH_PATH.match(source)):
        _shell_safe(source, "volume source", "Invalid Docker volume definition")
    if target is not None:
        _shell_safe(target, "volume target", "Invalid Docker volume definition")
    return source, target, mode


def _shell_safe(value: str, context: str, prefix: str) -> None:
    """`validateShellSafePath`, shared.php l.136-162 at COMMIT, with the caller's message prefix."""
    for char in _DANGEROUS:
        if char in value:
            raise Rejected(f"{prefix}: Invalid {context}: contains forbidden character {char!r}")


def source_is_local(source: str) -> bool:
    """`sourceIsLocal`, shared.php l.1642 at COMMIT: a path (bind), else a named volume."""
    return source.startswith(("./", "/", "~", ".."))


def replace_local_source(source: str, directory: str) -> str:
    """`replaceLocalSource`, shared.php l.1651-1667 at COMMIT: `.`, `~`, `..` → service folder."""
    for prefix in (".", "~", ".."):
        if source.startswith(prefix):
            source = directory + source[len(prefix) :]
    if source.endswith("/") and source != "/":
        source = source[:-1]
    return source


def slug(text: str) -> str:
    """Laravel `Str::slug($text, '-')` for ASCII input, as parsers.php l.2258 names volumes."""
    text = re.sub(r"_+", "-", text).replace("@", "-at-").lower()
    text = re.sub(r"[^-\w\s]+|_", "", text)
    return re.sub(r"[-\s]+", "-", text).strip("-")


def generate_value(command: str) -> str | None:
    """`generateEnvValue`, shared.php l.1754-1850 at COMMIT, for the random kinds (not JWTs)."""
    letters = string.ascii_letters + string.digits
    sizes = {"PASSWORD": 32, "PASSWORD_64": 64, "BASE64": 32, "BASE64_32": 32, "BASE64_64": 64}
    sizes |= {"BASE64_128": 128, "USER": 16, "LOWERCASEUSER": 16}
    if command not in sizes:
        return None  # l.1843: an unknown command creates the variable with no value
    value = "".join(secrets.choice(letters) for _ in range(sizes[command]))
    return value.lower() if command == "LOWERCASEUSER" else value


def magic_command(key: str) -> str:
    """`parseCommandFromMagicEnvVariable`, shared.php l.1686-1712 at COMMIT (counts underscores)."""
    rest = key.removeprefix("SERVICE_")
    count = key.count("_")
    if count == 2 or (count == 3 and not key.startswith(("SERVICE_FQDN", "SERVICE_URL"))):
        return rest.rpartition("_")[0]
    if count == 3:
        return rest.partition("_")[0]
    return ""


def key_value_environment(environment: Any) -> dict[str, Any]:
    """`convertToKeyValueCollection`, shared.php l.4057-4095 at COMMIT: list or map → map."""
    if isinstance(environment, dict):
        return dict(environment)
    pairs: dict[str, Any] = {}
    for item in environment or []:
        if isinstance(item, str):
            key, _, value = item.partition("=")
            if key:
                pairs[key] = value
    return pairs


def split_operator(content: str) -> tuple[str, str, str] | None:
    """`splitOnOperatorOutsideNested`, services.php l.71-97 at COMMIT: (name, operator, default)."""
    depth = 0
    for index, char in enumerate(content):
        depth += (char == "{") - (char == "}")
        if depth == 0 and char not in "{}":
            for operator in (":-", "-", ":?", "?"):
                if content.startswith(operator, index):
                    return content[:index], operator, content[index + len(operator) :]
    return None


def brace_content(value: str) -> str | None:
    """`extractBalancedBraceContent`, services.php l.28-64 at COMMIT: inside the first `{...}`."""
    start = value.find("{")
    if start < 0:
        return None
    depth = 0
    for index in range(start, len(value)):
        depth += (value[index] == "{") - (value[index] == "}")
        if depth == 0:
            return value[start + 1 : index]
    return None


def replace_variables(value: str) -> str:
    """`replaceVariables`, services.php l.99-137 at COMMIT: `${X}` / `{X}` / `$X` → `X`."""
    if value.startswith("${"):
        content = brace_content(value)
        return content if content is not None else value.split("}")[0].replace("${", "", 1)
    if value.startswith("{"):
        content = brace_content("$" + value)
        return content if content is not None else value[1:].split("}")[0]
    return value.removeprefix("$")


def parse_service(
    compose_text: str,
    uuid: str,
    wildcard_domain: str,
    values: Mapping[str, str] | None = None,
) -> Parsed:
    """`serviceParser` (parsers.php l.1546) then `saveComposeConfigs` (Service.php l.1585).

    `wildcard_domain` is the server's wildcard URL (`http://apps.example.com`), or its sslip form
    `http://<ip>.sslip.io` that `generateUrl` falls back to (shared.php l.1262-1317). `values` are
    what the user typed into Coolify's variables; `firstOrCreate` keeps them, `updateOrCreate` not.
    """
    values = dict(values or {})
    try:
        document = yaml.load(compose_text, Loader=_SymfonyYaml)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as error:
        raise Rejected(
            f"YAML error: Coolify's parser returns nothing (l.1563-1567): {error}"
        ) from error
    services: dict[str, Any] = document.get("services") or {}
    # l.1581-1597: top-level volumes with no body are dropped; everything else at the top is lost.
    top: dict[str, dict[str, Any]] = {
        section: dict(document.get(section) or {})
        for section in ("volumes", "networks", "configs", "secrets")
    }
    top["volumes"] = {name: body for name, body in top["volumes"].items() if body is not None}
    variables: dict[str, Variable] = {}
    domains: dict[str, Domain] = {}

    def first_or_create(key: str, value: str | None, required: bool = False) -> Variable:
        if key not in variables:
            variables[key] = Variable(key, values.get(key, value), required)
        return variables[key]

    def update_or_create(key: str, value: str | None) -> None:
        old = variables.get(key)
        variables[key] = Variable(key, value, old.required if old else False)

    url = urlsplit(wildcard_domain)
    path = "" if url.path == "/" else url.path
    service_names = {
        # generateDockerComposeServiceName, shared.php l.4388-4396
        "SERVICE_NAME_" + name.replace("-", "_").replace(".", "_").upper(): name
        for name in services
    }

    # Magic variables, first pass over every service (l.1714-2017).
    all_magic: dict[str, str] = {}
    for name, service in services.items():
        environment = key_value_environment(service.get("environment"))
        magic: dict[str, str] = {}
        for key, value in environment.items():
            for match in _MAGIC_REFERENCE.finditer(str(value or "")):
                if match.group(2).startswith("SERVICE_"):
                    magic.setdefault(match.group(2), "")
            if not key.startswith(("SERVICE_FQDN_", "SERVICE_URL_")):
                continue
            # Key form (l.1774-1880): the domain goes to the service whose environment holds it.
            body = key.removeprefix("SERVICE_FQDN_").removeprefix("SERVICE_URL_")
            last = key.rpartition("_")[2]
            port = last if re.fullmatch("[0-9]+", last) else None  # parseServiceEnvironmentVariable
            label = body.rpartition("_")[0] or body if port else body
            if name in domains:
                # l.1806-1810: a second key in the same service reuses the saved domain.
                address = domains[name].url
                host = address.partition("://")[2]
            else:
                host = f"{label.lower()}-{uuid}.{url.hostname}{path}"
                address = f"{url.scheme}://{host}"
            if isinstance(value, str) and value.startswith("/") and value != "/":
                host, address = host + value, address + value  # l.1823-1836: a path value
            domains.setdefault(name, Domain(address, int(port) if port else None))
            update_or_create(f"SERVICE_FQDN_{label}", host)
            update_or_create(f"SERVICE_URL_{label}", address)
            if port:
                update_or_create(f"SERVICE_FQDN_{label}_{port}", f"{host}:{port}")
                update_or_create(f"SERVICE_URL_{label}_{port}", f"{address}:{port}")
        all_magic |= magic
        for key in magic:
            command = magic_command(key)
            if command in ("FQDN", "URL"):
                # Value-only references (l.1883-1979): the pair, and a domain if the name is this
                # service's and no key-form variable gave it one.
                of = key.removeprefix(f"SERVICE_{command}_").lower()
                host = f"{of.replace('_', '-')}-{uuid}.{url.hostname}{path}"
                address = f"{url.scheme}://{host}"
                known = key in variables or any(
                    re.fullmatch(re.escape(key) + r"_[0-9]+", other) for other in variables
                )
                if not known and of.replace("_", "-") == name.lower() and name not in domains:
                    domains[name] = Domain(address, None)
                first_or_create(key, host if command == "FQDN" else address)
                first_or_create(
                    f"SERVICE_{'URL' if command == 'FQDN' else 'FQDN'}_{of.upper()}",
                    address if command == "FQDN" else host,
                )
            else:
                first_or_create(key, generate_value(command))

    # Everything else, second pass (l.2022-2743).
    binds: list[LocalFileVolume] = []
    parsed_services: dict[str, Any] = {}
    last_mode: str | None = None  # `$parsed['mode']` outlives its volume (l.2239-2241)
    for name, service in services.items():
        container_name = f"{name}-{uuid}"  # l.2080
        environment = key_value_environment(service.get("environment"))
        volumes: list[Any] = []
        for volume in service.get("volumes") or []:
            if isinstance(volume, str):
                source, target, last_mode = parse_volume_string(volume)
                kind = "bind" if source_is_local(source or "") else "volume"
                is_directory = True  # l.2146: a string bind is taken for a directory
            else:
                kind, source, target = (
                    volume.get("type"),
                    volume.get("source"),
                    volume.get("target"),
                )
                content = volume.get("content")
                is_directory = bool(volume.get("isDirectory")) or bool(volume.get("is_directory"))
                is_directory = is_directory or content is None  # l.2187-2192
                prefix = "Invalid Docker volume definition (array syntax)"
                if source and not any(
                    rx.match(source) for rx in (_SIMPLE_VAR, _VAR_WITH_DEFAULT, _VAR_WITH_PATH)
                ):
                    _shell_safe(source, "volume source", prefix)
                if target:
                    _shell_safe(target, "volume target", prefix)
            mode = f":{last_mode}" if last_mode else ""
            if kind == "bind":
                # l.2198-2243: every bind becomes a short string; long-syntax options are lost.
                if source not in ("/var/run/docker.sock", "/tmp", "/tmp/"):
                    source = replace_local_source(source or "", f"{SERVICES_DIR}/{uuid}")
                    binds.append(LocalFileVolume(source, target, is_directory))
                volumes.append(f"{source}:{target or ''}{mode}")
            elif kind == "volume":
                driver = (top["volumes"].get(source or "") or {}).get("driver_opts", {}) or {}
                if driver.get("type") in ("cifs", "nfs"):
                    continue  # l.2246-2254: skipped, so the mount leaves the service
                renamed = f"{uuid}_{slug(source or '')}"
                if isinstance(volume, str):
                    volumes.append(f"{renamed}:{target}{mode}")
                else:
                    volumes.append({**volume, "source": renamed})
                top["volumes"][renamed] = {"name": renamed}
            else:
                volumes.append(volume)
        for volume in volumes:
            if isinstance(volume, dict):
                for extra in ("content", "isDirectory", "is_directory"):
                    volume.pop(extra, None)

        networks: dict[str, Any] = {}
        if "network_mode" not in service:
            listed = service.get("networks") or []
            # l.2293-2305 adds each top-level network to the service with a null body, and the
            # loop at l.2333-2346 keeps only string items and map bodies: those are dropped again.
            for entry, body in listed.items() if isinstance(listed, dict) else enumerate(listed):
                if isinstance(body, str):
                    networks[body] = None
                elif isinstance(body, dict):
                    networks[str(entry)] = body
            networks[uuid] = None
            top["networks"][uuid] = {"name": uuid, "external": True}  # l.2307-2316

        # Normal variables (l.2358-2552).
        for key, value in list(environment.items()):
            if key in all_magic or str(value).startswith("SERVICE_"):
                continue
            text = "" if value is None else str(value)
            if replace_variables(text).startswith("SERVICE_"):
                update_or_create(key, text)
                continue
            if not text.startswith("$"):
                continue  # a literal: no variable, Compose interpolates it from .env
            if key == replace_variables(text):
                first_or_create(key, None)  # `K: ${K}` stays for Compose to read from .env
                continue
            content = brace_content(text)
            split = split_operator(content) if content is not None else None
            if split:
                variable, operator, default = split
                created = first_or_create(variable, default, "?" in operator)
                environment[variable] = created.value
            else:
                reference = content if content is not None else replace_variables(text)
                environment[reference] = first_or_create(reference, None).value

        injected: dict[str, str] = {}
        if "COOLIFY_RESOURCE_UUID" not in variables:
            injected["COOLIFY_RESOURCE_UUID"] = uuid  # l.2555-2557
        if "COOLIFY_CONTAINER_NAME" not in variables:
            injected["COOLIFY_CONTAINER_NAME"] = container_name  # l.2560-2562
        if name in domains:  # l.2585-2588
            injected["COOLIFY_FQDN"] = domains[name].url.partition("://")[2]
            injected["COOLIFY_URL"] = domains[name].url
        kept: dict[str, Any] = {}
        for key, value in environment.items():
            if key.startswith("SERVICE_FQDN_"):
                continue  # l.2592-2595
            if value == "" and key in variables and variables[key].value:
                value = variables[key].value  # l.2600-2606: an empty value takes the variable's
            kept[key] = value

        payload = {
            **service,
            "container_name": container_name,
            "restart": RESTART_MODE if service.get("restart") is None else str(service["restart"]),
            "labels": _labels(service.get("labels")),
        }
        payload.pop("exclude_from_hc", None)
        if "network_mode" not in service:
            payload["networks"] = networks
        if volumes:
            payload["volumes"] = volumes
        if kept or injected:
            payload["environment"] = kept | injected | service_names
        env_files = service.get("env_file")
        env_files = (
            [] if env_files is None else env_files if isinstance(env_files, list) else [env_files]
        )
        payload["env_file"] = list(dict.fromkeys([*env_files, ".env"]))  # l.2743-2751
        parsed_services[name] = payload

    # l.2758-2776: services first, then only non-empty sections.
    compose: dict[str, Any] = {"services": parsed_services}
    compose |= {section: body for section, body in top.items() if body}
    missing = [key for key, variable in variables.items() if variable.missing]
    return Parsed(compose, _env_file(service_names, variables), variables, binds, domains, missing)


def _labels(labels: Any) -> list[str]:
    """User labels as `key=value` strings (l.2040-2048); Coolify's own labels are not ported."""
    if isinstance(labels, dict):
        return [f"{key}={value}" for key, value in labels.items()]
    return list(labels or [])


def _env_file(service_names: Mapping[str, str], variables: Mapping[str, Variable]) -> str:
    """The `.env` of `saveComposeConfigs`, app/Models/Service.php l.1608-1640 at COMMIT."""

    def order(variable: Variable) -> int:
        if variable.key.startswith("SERVICE_"):
            return 1
        return 2 if (variable.value or "").startswith(("$SERVICE_", "${SERVICE_")) else 3

    lines = [f"{key}={value}" for key, value in service_names.items()]
    for variable in sorted(variables.values(), key=order):
        # real_value (EnvironmentVariable.php l.181-218): escapeEnvVariables, docker.php l.1516.
        value = variable.value or ""
        for char, escaped in (("\\", "\\\\"), ("\r", "\\r"), ("\t", "\\t"), ("\0", "\\0")):
            value = value.replace(char, escaped)
        value = value.replace('"', '\\"').replace("'", "\\'")
        lines.append(f"{variable.key}={value}")
    return "\n".join(lines)
