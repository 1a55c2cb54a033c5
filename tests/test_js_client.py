"""The npm package ``clients/js`` (sessionward-client): the wheel's ``sessionward.js`` is exactly
its build, its unit tests pass under Node's test runner, and ``tsc --strict`` accepts it and a
consumer that uses every exported type. The bundled-app test in Chromium is
``tests/test_js_app.py``."""

from __future__ import annotations

import json

from tests.support.js_client import ROOT, package_ready, run_npm

WHEEL_FILE = ROOT / "src" / "sessionward" / "js" / "sessionward.js"


def test_the_wheels_client_is_the_packages_build() -> None:
    """Edit clients/js/src/index.ts, then ``npm run build:wheel`` there: never the file itself."""
    package = package_ready()
    output = run_npm("run", "check:wheel", cwd=package)
    assert "matches the build" in output
    text = WHEEL_FILE.read_text()
    assert text.startswith("// Generated from clients/js/src/index.ts")
    assert "\nimport " not in text and "import(" not in text  # one self-contained module
    assert "export function createClient" in text and "export function addAxiosInterceptors" in text


def test_unit_tests_under_nodes_test_runner() -> None:
    output = run_npm("test", cwd=package_ready())
    assert "# fail 0" in output and "# pass" in output, output


def test_strict_types_for_the_package_and_a_consumer() -> None:
    run_npm("run", "typecheck", cwd=package_ready())


def test_the_package_is_publishable_as_it_says() -> None:
    """No runtime dependencies, ESM + types exports with a ./react entry, no side effects, the
    peers optional; and the protocol it needs, as the client's constants say."""
    meta = json.loads((ROOT / "clients" / "js" / "package.json").read_text())
    assert meta["name"] == "sessionward-client" and meta["type"] == "module"
    assert "dependencies" not in meta and meta["sideEffects"] is False
    for entry in (".", "./react"):
        assert set(meta["exports"][entry]) >= {"types", "import"}
    assert set(meta["peerDependencies"]) == {"axios", "react"}
    assert all(m["optional"] for m in meta["peerDependenciesMeta"].values())
    assert set(meta["devDependencies"]) == {"typescript", "axios", "@types/react"}
    source = (ROOT / "clients" / "js" / "src" / "index.ts").read_text()
    assert f"export const PROTOCOL_VERSION = {meta['sessionward']['protocol']};" in source
    assert f'export const CLIENT_VERSION = "{meta["version"]}";' in source
    from sessionward._transport.wire import PROTOCOL_VERSION

    assert meta["sessionward"]["protocol"] == PROTOCOL_VERSION
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{meta["sessionward"]["server"].removeprefix(">=")}"' in pyproject
