"""Issue 24: the FastAPI example with ``--metrics-port`` (OpenTelemetry's SDK and its Prometheus
reader) over real HTTP on loopback: after a scripted login, refresh, theft and logout, a scrape
of its Prometheus endpoint finds each counter with its value and labels, and no token."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.example_servers import running_example
from tests.support.processes import free_port
from tests.support.web_apps import Browser

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.prometheus")
parser = pytest.importorskip("prometheus_client.parser")

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> tuple[str, Series]:
    """The exposition text, and every sample of a ``sessionward_`` metric by name and labels
    (OpenTelemetry's scope labels left out, and empty ones: to Prometheus an empty label is no
    label, and the exporter writes ``error_type=""`` beside the series that have one)."""
    text = httpx.get(url, timeout=10).text
    series: Series = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("sessionward_"):
                labels = tuple(
                    sorted(
                        (k, v) for k, v in sample.labels.items() if v and not k.startswith("otel_")
                    )
                )
                series[(sample.name, labels)] = sample.value
    return text, series


def test_a_prometheus_scrape_counts_login_refresh_theft_and_logout(tmp_path: Path) -> None:
    metrics_port = free_port()
    options = ("--metrics-port", str(metrics_port))
    with (
        running_example("fastapi", tmp_path, *options) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        browser = Browser(client, time.time)
        login = browser.login("dave")
        issued = [c.value for c in login.cookies.values()] + [browser.anti_csrf or ""]
        assert browser.request("GET", "/me").status == 200  # a success counts nothing
        assert browser.request("POST", "/like", csrf=False).status == 440  # anti_csrf_missing
        assert browser.request("GET", "/admin").status == 403  # claim_failed: not an admin
        garbage = "sAccessToken=not.a.token; sIdRefreshToken=x"
        assert browser.request("GET", "/me", cookies=garbage).status == 440  # invalid
        parent = browser.cookie_header("/refresh")
        assert browser.refresh().status == 200  # rotated
        issued += [value for value, _, _ in browser.jar.values()] + [browser.anti_csrf or ""]
        again = browser.request("POST", "/refresh", cookies=parent)
        assert again.status == 200  # the same token again, its child unused: lost_answer_retry
        issued += [c.value for c in again.cookies.values()]
        assert browser.request("GET", "/me").status == 200  # the child in use
        assert browser.request("POST", "/refresh", cookies=parent).status == 200  # grace_duplicate
        copied = browser.cookie_header("/")
        thief = browser.request(
            "POST", "/refresh", cookies=parent, headers={"User-Agent": "curl/8.5.0"}
        )
        assert thief.status == 440 and thief.json() == {"message": "token theft detected"}
        revoked = browser.request("GET", "/me", cookies=copied)
        assert revoked.status == 440 and revoked.cleared_all  # revoked
        other = Browser(client, time.time)
        other.login("erin")
        assert other.request("POST", "/logout").status == 200

        text, series = scrape(metrics_url)

    def value(name: str, **labels: str) -> float:
        key = (name, tuple(sorted((f"sessionward_{k}", v) for k, v in labels.items())))
        return series.get(key, 0.0)

    assert value("sessionward_sessions_created_total") == 2
    refreshes = {
        outcome: value("sessionward_refreshes_total", outcome=outcome)
        for outcome in ("rotated", "lost_answer_retry", "grace_duplicate")
    }
    assert refreshes == {"rotated": 1, "lost_answer_retry": 1, "grace_duplicate": 1}
    assert value("sessionward_thefts_total", reason="other_client") == 1
    assert value("sessionward_revocations_total", reason="theft") == 1
    assert value("sessionward_revocations_total", reason="logout") == 1
    failures = {
        reason: value("sessionward_verify_failures_total", reason=reason)
        for reason in ("anti_csrf_missing", "claim_failed", "invalid", "revoked", "expired")
    }
    assert failures == {
        "anti_csrf_missing": 1,
        "claim_failed": 1,
        "invalid": 1,
        "revoked": 1,
        "expired": 0,
    }
    # Every series of a counter is one of those: no other label, no other value.
    counted = {key for key in series if key[0].endswith("_total")}
    assert len(counted) == 1 + 3 + 1 + 2 + 4
    # The durations: the three refreshes that succeeded, and the theft by its error type.
    assert series[("sessionward_refresh_duration_seconds_count", ())] == 3
    theft = (("error_type", "TokenTheftDetectedError"),)
    assert series[("sessionward_refresh_duration_seconds_count", theft)] == 1
    assert series[("sessionward_create_duration_seconds_count", ())] == 2
    assert series[("sessionward_revocation_cache_entries", ())] == 2  # the theft's, the logout's
    assert ("sessionward_proof_cache_entries", ()) in series
    for secret in issued:
        if len(secret) >= 16:
            assert secret not in text and secret[:16] not in text
