"""The files a framework guide builds, read from its own code blocks.

A block that belongs to a file says so on its first line: ``# mysite/urls.py`` (the whole file)
or ``# mysite/settings.py: add at the end`` (appended to what is there). Blocks without such a
line are fragments, not files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "frameworks"
HINT = re.compile(r"# (?P<path>[\w/]+\.py)(?P<append>: add at the end)?\n")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class GuideFile:
    path: str  # relative to the project's root (where manage.py is)
    code: str
    append: bool
    section: str  # the "## " heading it sits under


def guide_files(name: str) -> list[GuideFile]:
    """The hinted blocks of ``docs/frameworks/<name>.md``, in order."""
    text = (DOCS / f"{name}.md").read_text()
    found = []
    for match in BLOCK.finditer(text):
        hint = HINT.match(match.group(1))
        if hint is None:
            continue
        headings = re.findall(r"^## (.+)$", text[: match.start()], flags=re.MULTILINE)
        found.append(
            GuideFile(
                path=hint["path"],
                code=match.group(1),
                append=hint["append"] is not None,
                section=headings[-1] if headings else "",
            )
        )
    return found


def write_guide_files(root: Path, files: list[GuideFile]) -> None:
    """Write (or append) each block into the project at ``root``."""
    for file in files:
        target = root / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if file.append:
            assert target.is_file(), f"{file.path}: added to, but nothing wrote it before"
            with target.open("a") as out:
                out.write("\n\n" + file.code)
        else:
            target.write_text(file.code)
