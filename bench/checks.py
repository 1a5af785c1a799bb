"""Release checks benchmark: a real MkDocs Material site of 105 pages and 338 files, checked.

Installs mkdocs-material from PyPI into a venv of its own (wharf-bench/ under $XDG_CACHE_HOME,
default ~/.cache) the first time, generates the Markdown of 105 pages (sections, relative links
between pages, images, code), builds it with `mkdocs build`, adds images until the output has
338 files, builds that into a release as the pipeline does (site/, manifest.json, rules.json),
then times `check_release` on it. The reference, timed in the same run, is reading every HTML
page and running the standard library's HTML tokenizer over it with nothing else: the ratio says
what finding, resolving and asking the edge about every link costs on top. The site must check
clean. Run it with `.venv/bin/python bench/checks.py`; it prints a table and exits non-zero when
the checks take 2 s or more, or find a problem.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

# Python puts this folder first on the path, where bench/edge.py would hide the `edge` package
# the checks import: take it off before importing them.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from controlplane.deploys.release_checks import CheckOptions, check_release  # noqa: E402
from controlplane.deploys.release_tree import BuildOptions, build_release  # noqa: E402
from controlplane.deploys.site_rules import parse_site_rules, rules_document  # noqa: E402

PAGES = 105
FILES = 338
TARGET_SECONDS = 2.0
ROUNDS = 5
MATERIAL = "mkdocs-material>=9.5,<10"
DEPLOY = "0123456789ab"
WORDS = ["wharf", "release", "deploy", "static", "site", "edge", "traefik", "symlink", "link"]


def mkdocs() -> Path:
    """The mkdocs executable of the bench's own venv, made and filled on first use."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wharf-bench"
    venv = cache / "mkdocs-material"
    executable = venv / "bin" / "mkdocs"
    if not executable.exists():
        print(f"installing {MATERIAL} into {venv} …", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", MATERIAL], check=True)
    return executable


def write_sources(root: Path, images: int) -> None:
    """mkdocs.yml and 105 pages in 8 sections, each linking to others and showing images."""
    rng = random.Random(7)
    docs = root / "docs"
    pages = ["index.md"] + [f"section-{s}/page-{p}.md" for s in range(8) for p in range(13)]
    pages = pages[:PAGES]
    pictures = [f"images/figure-{n}.png" for n in range(images)]
    for number, page in enumerate(pages):
        path = docs / page
        path.parent.mkdir(parents=True, exist_ok=True)
        here = os.path.dirname(page) or "."
        parts = [f"# Page {number}\n"]
        for part in range(4):
            other = rng.choice(pages)
            words = " ".join(rng.choice(WORDS) for _ in range(60))
            parts.append(
                f"## Part {part}\n\n{words}. See [{other}]({os.path.relpath(other, here)}).\n"
            )
            if pictures:
                picture = pictures[(number * 4 + part) % len(pictures)]
                parts.append(f"![figure]({os.path.relpath(picture, here)})\n")
            parts.append(f'```python\nprint("hello from part {part}")\n```\n')
        path.write_text("\n".join(parts))
    (docs / "images").mkdir(exist_ok=True)
    for picture in pictures:
        (docs / picture).write_bytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(200))
    (root / "mkdocs.yml").write_text(
        "site_name: Wharf bench docs\nsite_url: https://docs.example.com/\n"
        "theme:\n  name: material\n"
        "  features: [navigation.sections, navigation.top, search.suggest]\n"
        "markdown_extensions: [admonition, pymdownx.highlight, pymdownx.superfences]\n"
    )


def build_site(executable: Path, work: Path) -> tuple[Path, float]:
    """Build the MkDocs site with exactly FILES files; its folder and the last build's time."""
    source, output = work / "source", work / "output"
    images, seconds = 0, 0.0
    for _ in range(3):
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(output, ignore_errors=True)
        write_sources(source, images)
        started = time.perf_counter()
        subprocess.run(
            [str(executable), "build", "--quiet", "--site-dir", str(output)],
            cwd=source,
            check=True,
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        )
        seconds = time.perf_counter() - started
        count = sum(1 for path in output.rglob("*") if path.is_file())
        if count == FILES:
            return output, seconds
        images += FILES - count  # every image is one more file of the output
    raise SystemExit(f"could not make a site of {FILES} files (last: {count})")


def install(site: Path, release: Path) -> None:
    """The release as the pipeline builds it: site/, manifest.json and rules.json."""
    release.mkdir(parents=True)
    build_release(
        site, release / "site", BuildOptions(minify=False), manifest=release / "manifest.json"
    )
    (release / "rules.json").write_text(json.dumps(rules_document(parse_site_rules(site))))


def tokenize_only(site: Path) -> int:
    """Read every HTML page and run the tokenizer over it, doing nothing with it (reference)."""
    pages = 0
    for path in site.rglob("*.html"):
        parser = HTMLParser(convert_charrefs=True)
        parser.feed(path.read_bytes().decode("utf-8", "replace"))
        parser.close()
        pages += 1
    return pages


def best(action: Callable[[], object]) -> float:
    """The fastest of ROUNDS timed runs."""
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> int:
    """Build the site, time the reference and the checks, print the table."""
    executable = mkdocs()
    with tempfile.TemporaryDirectory(prefix="wharf-bench-checks-") as temp:
        work = Path(temp)
        site, build_seconds = build_site(executable, work)
        pages = sum(1 for _ in site.rglob("*.html"))
        release = work / "data" / "releases" / "docs" / DEPLOY
        install(site, release)
        options = CheckOptions("docs", DEPLOY, f"{DEPLOY}--docs.localhost")
        report = check_release(release, options)
        reference = best(lambda: tokenize_only(release / "site"))
        checks = best(lambda: check_release(release, options))
    python = executable.with_name("python")
    version = subprocess.run(
        [str(python), "-c", "import material; print(material.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"Release checks of a MkDocs Material {version} site")
    print(f"{FILES} files, {pages} HTML pages, {report.links:,} internal links checked")
    print(f"(best of {ROUNDS}; the reference is reading and tokenizing every page, nothing else)")
    print()
    print(f"{'step':<40} {'seconds':>8} {'vs reference':>13} {'target':>8}")
    rows = [
        ("mkdocs build (for scale)", build_seconds, None),
        ("reference: read and tokenize the pages", reference, None),
        ("check_release", checks, TARGET_SECONDS),
    ]
    for name, seconds, target in rows:
        met = "" if target is None else ("met" if seconds < target else "MISSED")
        print(f"{name:<40} {seconds:>8.3f} {seconds / reference:>12.2f}x {met:>8}")
    print()
    print(f"checks: {report.summary()}")
    for problem in report.problems[:20]:
        print(
            f"  {problem.severity}: {problem.page}:{problem.line} {problem.link} {problem.answer}"
        )
    return 0 if checks < TARGET_SECONDS and report.status == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
