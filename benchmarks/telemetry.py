"""verify, refresh and create in three telemetry states, side by side in one run (issue 24):

- ``plain``: ``opentelemetry`` cannot be imported (no ``sessionward[otel]`` extra);
- ``api``: the extra's ``opentelemetry-api``, no SDK configured (OpenTelemetry's no-op proxies);
- ``sdk``: OpenTelemetry's SDK, a ``MeterProvider`` with the Prometheus reader of
  ``opentelemetry-exporter-prometheus`` and a ``TracerProvider`` that samples every span (and
  exports none: the cost measured is sessionward's and the SDK's, not an exporter's).

OpenTelemetry's providers are global and set once, so each state runs in a process of its own
(``python benchmarks/telemetry.py --child STATE ...``), on an SQLite file of its own; in a full
run the states alternate twice (plain, api, sdk, plain, api, sdk) and each row pools its passes,
so that the machine's drift hits all three alike. Each ``api`` and ``sdk`` row has the ``plain``
row of the same operation as its baseline.

Rows: ``otel.verify.<state>`` (the verify path without I/O, the default cached revocation
check), ``otel.verify_failure.<state>`` (an anti-CSRF mismatch: the path that counts),
``otel.create.<state>`` and ``otel.refresh.<state>`` (a refresh and the verify that confirms its
token, as ``sw.rotation_seq``), both sequential on SQLite.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

STATES = ("plain", "api", "sdk")
OPERATIONS = ("verify", "verify_failure", "create", "refresh")


def available_states() -> list[str]:
    """The states this interpreter can run: ``api`` needs opentelemetry-api, ``sdk`` the SDK
    and the Prometheus exporter as well."""
    states = ["plain"]
    if importlib.util.find_spec("opentelemetry.metrics") is not None:
        states.append("api")
        sdk = ("opentelemetry.sdk", "opentelemetry.exporter.prometheus", "prometheus_client")
        if all(importlib.util.find_spec(name) is not None for name in sdk):
            states.append("sdk")
    return states


def rows() -> list[str]:
    return [f"otel.{op}.{state}" for op in OPERATIONS for state in available_states()]


def run(res: Any, mode_name: str, tmp: Path) -> None:
    """Every state's rows, each state in its own process, into ``res`` (a ``Results``)."""
    states = available_states()
    for missing in sorted(set(STATES) - set(states)):
        res.notes.append(f"otel.*.{missing} not measured: its OpenTelemetry packages are missing")
    passes = 2 if mode_name == "full" else 1
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    for number in range(passes):
        for state in states:
            url = f"sqlite:///{tmp}/otel-{state}-{number}.sqlite3"
            argv = [sys.executable, str(HERE / "telemetry.py"), "--child", state]
            argv += ["--mode", mode_name, "--database-url", url]
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"the {state} child failed:\n{done.stderr[-3000:]}")
            sys.stderr.write(done.stderr)
            measured = json.loads(done.stdout)
            for op in OPERATIONS:
                baseline = None if state == "plain" else f"otel.{op}.plain"
                res.add(f"otel.{op}.{state}", measured[op], baseline)


def _install_sdk() -> Any:
    from opentelemetry import metrics, trace
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))
    trace.set_tracer_provider(TracerProvider())
    from prometheus_client import REGISTRY, generate_latest

    return lambda: generate_latest(REGISTRY).decode()


def child(state: str, mode_name: str, url: str) -> dict[str, list[float]]:
    scrape = None
    if state == "plain":
        sys.modules["opentelemetry"] = None  # type: ignore[assignment]  # as if not installed
    elif state == "sdk":
        scrape = _install_sdk()
    from benchmarks.common import MODES, TABLES, loop_sync, sample_threads
    from sessionward import SessionManager, TryRefreshTokenError

    mode = MODES[mode_name]
    measured: dict[str, list[float]] = {}
    with SessionManager(refresh_path="/session/refresh", database_url=url, **TABLES) as manager:
        tokens = manager.create_new_session("verify-user", {"role": "user"})
        access, csrf = tokens.access_token.value, tokens.anti_csrf_token
        get = manager.get_session
        assert get(access, csrf).new_access_token is None
        measured["verify"] = loop_sync(lambda: get(access, csrf), mode)

        def failure() -> None:
            try:
                get(access, "not the anti-csrf token")
            except TryRefreshTokenError:
                return
            raise AssertionError("a wrong anti-CSRF token verified")

        measured["verify_failure"] = loop_sync(failure, mode)
        counter = iter(range(10**9))
        create = manager.create_new_session
        measured["create"] = sample_threads(
            [lambda: create(f"c{next(counter)}", {"role": "user"}, {"n": 1})], mode
        )
        state_rt = {"rt": create("rot", {"role": "user"}).refresh_token.value}

        def cycle() -> None:
            refreshed = manager.refresh_session(state_rt["rt"])
            confirmed = get(refreshed.access_token.value, refreshed.anti_csrf_token)
            assert confirmed.new_access_token is not None
            state_rt["rt"] = refreshed.refresh_token.value

        measured["refresh"] = sample_threads([cycle], mode)
    loaded = any(name.startswith("opentelemetry") and sys.modules[name] for name in sys.modules)
    assert loaded == (state != "plain"), f"{state}: opentelemetry loaded: {loaded}"
    if scrape is not None:  # the SDK's figures reached the Prometheus reader
        assert "sessionward_refreshes_total" in scrape()
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", choices=STATES, required=True)
    parser.add_argument("--mode", default="quick")
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args(argv)
    print(json.dumps(child(args.child, args.mode, args.database_url)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
