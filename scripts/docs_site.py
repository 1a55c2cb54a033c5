"""The documentation site's MkDocs hooks (mkdocs.yml: ``hooks``); docs/site.md explains them.

- Pages from outside docs/: the README is the home page, CHANGELOG.md the changelog, and the
  npm package's README a page of the frontend guide; their links are rewritten to the site's
  pages, so that one Markdown file reads right on GitHub and in the site.
- Generated sections: the API reference (every name of docs/design.md's public-API table, for
  mkdocstrings) and the settings reference (every field of ``Config``, from its source: type,
  default, unit, allowed values, what it does, and the pages that name it).
- Cross-links: an option in inline code (`` `refresh_grace_window` `` or
  `` `refresh_grace_window=0` ``) links to its settings-reference entry, on every page, and a
  line at the end of each page links every setting it names (its code blocks included).
- Mermaid: ``mermaid.min.js``, pinned by version and integrity, from the npm registry at build
  time (cached under ``.cache/docs/``, never committed), served by the site itself.

The functions without a leading underscore are what tests/test_site.py checks the site with.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import functools
import hashlib
import io
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# The settings reference imports Config: this checkout's, whatever else is installed (as
# mkdocstrings reads src/ for the API reference).
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

# Site pages made from repository files outside docs/: site path -> repository path.
EXTERNAL_PAGES = {
    "index.md": "README.md",
    "changelog.md": "CHANGELOG.md",
    "frontend-package.md": "clients/js/README.md",
}
API_PAGE = "reference/api.md"
SETTINGS_PAGE = "reference/settings.md"
API_MARKER = "<!-- generated: api-reference -->"
SETTINGS_MARKER = "<!-- generated: settings-reference -->"

MERMAID_VERSION = "11.17.2"
MERMAID_INTEGRITY = (  # `npm view mermaid@11.17.2 dist.integrity`
    "sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaRQxULMa80"
    "/qt5gHO73aCleBBg=="
)
MERMAID_CACHE = ROOT / ".cache" / "docs" / f"mermaid-{MERMAID_VERSION}"
MERMAID_SITE_PATH = "assets/javascripts/mermaid.min.js"
MERMAID_LICENSE = "assets/javascripts/mermaid.LICENSE.txt"

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.DOTALL | re.MULTILINE)
_LINK = re.compile(r"(!?\[[^\]\n]*\]\()([^)\s]+)(\))")


# --- the public API: docs/design.md's table ------------------------------------------------------


def public_api() -> dict[str, list[str]]:
    """docs/design.md's public-API table: module -> its exported names (the order of the table;
    tests/test_public_api.py checks the table against each module's ``__all__``)."""
    text = (DOCS / "design.md").read_text()
    section = text.split("## The public API", 1)[1].split("\n## ", 1)[0]
    table: dict[str, list[str]] = {}
    for module, names in re.findall(r"^\| `(sessionward[\w.]*)` \| (.*) \|$", section, re.M):
        table[module] = [] if names.startswith("(none") else [n.strip() for n in names.split(",")]
    return table


def api_markdown() -> str:
    """One section per public module, one mkdocstrings entry per exported name."""
    parts = []
    for module, names in public_api().items():
        if not names:
            continue
        parts.append(f"::: {module}\n    options:\n      members: false\n      heading_level: 2\n")
        for name in names:
            parts.append(f"::: {module}.{name}\n")
    return "\n".join(parts)


# --- the settings: Config's fields ----------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    name: str
    type: str
    default: str
    unit: str
    allowed: str
    description: str
    deprecated: bool


def _rst_to_markdown(text: str) -> str:
    return re.sub(r"``(.+?)``", r"`\1`", " ".join(text.split()))


def _duration(seconds: float) -> str:
    """``86400`` as ``"1 day"``: the largest unit that divides it."""
    for size, unit in ((86400, "day"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''}"
    return f"{seconds:g} s"


def _shown_default(value: Any) -> str:
    if value is dataclasses.MISSING:
        return "required"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


@functools.cache
def settings() -> list[Setting]:
    """Every init field of ``Config``, in the order of its source, read from the source (its
    attribute docstring: ``Unit:``, ``Allowed:`` and ``Default:`` parts taken out) and from the
    dataclass (the default)."""
    from sessionward._config import Config

    source = (ROOT / "src" / "sessionward" / "_config.py").read_text()
    [config_class] = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef) and node.name == "Config"
    ]
    fields = Config.__dataclass_fields__
    found = []
    body = config_class.body
    for node, following in zip(body, [*body[1:], None], strict=True):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        name = node.target.id
        field = fields[name]
        if not field.init:
            continue  # derived, not a setting
        if not (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            raise ValueError(f"Config.{name} has no docstring: the settings reference needs one")
        text = _rst_to_markdown(following.value.value)
        parts = {}
        for key, pattern in (
            ("Allowed", r"\s*Allowed: (.*)$"),  # to the end: each of these is last if present
            ("Default", r"\s*Default: (.*)$"),
            ("Unit", r"\s*Unit: (\w+)\."),
        ):
            match = re.search(pattern, text)
            if match:
                parts[key] = match.group(1).rstrip(".")
                text = (text[: match.start()] + text[match.end() :]).strip()
        default = parts.get("Default") or f"`{_shown_default(field.default)}`"
        if parts.get("Unit") == "seconds" and type(field.default) is int and field.default >= 60:
            default += f" ({_duration(field.default)})"
        annotation = ast.unparse(node.annotation)
        deprecated = annotation.startswith("InitVar[")
        if deprecated:
            annotation = annotation[len("InitVar[") : -1]
        found.append(
            Setting(
                name=name,
                type=annotation,
                default=default,
                unit=parts.get("Unit", ""),
                allowed=parts.get("Allowed", ""),
                description=text,
                deprecated=deprecated,
            )
        )
    return found


def _page_title(src_uri: str) -> str:
    path = _repository_path(src_uri)
    for line in path.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip().strip("`")
    return src_uri


def _mentions(markdown: str, name: str) -> bool:
    """Whether the page names the setting: in inline code (`` `name` ``, `` `name=…` ``), or
    in a Python block as a keyword (``name=``) or a settings key (``"name":``)."""
    prose = _FENCE.sub("", markdown)
    if re.search(rf"`{re.escape(name)}(?:=[^`]*)?`", prose):
        return True
    python = "\n".join(
        block.group(0) for block in _FENCE.finditer(markdown) if block.group(0)[3:9] == "python"
    )
    return re.search(rf"(?<![\w.]){re.escape(name)}=|\"{re.escape(name)}\":", python) is not None


def settings_footer(src_uri: str) -> str:
    """A line at the end of a page: every setting it names, each a link to its entry (the
    ones that appear only in code blocks have no other link)."""
    named = [name for name, pages in setting_uses().items() if src_uri in pages]
    if not named:
        return ""
    target = posixpath.relpath(SETTINGS_PAGE, posixpath.dirname(src_uri) or ".")
    links = ", ".join(f"[`{name}`]({target}#{name})" for name in named)
    return f"\n\n---\n\n**Settings on this page**: {links}.\n"


@functools.cache
def setting_uses() -> dict[str, list[str]]:
    """The pages (site paths) that name each setting, the references aside."""
    pages = sorted(
        str(p.relative_to(DOCS))
        for p in DOCS.rglob("*.md")
        if not str(p).startswith(str(DOCS / "reference"))
    )
    pages = ["index.md", *pages, "frontend-package.md"]
    texts = {page: _repository_path(page).read_text() for page in pages}
    return {
        setting.name: [page for page in pages if _mentions(texts[page], setting.name)]
        for setting in settings()
    }


def settings_markdown() -> str:
    uses = setting_uses()
    rows = ["| setting | default | unit |", "|---|---|---|"]
    sections = []
    for setting in settings():
        if not setting.deprecated:
            rows.append(
                f"| [`{setting.name}`](#{setting.name}) | {setting.default} | {setting.unit} |"
            )
        named = ", ".join(
            f"[{_page_title(page)}]({posixpath.relpath(page, posixpath.dirname(SETTINGS_PAGE))})"
            for page in uses[setting.name]
        )
        facts = [
            f"- **type**: `{setting.type}`",
            f"- **default**: {setting.default}",
        ]
        if setting.unit:
            facts.append(f"- **unit**: {setting.unit}")
        if setting.allowed:
            facts.append(f"- **allowed**: {setting.allowed}")
        if named:
            facts.append(f"- **named in**: {named}")
        title = f"### `{setting.name}`" + (" (deprecated)" if setting.deprecated else "")
        title += f" {{#{setting.name}}}"
        sections.append(f"{title}\n\n{setting.description}\n\n" + "\n".join(facts) + "\n")
    current = [s for s in sections if "(deprecated)" not in s.splitlines()[0]]
    old = [s for s in sections if "(deprecated)" in s.splitlines()[0]]
    return (
        "\n".join(rows)
        + "\n\n## Every setting\n\n"
        + "\n".join(current)
        + "\n## Deprecated\n\nAccepted for one release with a `DeprecationWarning`, converted into "
        "the settings above and not kept.\n\n" + "\n".join(old)
    )


# --- links --------------------------------------------------------------------------------------


def _repository_path(src_uri: str) -> Path:
    """The repository file a site page is made from."""
    return ROOT / EXTERNAL_PAGES.get(src_uri, f"docs/{src_uri}")


def _site_path(path: Path) -> str | None:
    """The site page (or asset) for a repository file, if the site has it."""
    relative = path.relative_to(ROOT).as_posix()
    for page, origin in EXTERNAL_PAGES.items():
        if origin == relative:
            return page
    if relative.startswith("docs/"):
        return relative[len("docs/") :]
    return None


def rewrite_links(markdown: str, src_uri: str) -> str:
    """Relative links as written for the repository file of ``src_uri``, pointed at the site's
    pages; a link to a repository file the site does not have is left for ``--strict`` to fail."""
    origin = _repository_path(src_uri).parent

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        if re.match(r"[a-z]+:|#|/", target):
            return match.group(0)
        path_part, hash_sign, anchor = target.partition("#")
        resolved = (origin / path_part).resolve()
        try:
            site_path = _site_path(resolved)
        except ValueError:
            site_path = None
        if site_path is None:
            return match.group(0)
        relative = posixpath.relpath(site_path, posixpath.dirname(src_uri) or ".")
        return f"{match.group(1)}{relative}{hash_sign}{anchor}{match.group(3)}"

    return _outside_code(markdown, lambda text: _LINK.sub(rewrite, text))


def _outside_code(markdown: str, change: Any) -> str:
    """``change`` applied to the text between fenced code blocks."""
    out, last = [], 0
    for fence in _FENCE.finditer(markdown):
        out.append(change(markdown[last : fence.start()]))
        out.append(fence.group(0))
        last = fence.end()
    out.append(change(markdown[last:]))
    return "".join(out)


def link_settings(markdown: str, src_uri: str) -> str:
    """Each setting in inline code (`` `name` `` or `` `name=value` ``), outside links, headings
    and code blocks, made a link to its entry in the settings reference."""
    names = {s.name for s in settings()}
    target = (
        ""
        if src_uri == SETTINGS_PAGE
        else posixpath.relpath(SETTINGS_PAGE, posixpath.dirname(src_uri) or ".")
    )
    code = re.compile(r"(?<!`)`([a-z_]+)((?:=[^`\n]*)?)`(?!`)")
    link_or_code = re.compile(r"\[[^\]\n]*\]\([^)\n]*\)|`[^`\n]+`")

    def change_line(line: str) -> str:
        if line.lstrip().startswith("#"):
            return line

        def one(match: re.Match[str]) -> str:
            piece = match.group(0)
            found = code.fullmatch(piece)
            if found is None or found.group(1) not in names:
                return piece
            return f"[{piece}]({target}#{found.group(1)})"

        return link_or_code.sub(one, line)

    return _outside_code(markdown, lambda text: "\n".join(map(change_line, text.split("\n"))))


# --- Mermaid, from the npm registry -----------------------------------------------------------


def mermaid_script() -> Path:
    """``mermaid.min.js`` of the pinned version: from the cache, else ``npm pack`` from the
    registry, checked against the pinned integrity before it is used."""
    script = MERMAID_CACHE / MERMAID_SITE_PATH
    if script.is_file() and (MERMAID_CACHE / MERMAID_LICENSE).is_file():
        return script
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"the docs need npm to fetch mermaid@{MERMAID_VERSION} once")
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(  # noqa: S603 (a fixed command; the result is checked below)
            [npm, "pack", f"mermaid@{MERMAID_VERSION}", "--pack-destination", scratch],
            check=True,
            capture_output=True,
            timeout=300,
        )
        [tarball] = Path(scratch).glob("mermaid-*.tgz")
        data = tarball.read_bytes()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != MERMAID_INTEGRITY:
        raise RuntimeError(f"mermaid@{MERMAID_VERSION}: integrity {digest}, not the pinned one")
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        body = archive.extractfile("package/dist/mermaid.min.js")
        licence = archive.extractfile("package/LICENSE")
        assert body is not None and licence is not None
        script.parent.mkdir(parents=True, exist_ok=True)
        partial = script.with_suffix(".partial")
        with partial.open("wb") as out:
            shutil.copyfileobj(body, out)
        (MERMAID_CACHE / MERMAID_LICENSE).write_bytes(licence.read())
        partial.replace(script)
    return script


# --- the hooks --------------------------------------------------------------------------------


def on_pre_build(config: Any) -> None:
    """A fresh read of the sources at each build (``mkdocs serve`` rebuilds in one process)."""
    settings.cache_clear()
    setting_uses.cache_clear()


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for page, origin in EXTERNAL_PAGES.items():
        files.append(File.generated(config, page, abs_src_path=str(ROOT / origin)))
    mermaid_script()
    for path in (MERMAID_SITE_PATH, MERMAID_LICENSE):  # the script, and its MIT licence
        files.append(
            File(
                path,
                src_dir=str(MERMAID_CACHE),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    src_uri = page.file.src_uri
    if src_uri == API_PAGE:
        markdown = markdown.replace(API_MARKER, api_markdown())
    if src_uri == SETTINGS_PAGE:
        markdown = markdown.replace(SETTINGS_MARKER, settings_markdown())
    markdown = rewrite_links(markdown, src_uri)
    if src_uri != API_PAGE:
        markdown = link_settings(markdown, src_uri)
    if not src_uri.startswith("reference/"):
        markdown += settings_footer(src_uri)
    return markdown


_ROLE = re.compile(
    r":(?:meth|class|func|mod|attr|data|exc|obj):"
    r"<code>(~?)([\w.]+)(\(\))?(?:\s*&lt;([\w.]+)&gt;)?</code>"
)


def resolve_roles(page_html: str) -> str:
    """The docstrings' Sphinx roles (``:meth:`SessionManager.get_session```), which Markdown
    leaves as text, made links to the reference's entries where one exists, else plain code."""
    ids = set(re.findall(r'id="([\w.]+)"', page_html))

    def link(match: re.Match[str]) -> str:
        tilde, path, call, explicit = match.groups()
        shown = (path.rsplit(".", 1)[-1] if tilde else path) + (call or "")
        path = explicit or path
        tail = path.rsplit(".", 1)[-1]
        parts = path.split(".")
        candidates = [path, f"sessionward.{path}", f"sessionward.{tail}"]
        candidates += [f"sessionward.{'.'.join(parts[i:])}" for i in range(1, len(parts))]
        target = next((c for c in candidates if c in ids), None)
        code = f"<code>{shown}</code>"
        return f'<a href="#{target}">{code}</a>' if target else code

    return _ROLE.sub(link, page_html)


def on_page_content(page_html: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri == API_PAGE:
        return resolve_roles(page_html)
    return page_html
