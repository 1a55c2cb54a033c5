"""The fenced code blocks of docs/, and how each is tested.

A block says how on the line before it, in an HTML comment (invisible on GitHub and in the site):

- ``<!-- not run: why -->``: not run by any test, and why (an install, a run of minutes, browser
  code, a fragment);
- ``<!-- run by: tests/file.py::test_name (what it runs) -->``: another test runs it.

Without a comment, its language decides (tests/test_doc_blocks.py): ``text`` and ``mermaid``
blocks are not code (output, trees, URLs; the diagram is drawn in tests/test_site.py), and every
``python``, ``yaml`` and ``sh`` block is run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
_FENCE = re.compile(r"^```(\S*)\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_MARKER = re.compile(r"<!-- (not run|run by): (.+?) -->\s*\Z", re.DOTALL)


@dataclass(frozen=True)
class Block:
    page: str  # relative to docs/: "frameworks/fastapi.md"
    line: int  # of the opening fence
    language: str
    code: str
    how: str | None  # "not run", "run by", or None
    why: str  # the marker's text

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def doc_blocks(page: str) -> list[Block]:
    """The fenced blocks of ``docs/<page>``, in order."""
    text = (DOCS / page).read_text()
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()]
        marker = _MARKER.search(before[-600:])
        found.append(
            Block(
                page=page,
                line=before.count("\n") + 1,
                language=match.group(1),
                code=match.group(2),
                how=marker.group(1) if marker else None,
                why=" ".join(marker.group(2).split()) if marker else "",
            )
        )
    return found


def pages() -> list[str]:
    return sorted(str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md"))


def runnable(page: str, language: str) -> list[str]:
    """The code of the page's unmarked blocks of ``language``, in order."""
    return [b.code for b in doc_blocks(page) if b.language == language and b.how is None]
