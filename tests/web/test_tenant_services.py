"""Tenants beyond the issuing app, on every backend: a resource service (``RemoteSessions``, the
remote verifiers) refuses another tenant's token with 403 through ``claims`` and
``tenant_param``; Django's management commands revoke a user's sessions in one tenant
(``--tenant``) and a whole tenant (``sessionward_revoke_tenant``)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from starlette.requests import Request

from sessionward import (
    AsyncRemoteVerifier,
    ClaimValidationError,
    Config,
    RemoteVerifier,
    SessionManager,
    in_tenant,
    not_impersonated,
)
from tests.support.web_apps import EXAMPLE_SETTINGS, Reply, django_setup, load_example
from tests.test_remote_verifier import JwksServer

from .test_tenants_web import GLOBEX_ONLY, IMPERSONATING

# --- a resource service ----------------------------------------------------------------------


def test_a_resource_service_refuses_another_tenants_token(
    make_manager: Callable[..., SessionManager], clock: Any
) -> None:
    from fastapi import FastAPI
    from starlette.testclient import TestClient

    from sessionward.integrations.starlette import RemoteSessions

    issuer = make_manager(signing_algorithm="EdDSA")
    server = JwksServer(issuer)
    try:
        acme = issuer.create_new_session("alice", tenant_id="acme").access_token.value
        acted = issuer.create_impersonation_session("root", "alice", tenant_id="acme")
        impersonation = acted.access_token.value

        # The example resource service: its tenant route names the tenant in the path.
        verifier = AsyncRemoteVerifier(server.url, clock=clock)
        service = load_example("resource_service").create_app(verifier)
        with TestClient(service, base_url="http://testserver") as client:

            def get(path: str, token: str) -> Reply:
                return Reply(client.get(path, headers={"Authorization": f"Bearer {token}"}))

            mine = get("/t/acme/reports", acme)
            assert mine.status == 200 and mine.json() == {"user": "alice", "tenant": "acme"}
            theirs = get("/t/globex/reports", acme)
            assert theirs.status == 403 and theirs.json() == GLOBEX_ONLY
            assert get("/t/bad!tenant/reports", acme).status == 400
            assert get("/reports", acme).status == 200  # no tenant named: any tenant's token

        # RemoteSessions with plain claims.
        app = FastAPI()
        remote = RemoteSessions(AsyncRemoteVerifier(server.url, clock=clock))
        remote.install(app)
        checks = [in_tenant("acme"), not_impersonated()]

        in_person_only = remote.verify_session(claims=checks)

        @app.get("/in-person")
        async def in_person(request: Request) -> Any:
            session = await in_person_only(request)  # what Depends(in_person_only) does
            return {"user": session.user_id}

        with TestClient(app, base_url="http://testserver") as client:
            ok = client.get("/in-person", headers={"Authorization": f"Bearer {acme}"})
            assert ok.status_code == 200 and ok.json() == {"user": "alice"}
            refused = client.get("/in-person", headers={"Authorization": f"Bearer {impersonation}"})
            assert refused.status_code == 403 and refused.json() == IMPERSONATING

        # The verifier itself.
        with RemoteVerifier(server.url, clock=clock) as sync_verifier:
            assert sync_verifier.verify(acme, claims=[in_tenant("acme")]).tenant_id == "acme"
            with pytest.raises(ClaimValidationError) as caught:
                sync_verifier.verify(acme, claims=[in_tenant("globex")])
            assert caught.value.claim == "in_tenant"
            with pytest.raises(ClaimValidationError):
                sync_verifier.verify(impersonation, claims=[not_impersonated()])
            assert sync_verifier.verify(impersonation).actor == "root"
    finally:
        server.stop()


async def test_the_async_verifier_checks_claims_too(
    make_manager: Callable[..., SessionManager], clock: Any
) -> None:
    issuer = make_manager(signing_algorithm="EdDSA")
    server = JwksServer(issuer)
    try:
        token = issuer.create_new_session("alice", tenant_id="acme").access_token.value
        async with AsyncRemoteVerifier(server.url, clock=clock) as verifier:
            assert (await verifier.verify(token, claims=[in_tenant("acme")])).user_id == "alice"
            with pytest.raises(ClaimValidationError):
                await verifier.verify(token, claims=[in_tenant("globex")])
    finally:
        server.stop()


# --- Django's management commands ------------------------------------------------------------


def test_django_commands_revoke_a_users_sessions_in_a_tenant_and_a_whole_tenant(
    make_config: Callable[..., Config], clock: Any
) -> None:
    django_setup()
    from django.core.management import CommandError, call_command

    from sessionward.integrations import django as sw_django

    manager = SessionManager(make_config(**EXAMPLE_SETTINGS), clock=clock)
    sw_django.configure(manager)
    try:
        manager.create_tables()
        for _ in range(2):
            manager.create_new_session("gina", tenant_id="acme")
        manager.create_new_session("gina")
        manager.create_new_session("hal", tenant_id="acme")
        globex = manager.create_new_session("ida", tenant_id="globex")

        out = io.StringIO()
        call_command("sessionward_revoke_user", "gina", "--tenant", "acme", stdout=out)
        assert out.getvalue().strip() == "revoked 2 session(s)"
        assert manager.get_all_session_handles_for_user("gina", tenant_id="acme") == []
        assert len(manager.get_all_session_handles_for_user("gina")) == 1
        out = io.StringIO()
        call_command("sessionward_revoke_user", "gina", stdout=out)  # the default tenant
        assert out.getvalue().strip() == "revoked 1 session(s)"

        out = io.StringIO()
        call_command("sessionward_revoke_tenant", "acme", stdout=out)
        assert out.getvalue().strip() == "revoked 1 session(s) of tenant 'acme'"
        assert manager.get_all_session_handles_for_user("hal", tenant_id="acme") == []
        assert manager.get_all_session_handles_for_user("ida", tenant_id="globex") == [
            globex.session.handle
        ]

        for command, arguments in [
            ("sessionward_revoke_tenant", ["bad tenant"]),
            ("sessionward_revoke_user", ["gina", "--tenant", "bad tenant"]),
        ]:
            with pytest.raises(CommandError, match="must be 1 to 64 letters"):
                call_command(command, *arguments, stdout=io.StringIO())
    finally:
        sw_django.configure(None)
        manager.close()
