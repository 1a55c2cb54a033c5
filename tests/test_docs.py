"""The security checklist points at tests by name: every test it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`(?:((?:web/|hardening/)?test_\w+\.py))?(?:::(\w+))?`")


def test_security_checklist_names_existing_tests():
    """``file.py::test`` names a test; a bare ``::test`` refers to the last file in its cell."""
    text = (ROOT / "docs" / "security.md").read_text()
    checked = 0
    for cell in re.findall(r"\|([^|\n]*test_[^|\n]*)\|", text):
        current = None
        for file_name, test_name in REFERENCE.findall(cell):
            if file_name:
                current = file_name
                assert (ROOT / "tests" / current).is_file(), f"missing test file {current}"
            if test_name:
                assert current is not None, cell
                body = (ROOT / "tests" / current).read_text()
                assert re.search(rf"def {test_name}\(", body), f"missing {current}::{test_name}"
                checked += 1
    assert checked > 30
