"""Build steps: site-root choice, minification, precompression, manifest and content types."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import re
import stat
from pathlib import Path

import brotli  # type: ignore[import-untyped]
import pytest

from controlplane.deploys.release_tree import (
    MANIFEST_NAME,
    SSG_OUTPUT_DIRS,
    BuildOptions,
    build_release,
    content_type_for,
    find_site_root,
)
from controlplane.errors import Invalid
from tests.sites import write_site

WORDS = ["wharf", "static", "site", "release", "deploy", "edge", "build", "harbour", "crane"]


def _words(n: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _files_on_disk(dest: Path) -> set[str]:
    return {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}


HTML = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n'
    "  <title>Harbour</title>\n</head>\n<body>\n  <main>\n"
    + "".join(
        f"    <section>\n      <h2>Part {i}</h2>\n      <p>\n        {_words(40, i)}\n"
        "      </p>\n    </section>\n"
        for i in range(12)
    )
    + "  </main>\n</body>\n</html>\n"
)
CSS = "".join(
    f"/* block {i} */\n.card-{i}  >  .title ,\n.card-{i}:hover {{\n    color : #{i:06x} ;\n"
    f"    margin : {i}px  {i}px ;\n}}\n\n"
    for i in range(40)
)
JS = "".join(
    f"// helper number {i}: {_words(8, i)}\nfunction helper{i}(element, options) {{\n"
    f'    var value = options.name || "{_words(3, i)}";\n    if (value.length > {i}) {{\n'
    f'        return element.querySelector(".item-{i}");\n    }}\n    return null;\n}}\n\n'
    for i in range(30)
)


# --- find_site_root ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "root", "reason"),
    [
        (["my-site/index.html"], "my-site", "single top-level folder 'my-site/'"),
        (["a/b/c/index.html", "a/b/c/x.css"], "a/b/c", "single top-level folder 'a/b/c/'"),
        (
            ["__MACOSX/site/._index.html", ".DS_Store", "site/index.html", "site/Thumbs.db"],
            "site",
            "single top-level folder 'site/'",
        ),
        (["index.html", "assets/app.js"], ".", "index.html at the archive root"),
        (["index.html", "dist/index.html"], ".", "index.html at the archive root"),
        (["dist/index.html", "build/index.html", "x.md"], "dist", "SSG output folder 'dist/'"),
        (["proj/package.json", "proj/out/index.html"], "proj/out", "SSG output folder 'proj/out/'"),
        (["a.txt", "dist/app.js"], ".", "the archive root (no index.html found)"),
        (["w/docs/a.html", "w/b.txt"], "w", "single top-level folder 'w/' (no index.html found)"),
        (["only/deep/file.txt"], "only/deep", "(no index.html found)"),
    ],
)
def test_build_site_root_choice(tmp_path: Path, files: list[str], root: str, reason: str) -> None:
    write_site(tmp_path, dict.fromkeys(files, "x"))
    chosen = find_site_root(tmp_path)
    assert chosen.path == tmp_path / root
    assert reason in chosen.reason


@pytest.mark.parametrize("ssg", SSG_OUTPUT_DIRS)
def test_build_site_root_finds_each_ssg_output_dir(tmp_path: Path, ssg: str) -> None:
    write_site(tmp_path, {"README.md": "x", "src/index.md": "x", f"{ssg}/index.html": "x"})
    chosen = find_site_root(tmp_path)
    assert chosen.path == tmp_path / ssg
    assert chosen.reason == f"SSG output folder '{ssg}/'"


@pytest.mark.parametrize(
    ("explicit", "root"),
    [("docs", "docs"), ("docs/", "docs"), ("./docs/v1", "docs/v1"), (".", ".")],
)
def test_build_site_root_explicit(tmp_path: Path, explicit: str, root: str) -> None:
    write_site(tmp_path, {"index.html": "x", "docs/index.html": "x", "docs/v1/a.html": "x"})
    chosen = find_site_root(tmp_path, explicit)
    assert chosen.path == tmp_path / root
    assert chosen.reason.startswith("explicit root '")


def test_build_site_root_explicit_inside_single_wrapper_folder(tmp_path: Path) -> None:
    write_site(tmp_path, {"wrap/docs/index.html": "x", "wrap/README.md": "x"})
    chosen = find_site_root(tmp_path, "docs")
    assert chosen.path == tmp_path / "wrap" / "docs"
    assert "inside single top-level folder 'wrap/'" in chosen.reason


@pytest.mark.parametrize(
    "explicit",
    ["../outside", "/etc", "docs/../../x", "..", "missing", "index.html", "C:/docs", "a\\b", "lnk"],
)
def test_build_site_root_explicit_rejected(tmp_path: Path, explicit: str) -> None:
    extracted = write_site(tmp_path / "x", {"index.html": "x", "docs/index.html": "x"})
    write_site(tmp_path, {"outside/index.html": "x"})
    (extracted / "lnk").symlink_to(tmp_path / "outside")
    with pytest.raises(Invalid) as error:
        find_site_root(extracted, explicit)
    assert error.value.code == "invalid_root"


@pytest.mark.parametrize(
    "files", [[], ["__MACOSX/._a", ".DS_Store"], ["wrap/.DS_Store"], ["empty/"]]
)
def test_build_site_root_nothing_to_publish(tmp_path: Path, files: list[str]) -> None:
    for rel in files:
        if rel.endswith("/"):
            (tmp_path / rel).mkdir(parents=True)
        else:
            write_site(tmp_path, {rel: "x"})
    with pytest.raises(Invalid) as error:
        find_site_root(tmp_path)
    assert error.value.code == "no_site_root"


# --- build_release: minification -----------------------------------------------------------------


def test_build_minifies_html_css_js_keeping_what_they_say(tmp_path: Path) -> None:
    src = write_site(tmp_path / "src", {"index.html": HTML, "css/site.css": CSS, "js/app.js": JS})
    result = build_release(src, tmp_path / "out", BuildOptions(precompress=False))
    out = tmp_path / "out"
    html, css, js = ((out / p).read_text() for p in ("index.html", "css/site.css", "js/app.js"))
    assert len(html) < len(HTML) and len(css) < len(CSS) and len(js) < len(JS)
    assert result.minified == 3
    assert result.bytes_saved_by_minify == len(HTML) + len(CSS) + len(JS) - len(html + css + js)
    # The text survives, word for word; every rule and every function is still there.
    text = re.sub(r"<[^>]+>", " ", html).split()
    assert text == re.sub(r"<[^>]+>", " ", HTML).split()
    assert re.findall(r"\.card-\d+", css) == re.findall(r"\.card-\d+", CSS)
    assert re.findall(r"function (\w+)", js) == re.findall(r"function (\w+)", JS)
    assert "color:#000001" in css and "/* block" not in css


def test_build_html_keeps_visible_space_between_inline_elements(tmp_path: Path) -> None:
    # minify-html would print "OneTwo" (wilsonzlin/minify-html#207): the page is kept as is.
    page = "<!doctype html>\n<div>\n  <a href=/1>One</a>\n  <a href=/2>Two</a>\n</div>\n"
    src = write_site(tmp_path / "src", {"nav.html": page})
    result = build_release(src, tmp_path / "out", BuildOptions())
    assert (tmp_path / "out" / "nav.html").read_text() == page
    assert result.minified == 0
    assert any("nav.html as is" in line and "visible space" in line for line in result.log)


def test_build_js_with_syntax_rjsmin_breaks_is_kept(tmp_path: Path) -> None:
    private = "class A {\n  #a = null\n  #b = 1\n}\n" * 20
    template = "const u = `${`https://example.test/${x}`}`;\nvar   y  =  1;\n" * 20
    src = write_site(tmp_path / "src", {"private.js": private, "template.mjs": template})
    result = build_release(src, tmp_path / "out", BuildOptions(precompress=False))
    assert (tmp_path / "out" / "private.js").read_text() == private
    assert (tmp_path / "out" / "template.mjs").read_text() == template
    assert result.minified == 0


def test_build_file_a_minifier_chokes_on_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def choke(data: bytes, keep_bang_comments: bool = False) -> bytes:
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr("rcssmin.cssmin", choke)
    latin1 = "<p>caf\xe9   au   lait</p>\n".encode("latin-1") * 10
    src = write_site(tmp_path / "src", {"a.css": CSS, "latin1.html": latin1, "ok.js": JS})
    result = build_release(src, tmp_path / "out", BuildOptions(precompress=False))
    assert (tmp_path / "out" / "a.css").read_text() == CSS
    assert (tmp_path / "out" / "latin1.html").read_bytes() == latin1
    assert result.minified == 1  # ok.js
    assert any("a.css as is" in line and "tokenizer exploded" in line for line in result.log)
    assert any("latin1.html as is" in line for line in result.log)


def test_build_already_minified_names_are_not_minified(tmp_path: Path) -> None:
    src = write_site(tmp_path / "src", {"lib.min.js": JS, "lib.min.css": CSS})
    result = build_release(src, tmp_path / "out", BuildOptions())
    assert (tmp_path / "out" / "lib.min.js").read_text() == JS
    assert (tmp_path / "out" / "lib.min.css").read_text() == CSS
    assert result.minified == 0


def test_build_minify_false_copies_bytes_exactly(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {"index.html": HTML, "a.css": CSS, "b.js": JS}
    src = write_site(tmp_path / "src", files)
    result = build_release(src, tmp_path / "out", BuildOptions(minify=False, precompress=False))
    for rel, body in files.items():
        assert (tmp_path / "out" / rel).read_text() == body
    assert (result.minified, result.bytes_saved_by_minify) == (0, 0)


# --- build_release: precompression ---------------------------------------------------------------


def test_build_variants_decompress_to_the_file(tmp_path: Path) -> None:
    data = json.dumps({"words": [_words(5, i) for i in range(100)]})
    svg = "<svg xmlns='http://www.w3.org/2000/svg'>" + "<g><rect/></g>" * 200 + "</svg>"
    files: dict[str, str | bytes] = {
        "index.html": HTML, "a.css": CSS, "b.js": JS, "d.json": data, "e.svg": svg,
    }  # fmt: skip
    src = write_site(tmp_path / "src", files)
    result = build_release(src, tmp_path / "out", BuildOptions())
    assert result.precompressed == len(files)
    for rel in files:
        body = (tmp_path / "out" / rel).read_bytes()
        assert brotli.decompress((tmp_path / "out" / f"{rel}.br").read_bytes()) == body
        assert gzip.decompress((tmp_path / "out" / f"{rel}.gz").read_bytes()) == body


def test_build_no_variants_for_tiny_incompressible_or_binary_files(tmp_path: Path) -> None:
    noise = random.Random(3).randbytes(4096)
    files: dict[str, str | bytes] = {
        "tiny.css": "a{b:c}",
        "noise.txt": noise,
        "zeros.png": bytes(8192),
        "font.woff2": bytes(8192),
        "old.js.gz": gzip.compress(JS.encode()),
    }
    src = write_site(tmp_path / "src", files)
    result = build_release(src, tmp_path / "out", BuildOptions())
    assert _files_on_disk(tmp_path / "out") == set(files) | {MANIFEST_NAME}
    assert result.precompressed == 0


def test_build_uploaded_variant_wins(tmp_path: Path) -> None:
    src = write_site(tmp_path / "src", {"app.js": JS, "app.js.br": b"uploaded"})
    build_release(src, tmp_path / "out", BuildOptions(minify=False))
    assert (tmp_path / "out" / "app.js.br").read_bytes() == b"uploaded"
    assert gzip.decompress((tmp_path / "out" / "app.js.gz").read_bytes()) == JS.encode()


def test_build_precompress_false_writes_no_variants(tmp_path: Path) -> None:
    src = write_site(tmp_path / "src", {"index.html": HTML, "b.js": JS})
    result = build_release(src, tmp_path / "out", BuildOptions(precompress=False))
    assert _files_on_disk(tmp_path / "out") == {"index.html", "b.js", MANIFEST_NAME}
    assert result.precompressed == 0


# --- build_release: tree, manifest ---------------------------------------------------------------


def test_build_redirects_and_headers_are_not_copied(tmp_path: Path) -> None:
    src = write_site(
        tmp_path / "src",
        {"index.html": "x", "_redirects": "/a /b", "_headers": "/*\n  X: y", "sub/_headers": "k"},
    )
    result = build_release(src, tmp_path / "out", BuildOptions())
    assert _files_on_disk(tmp_path / "out") == {"index.html", "sub/_headers", MANIFEST_NAME}
    assert [f.path for f in result.files] == ["index.html", "sub/_headers"]


def test_build_manifest_matches_files_on_disk(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "index.html": HTML,
        "about/index.html": HTML.replace("Harbour", "About"),
        "css/site.css": CSS,
        "css-print.css": CSS,  # sorts before css/ as a path, after it in a folder walk
        "js/app.js": JS,
        "img/logo.png": random.Random(5).randbytes(3000),
        "data/feed.xml": "<feed>" + "<entry/>" * 300 + "</feed>",
        "robots.txt": "User-agent: *\n",
        "LICENSE": "MIT",
        ".well-known/security.txt": "Contact: mailto:a@example.test\n",
    }
    src = write_site(tmp_path / "src", files)
    result = build_release(src, tmp_path / "out", BuildOptions())
    out = tmp_path / "out"
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["version"] == 1
    paths = [f["path"] for f in manifest["files"]]
    assert paths == sorted(files)
    assert manifest["files"] == [
        {"path": f.path, "size": f.size, "sha256": f.sha256, "content_type": f.content_type}
        for f in result.files
    ]
    for entry in manifest["files"]:
        body = (out / entry["path"]).read_bytes()
        assert entry["size"] == len(body)
        assert entry["sha256"] == hashlib.sha256(body).hexdigest()
        assert entry["content_type"] == content_type_for(entry["path"])
    variants = {p for p in _files_on_disk(out) if p.endswith((".br", ".gz"))}
    assert _files_on_disk(out) == set(paths) | variants | {MANIFEST_NAME}
    assert "css/site.css.br" in variants and "img/logo.png.br" not in variants


def test_build_modes_are_fixed_whatever_the_umask(tmp_path: Path) -> None:
    src = write_site(
        tmp_path / "src", {"index.html": HTML, "a/b/c.js": JS, "a/img.png": b"\x89PNG"}
    )
    old = os.umask(0o077)
    try:
        build_release(src, tmp_path / "out", BuildOptions())
    finally:
        os.umask(old)
    for path in [tmp_path / "out", *(tmp_path / "out").rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert not path.is_symlink()
        assert mode == (0o755 if path.is_dir() else 0o644), path


def test_build_skips_symlinks_and_junk(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("never published")
    src = write_site(tmp_path / "src", {"index.html": "x", ".DS_Store": "j", "__MACOSX/._x": "j"})
    (src / "link.txt").symlink_to(tmp_path / "secret")
    result = build_release(src, tmp_path / "out", BuildOptions())
    assert _files_on_disk(tmp_path / "out") == {"index.html", MANIFEST_NAME}
    assert "skipped link.txt: not a regular file" in result.log


def test_build_refuses_an_existing_dest(tmp_path: Path) -> None:
    src = write_site(tmp_path / "src", {"index.html": "x"})
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError):
        build_release(src, tmp_path / "out", BuildOptions())


def test_build_failure_leaves_no_half_built_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(data: bytes, **kwargs: object) -> bytes:
        raise MemoryError

    monkeypatch.setattr("brotli.compress", broken)
    src = write_site(tmp_path / "src", {f"p{i}.html": HTML for i in range(20)})
    with pytest.raises(MemoryError):
        build_release(src, tmp_path / "out", BuildOptions())
    assert not (tmp_path / "out").exists()


def test_build_site_file_named_like_the_manifest_is_refused(tmp_path: Path) -> None:
    src = write_site(tmp_path / "src", {"index.html": "x", MANIFEST_NAME: "{}"})
    with pytest.raises(Invalid) as error:
        build_release(src, tmp_path / "out", BuildOptions())
    assert error.value.code == "reserved_name"
    assert not (tmp_path / "out").exists()


def test_build_manifest_outside_the_servedwrite_site(tmp_path: Path) -> None:
    pwa = '{"name": "Harbour", "start_url": "/"}'
    src = write_site(tmp_path / "src", {"index.html": "x", MANIFEST_NAME: pwa})
    (tmp_path / "release").mkdir()
    target = tmp_path / "release" / MANIFEST_NAME
    result = build_release(src, tmp_path / "release" / "site", BuildOptions(), manifest=target)
    assert (tmp_path / "release" / "site" / MANIFEST_NAME).read_text() == pwa
    assert [f["path"] for f in json.loads(target.read_text())["files"]] == [
        "index.html",
        "manifest.json",
    ]
    assert [f.path for f in result.files] == ["index.html", "manifest.json"]
    assert sorted(p.name for p in (tmp_path / "release").iterdir()) == [MANIFEST_NAME, "site"]


def test_build_is_deterministic_and_logs_through_the_callback(tmp_path: Path) -> None:
    src = write_site(tmp_path / "src", {"index.html": HTML, "a.css": CSS, "b.js": JS})
    lines: list[str] = []
    first = build_release(src, tmp_path / "one", BuildOptions(), log=lines.append)
    second = build_release(src, tmp_path / "two", BuildOptions())
    assert lines == first.log and lines[-1].startswith("wrote the manifest (3 files)")
    assert first.files == second.files
    for rel in ("index.html.gz", "b.js.br", MANIFEST_NAME):
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()


@pytest.mark.parametrize(
    "options", [{"brotli_quality": 12}, {"brotli_quality": -1}, {"gzip_level": 0}]
)
def test_build_options_out_of_range(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        BuildOptions(**options)  # type: ignore[arg-type]


# --- content types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("OLD.HTM", "text/html; charset=utf-8"),
        ("app.js", "text/javascript"),
        ("mod.mjs", "text/javascript"),
        ("site.css", "text/css"),
        ("data.json", "application/json"),
        ("app.js.map", "application/json"),
        ("logo.svg", "image/svg+xml"),
        ("lib.wasm", "application/wasm"),
        ("site.webmanifest", "application/manifest+json"),
        ("font.woff2", "font/woff2"),
        ("photo.avif", "image/avif"),
        ("photo.webp", "image/webp"),
        ("robots.txt", "text/plain; charset=utf-8"),
        ("app.js.gz", "application/gzip"),
        ("doc.rtf", "application/rtf"),  # from Python's built-in table
        ("archive.xz", "application/octet-stream"),  # /etc/mime.types knows it; we must not
        ("app.js.br", "application/octet-stream"),
        ("LICENSE", "application/octet-stream"),
        ("file.unknownext", "application/octet-stream"),
    ],
)
def test_build_content_type_for(name: str, content_type: str) -> None:
    assert content_type_for(name) == content_type
