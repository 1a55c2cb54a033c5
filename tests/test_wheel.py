"""The built wheel holds everything the source tree ships: every module and every data file
(the browser client, the demo's page, the Django admin's template, ``py.typed``). The guides'
install line from a wheel (``pip install "$(ls dist/sessionward-*.whl)[django]"``) depends on
it: a file left out works from a clone and fails only for users of the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "sessionward"


def test_the_wheel_holds_every_file_of_the_package(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("sessionward-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert "sessionward/integrations/django/admin/templates/sessionward_admin/sessions.html" in (
        shipped
    )
    assert shipped - names == set()
