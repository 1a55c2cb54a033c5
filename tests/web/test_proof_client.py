"""The Python header-mode client (``sessionward.httpx_auth.SessionAuth``) against each example
over real HTTP: it binds its session to its key at login, refreshes with proofs, and a copy of
its refresh token is worthless elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sessionward.httpx_auth import SessionAuth
from tests.support.example_servers import COMMANDS, running_example


@pytest.fixture(params=sorted(COMMANDS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with running_example(request.param, tmp_path) as url:
        yield url


def _expire(auth: SessionAuth) -> None:
    """Make the next request meet the session-expired status (as an expired token would)."""
    auth.access_token = "expired." + (auth.access_token or "x").split(".", 1)[-1]


def test_a_bound_client_refreshes_and_a_copy_of_its_refresh_token_is_theft(server: str) -> None:
    auth = SessionAuth(refresh_url=f"{server}/refresh")
    with httpx.Client(base_url=server, auth=auth, timeout=10) as client:
        login = client.post("/login", json={"userId": "carol"})
        assert login.status_code == 200 and auth.has_session
        for round_ in range(3):
            _expire(auth)
            me = client.get("/me")
            assert me.status_code == 200 and me.json()["userId"] == "carol"
            assert auth.refresh_count == round_ + 1
        stolen = auth.refresh_token
        # The thief has the refresh token but not the key: without a proof, it is theft.
        with httpx.Client(base_url=server, timeout=10) as thief:
            reply = thief.post(
                "/refresh", headers={"st-auth-mode": "header", "authorization": f"Bearer {stolen}"}
            )
        assert reply.status_code == 440 and reply.json() == {"message": "token theft detected"}
        # The session is revoked: the victim's next refresh fails too, and it knows it.
        _expire(auth)
        assert client.get("/me").status_code == 440
        assert not auth.has_session


def test_an_unbound_client_works_as_the_original_sdk_does(server: str) -> None:
    auth = SessionAuth(refresh_url=f"{server}/refresh", bind=False)
    with httpx.Client(base_url=server, auth=auth, timeout=10) as client:
        assert client.post("/login", json={"userId": "dan"}).status_code == 200
        _expire(auth)
        assert client.post("/like").status_code == 200  # header mode: no anti-CSRF needed
        assert auth.refresh_count == 1
        stolen = auth.refresh_token
        with httpx.Client(base_url=server, timeout=10) as other:
            reply = other.post(
                "/refresh", headers={"st-auth-mode": "header", "authorization": f"Bearer {stolen}"}
            )
        assert reply.status_code == 200  # unbound: only rotation and the grace window protect it
