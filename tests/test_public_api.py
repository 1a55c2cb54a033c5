"""The public API is exactly what docs/design.md ("The public API") lists.

Every module of the package whose dotted path has no component with a leading underscore is
public, and must appear in the table with exactly the names of its ``__all__``; every name
listed must be importable from it. A new public module, a name added to or dropped from an
``__all__``, or an internal module left without its underscore fails here until the table says
so.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import sessionward

DESIGN = Path(__file__).resolve().parents[1] / "docs" / "design.md"
_ROW = re.compile(r"^\| `(sessionward[\w.]*)` \| (.*) \|$")


def documented() -> dict[str, set[str]]:
    text = DESIGN.read_text()
    section = text.split("## The public API", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        match = _ROW.match(line)
        if match:
            module, names = match.groups()
            table[module] = (
                set() if names.startswith("(none") else {n.strip() for n in names.split(",")}
            )
    return table


def public_modules() -> set[str]:
    found = {"sessionward"}
    for info in pkgutil.walk_packages(sessionward.__path__, "sessionward."):
        parts = info.name.split(".")[1:]
        if not any(part.startswith("_") for part in parts):
            found.add(info.name)
    return found


def test_the_table_lists_every_public_module_and_nothing_else() -> None:
    assert public_modules() == set(documented())


def test_each_public_module_exports_exactly_the_documented_names() -> None:
    for module_name, names in documented().items():
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{module_name} has no __all__"
        assert set(exported) == names, module_name
        assert len(exported) == len(set(exported)), f"{module_name}: a name listed twice"
        for name in exported:
            assert hasattr(module, name), f"{module_name}.{name} is listed but missing"


def test_internal_modules_are_marked_with_an_underscore() -> None:
    """Every module the top-level package imports its exports from is an internal one."""
    for name in sessionward.__all__:
        origin = getattr(getattr(sessionward, name), "__module__", "sessionward._")
        if origin == "builtins":  # a constant such as ALGORITHMS
            continue
        assert origin.startswith("sessionward._"), f"{name} is defined in {origin}"
