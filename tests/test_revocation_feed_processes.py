"""docs/microservices.md#revocations across processes, on MariaDB and PostgreSQL: an issuer
process (Flask, serving the JWKS and the revocation feed), a sync resource service (Flask,
``RemoteVerifier``) and an async one (``examples/resource_service.py``, FastAPI and
``AsyncRemoteVerifier``, started with only ``--jwks-url``). The revocations are made by yet
another issuer process on the same database (this test's manager), the hardest case: the feed's
process must read them from the table first. After a logout, a sign-out of the other devices, a
revoke-user, a revoke-tenant and a detected theft, both resource services, polled without a
pause before and after the revocation (steady traffic, so they read the feed every 2 s rather
than on the first request), refuse the token within 3 s; the times are printed (``-s``)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from sessionward import Config, SessionManager, TokenTheftDetectedError, UnauthorisedError
from tests.conftest import drop_tables, ensure_database, unique_tables
from tests.support.example_servers import running_server
from tests.support.web_apps import EXAMPLES

BOUND_S = 3.0
FEED_PATH = "/.well-known/revocations"
SERVICES = Path(__file__).parent / "support" / "feed_services.py"


def refused_at(url: str, token: str, out: dict[str, float], name: str) -> None:
    """Poll ``url`` with ``token``, under steady traffic, until the session-expired answer;
    the monotonic time it came."""
    with httpx.Client(timeout=5) as client:
        ends = time.monotonic() + 10 + BOUND_S
        while time.monotonic() < ends:
            reply = client.get(url, headers={"Authorization": f"Bearer {token}"})
            if reply.status_code == 440:
                assert reply.json() == {"message": "unauthorised"}
                assert "set-cookie" not in reply.headers
                out[name] = time.monotonic()
                return
            assert reply.status_code == 200, reply.text
            time.sleep(0.02)


@pytest.mark.multiprocess
@pytest.mark.parametrize("backend", ["mysql", "postgres"])
def test_revocations_reach_sync_and_async_resource_services(backend: str, tmp_path: Path) -> None:
    url = ensure_database(backend)
    tables = unique_tables()
    settings = {
        "refresh_path": "/refresh",
        "database_url": url,
        "signing_algorithm": "EdDSA",
        "revocation_feed_path": FEED_PATH,
        "refresh_grace_window": 0,
        **tables,
    }
    try:
        with SessionManager(Config(**settings)) as main:  # type: ignore[arg-type]
            logins = {
                "logout": main.create_new_session("ann"),
                "other-devices": main.create_new_session("cat"),
                "kept": main.create_new_session("cat"),
                "revoke-user": main.create_new_session("bob"),
                "revoke-tenant": main.create_new_session("eve", tenant_id="acme"),
                "theft": main.create_new_session("dan"),
                "bystander": main.create_new_session("fay"),
            }
            issuer_cmd = [str(SERVICES), "issuer", "--settings", json.dumps(settings)]
            with running_server("issuer", tmp_path, *issuer_cmd) as issuer:
                jwks = f"{issuer}/.well-known/jwks.json"
                flask_cmd = [str(SERVICES), "flask-resource", "--jwks-url", jwks]
                fastapi_cmd = [str(EXAMPLES / "resource_service.py"), "--jwks-url", jwks]
                with (
                    running_server("flask-resource", tmp_path, *flask_cmd) as sync_service,
                    running_server("fastapi-resource", tmp_path, *fastapi_cmd) as async_service,
                ):
                    services = {
                        "flask (sync)": f"{sync_service}/reports",
                        "fastapi (async)": f"{async_service}/reports",
                    }
                    for name, tokens in logins.items():
                        for service in services.values():
                            bearer = {"Authorization": f"Bearer {tokens.access_token.value}"}
                            assert httpx.get(service, headers=bearer).status_code == 200, name
                    times = run_revocations(main, logins, services)
                    for service in services.values():
                        for kept in ("kept", "bystander"):
                            token = logins[kept].access_token.value
                            reply = httpx.get(service, headers={"Authorization": f"Bearer {token}"})
                            assert reply.status_code == 200
    finally:
        drop_tables(url, tables)
    every = [t for per_service in times.values() for t in per_service.values()]
    print(f"\n{backend}: refused after (s):")
    for kind, per_service in times.items():
        spread = max(per_service.values()) - min(per_service.values())
        shown = ", ".join(f"{name} {t:.2f}" for name, t in per_service.items())
        print(f"  {kind:14} {shown}; spread {spread:.2f}")
    print(f"  all: min {min(every):.2f} max {max(every):.2f} spread {max(every) - min(every):.2f}")
    assert max(every) < BOUND_S


def run_revocations(
    main: SessionManager, logins: dict[str, object], services: dict[str, str]
) -> dict[str, dict[str, float]]:
    times: dict[str, dict[str, float]] = {}
    kinds = ("logout", "other-devices", "revoke-user", "revoke-tenant", "theft")
    # Pauses of different lengths, so the revocations fall at different points of the
    # services' 2 s poll intervals and of the issuer's half-second table reads.
    for kind, pause in zip(kinds, (0.3, 1.1, 1.9, 0.7, 1.5), strict=True):
        tokens = logins[kind]
        token = tokens.access_token.value  # type: ignore[attr-defined]
        if kind == "theft":  # the child's token: the one in use when the theft is detected
            child = main.refresh_session(tokens.refresh_token.value)  # type: ignore[attr-defined]
            main.get_session(child.access_token.value)  # the child confirmed
            token = child.access_token.value
        found: dict[str, float] = {}
        threads = [
            threading.Thread(target=refused_at, args=(url, token, found, name))
            for name, url in services.items()
        ]
        for thread in threads:  # steady traffic before and after the revocation
            thread.start()
        time.sleep(pause)
        if kind == "logout":
            main.revoke_session(tokens.session.handle)  # type: ignore[attr-defined]
        elif kind == "other-devices":
            kept = logins["kept"].session.handle  # type: ignore[attr-defined]
            assert main.revoke_other_sessions("cat", kept) == 1
        elif kind == "revoke-user":
            main.revoke_all_sessions_for_user("bob")
        elif kind == "revoke-tenant":
            main.revoke_all_sessions_for_tenant("acme")
        else:
            with pytest.raises(TokenTheftDetectedError):
                main.refresh_session(tokens.refresh_token.value)  # type: ignore[attr-defined]
        start = time.monotonic()  # refused at the issuer from here on
        with pytest.raises(UnauthorisedError):
            main.get_session(token)
        for thread in threads:
            thread.join()
        assert set(found) == set(services), f"{kind}: not refused everywhere: {found}"
        assert all(at > start - 0.05 for at in found.values()), f"{kind}: refused too early"
        times[kind] = {name: max(0.0, at - start) for name, at in found.items()}
    return times
