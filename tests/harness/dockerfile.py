"""The Dockerfile and .dockerignore read as data, to replay the image's build without Docker."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case) and the rest of its (joined) lines."""

    keyword: str
    arguments: str


@dataclass
class Stage:
    """The instructions from one FROM to the next."""

    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        """The arguments of every instruction with that keyword, in order."""
        return [each.arguments for each in self.instructions if each.keyword == keyword]

    def env(self) -> dict[str, str]:
        """The stage's ENV as a mapping (KEY=value form only)."""
        values: dict[str, str] = {}
        for arguments in self.all("ENV"):
            for pair in shlex.split(arguments):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined and comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        found.append(Instruction(keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return found


def stages(text: str) -> list[Stage]:
    """The build stages of a Dockerfile, in order."""
    result: list[Stage] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(words[0], name))
        elif result:
            result[-1].instructions.append(instruction)
    return result


def _pattern(rule: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex over a slash-separated relative path."""
    out = ""
    index = 0
    while index < len(rule):
        if rule.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
        elif rule.startswith("**", index):
            out += ".*"
            index += 2
        elif rule[index] == "*":
            out += "[^/]*"
            index += 1
        elif rule[index] == "?":
            out += "[^/]"
            index += 1
        elif rule[index] == "[":
            end = rule.index("]", index)
            out += rule[index : end + 1]
            index = end + 1
        else:
            out += re.escape(rule[index])
            index += 1
    return re.compile(out + r"\Z")


def ignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """The rules of a .dockerignore: (is an exception "!", pattern), in order."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, _pattern(line.lstrip("!").strip("/"))))
    return rules


def ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path, or a folder above it, decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: count + 1]) for count in range(len(parts))]
    verdict = False
    for negated, pattern in rules:
        if any(pattern.match(prefix) for prefix in prefixes):
            verdict = not negated
    return verdict


def build_context(source: Path, target: Path) -> list[str]:
    """Copy what `docker build source` would send (its .dockerignore applied) into target;
    the relative paths copied."""
    ignore_file = source / ".dockerignore"
    rules = ignore_rules(ignore_file.read_text()) if ignore_file.exists() else []
    copied: list[str] = []
    for folder, folders, files in os.walk(source):
        relative_folder = Path(folder).relative_to(source)
        # Never walk what no exception could bring back (Docker reads it, this is only faster).
        folders[:] = [name for name in folders if name not in (".git", ".venv", "node_modules")]
        for name in files:
            relative = (relative_folder / name).as_posix()
            if ignored(relative, rules) or (Path(folder) / name).is_symlink():
                continue
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(folder) / name, target / relative)
            copied.append(relative)
    return sorted(copied)
