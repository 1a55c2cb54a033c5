"""A resource service: another FastAPI app that trusts the main app's access tokens.

It has no database and no secret, only the main app's JWKS URL::

    python examples/fastapi_app.py --port 8000 --signing-algorithm EdDSA
    python examples/resource_service.py --port 8001 --jwks-url http://127.0.0.1:8000/.well-known/jwks.json

A browser logged in at :8000 sends its ``sAccessToken`` cookie to :8001 too (cookies belong to
the host, not the port); a header-mode client sends ``Authorization: Bearer <access token>``.
When the token has expired, the answer is the main app's session-expired status, so the
frontend refreshes at :8000 and retries here. Revocations are seen here too: the JWK Set names
the main app's revocation feed, which the verifier reads every 2 s, so a logged-out session is
refused here within about 2 s (docs/microservices.md#revocations).
"""

import argparse
from typing import Annotated

from fastapi import Depends, FastAPI

from sessionward import AsyncRemoteVerifier, Session
from sessionward.integrations.starlette import RemoteSessions


def create_app(verifier: AsyncRemoteVerifier) -> FastAPI:
    """The resource service around ``verifier``."""
    app = FastAPI(title="sessionward resource service")
    remote = RemoteSessions(verifier)
    remote.install(app)
    SessionDep = Annotated[Session, Depends(remote.verify_session())]

    @app.get("/reports")
    async def reports(session: SessionDep) -> dict[str, object]:
        payload = session.jwt_payload if isinstance(session.jwt_payload, dict) else {}
        return {"user": session.user_id, "role": payload.get("role")}

    @app.post("/reports")
    async def add_report(session: SessionDep) -> dict[str, object]:
        return {"saved_for": session.user_id}

    # A tenant's reports: a token of another tenant is refused (403), checked here too.
    TenantDep = Annotated[Session, Depends(remote.verify_session(tenant_param="tenant"))]

    @app.get("/t/{tenant}/reports")
    async def tenant_reports(session: TenantDep) -> dict[str, object]:
        return {"user": session.user_id, "tenant": session.tenant_id}

    return app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--jwks-url", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = parse_args(argv)
    print(f"resource service: open http://{args.host}:{args.port}/reports", flush=True)
    uvicorn.run(
        create_app(AsyncRemoteVerifier(args.jwks_url)),
        host=args.host,
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
