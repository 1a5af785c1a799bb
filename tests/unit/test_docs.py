"""Documentation stays true: variables, roadmap against tasklist, tests named in the tasklist."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

from controlplane.config import SETTINGS
from controlplane.layout import DataLayout
from controlplane.web.openapi import build_openapi
from controlplane.web.routes import ENDPOINTS

ROOT = Path(__file__).parents[2]
VARIABLE = re.compile(r"\bWHARF_[A-Z][A-Z0-9_]*")
STATUSES = {"✅", "🟡", "🔜", "❓", "🧪"}
TEST_REFERENCE = re.compile(r"`((?:tests|bench)/[\w/]+\.py)(?:::(\w+))?`")


def _code_files() -> list[Path]:
    files = [ROOT / "Makefile", ROOT / ".ci" / "run"]
    for folder in ("controlplane", "edge", "tests", "bench"):
        files.extend(sorted((ROOT / folder).rglob("*.py")))
    return files


def test_docs_every_variable_is_documented() -> None:
    read = {setting.env for setting in SETTINGS}
    for path in _code_files():
        read |= set(VARIABLE.findall(path.read_text()))
    documented = set(VARIABLE.findall((ROOT / "docs" / "configuration.md").read_text()))
    assert read - documented == set(), "read in the code but not documented"
    assert documented - read == set(), "documented but never read"


def test_docs_configuration_defaults_match_the_code() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for setting in SETTINGS:
        row = re.search(rf"^\| `{setting.env}` \| `{setting.flag}` \| ([^|]+) \|", text, re.M)
        assert row, setting.env
        expected = f"`{setting.default}`" if setting.default else "unset"
        assert row[1].strip() == expected, setting.env


def _roadmap_rows() -> dict[str, str]:
    rows = {}
    for line in (ROOT / "docs" / "roadmap.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[1] in STATUSES:
            rows[cells[0]] = cells[1]
    return rows


def _tasklist_sections() -> dict[str, list[tuple[bool, str]]]:
    sections: dict[str, list[tuple[bool, str]]] = {}
    current = None
    for line in (ROOT / "tasklist.md").read_text().splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
        elif current and (match := re.match(r"- \[([ x])\] (.+)", line)):
            sections[current].append((match[1] == "x", match[2]))
    return sections


def test_docs_roadmap_matches_tasklist() -> None:
    roadmap = _roadmap_rows()
    tasks = _tasklist_sections()
    assert len(roadmap) > 40
    assert set(roadmap) == set(tasks)
    for name, status in roadmap.items():
        done = [checked for checked, _ in tasks[name]]
        assert done, f"{name}: no items"
        if all(done):
            assert status == "✅", name
        elif any(done):
            assert status == "🟡", name
        else:
            assert status in {"🔜", "❓", "🧪"}, name


def test_docs_tasklist_items_name_existing_tests() -> None:
    for section, items in _tasklist_sections().items():
        for checked, text in items:
            if not checked:
                continue
            references = TEST_REFERENCE.findall(text)
            assert references, f"{section}: {text!r} names no test"
            for path, test_name in references:
                source = (ROOT / path).read_text()
                if test_name:
                    assert re.search(rf"def {test_name}\(", source), f"{path}::{test_name}"


def test_docs_pages_exist_and_are_linked() -> None:
    readme = (ROOT / "README.md").read_text()
    for page in (
        "architecture",
        "install",
        "configuration",
        "api",
        "contributing",
        "roadmap",
        "security",
        "admin-ui",
    ):
        assert (ROOT / "docs" / f"{page}.md").is_file(), page
        assert f"docs/{page}.md" in readme, page


def test_docs_readme_quick_start_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\s*(make \w+)\s*$", quick_start, re.M)
    assert commands == ["make run", "make test"]


def test_docs_api_reference_names_every_endpoint() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    for endpoint in ENDPOINTS:
        assert re.search(rf"^.*\b{endpoint.method}\b.*{re.escape(endpoint.path)}", text, re.M), (
            f"{endpoint.method} {endpoint.path}"
        )
    assert "curl" in text


def test_docs_make_test_runs_every_gate() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: lint typecheck pytest$", makefile, re.M)
    for command in ("ruff check", "ruff format --check", "mypy controlplane edge", "pytest --cov"):
        assert command in makefile, command
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert int(config["coverage:report"]["fail_under"]) >= 85
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_docs_architecture_module_table_lists_every_module() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = text[text.index("## Inside the control plane") : text.index("## Data flow")]
    listed = set(re.findall(r"^\| `([\w/]+(?:\.py|/))` \|", table, re.M))
    package = ROOT / "controlplane"
    modules = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "__init__.py"
    }
    folders = {name for name in listed if name.endswith("/")}  # a folder row covers its modules
    unlisted = {m for m in modules if m not in listed and not m.startswith(tuple(folders))}
    assert unlisted == set(), "add these to docs/architecture.md's module table"
    stale = {name for name in listed - folders if name not in modules}
    assert stale == set(), "these rows name modules that no longer exist"


def test_docs_files_on_disk_lists_exactly_the_data_layout() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("## Files on disk") :]
    tree = section[section.index("```\n$WHARF_DATA_DIR/") : section.index("```\n\n", 10)]
    documented = set(re.findall(r"[├└]── (\S+?)/?(?:\s|$)", tree))
    root = Path("/data")
    defined = {str(path.relative_to(root)) for path in DataLayout(root).entries().values()}
    # pg.lock sits beside pg/ (runtime/embedded_database.py)
    assert documented == defined | {"pg.lock"}


def test_docs_openapi_json_is_the_document_the_server_serves() -> None:
    """docs/openapi.json is what GET /api/v1/openapi.json answers (`make openapi` writes it),
    and the API page links it."""
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(build_openapi(ENDPOINTS))), "run make openapi"
    assert "](openapi.json)" in (ROOT / "docs" / "api.md").read_text()
