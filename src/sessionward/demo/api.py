"""The small JSON API every example app serves (and the demo reuses), for FastAPI.

``app.include_router(demo_router())`` after :meth:`Sessionward.install
<sessionward.integrations.starlette.Sessionward.install>`. Routes: ``POST /login``, ``GET /me``,
``POST /like``, ``POST /logout``, ``GET``/``PUT /session-data``, ``GET /sessions``,
``POST /revoke-all``, and the devices page's ``GET /devices``, ``POST /devices/revoke``
(``{"sessionHandle": …}``) and ``POST /devices/revoke-others``; the refresh endpoint comes from
``install``. Every mutating route except ``/login`` checks anti-CSRF (the default for non-GET
methods).

Tenants, "remember me" and impersonation: ``/login`` takes ``tenantId`` (default the default
tenant) and ``rememberMe`` (default true; false gives cookies that end with the browser);
``GET /t/{tenant}/whoami`` accepts only a session of that tenant; ``POST /admin/impersonate``
(``{"userId": …, "tenantId"?: …, "ttl"?: …}``, role ``admin``) answers with the tokens of a
session acting as that user, and ``POST /change-password`` refuses such a session.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from sessionward._claims import fresh_login, has_role, not_impersonated
from sessionward._models import DEFAULT_TENANT
from sessionward._validation import parse_json_body
from sessionward.integrations.starlette import (
    AsyncRequestSession,
    create_impersonation_session,
    create_new_session,
    integration,
    verify_session,
)

__all__ = ["AdminDep", "FreshDep", "SessionDep", "demo_router"]

MAX_USER_ID_LENGTH = 128

# The one-line protection idiom: a parameter annotated with this type.
SessionDep = Annotated[AsyncRequestSession, Depends(verify_session())]
AdminDep = Annotated[AsyncRequestSession, Depends(verify_session(claims=[has_role("admin")]))]
FreshDep = Annotated[AsyncRequestSession, Depends(verify_session(claims=[fresh_login(300)]))]
# The role is the demo's own rule (anyone may give it to themselves with POST /role); an
# impersonation session may not start another one.
_ImpersonatorDep = Annotated[
    AsyncRequestSession, Depends(verify_session(claims=[has_role("admin"), not_impersonated()]))
]
_InPersonDep = Annotated[AsyncRequestSession, Depends(verify_session(claims=[not_impersonated()]))]
_TenantDep = Annotated[AsyncRequestSession, Depends(verify_session(tenant_param="tenant"))]


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _bad_request(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


NOT_JSON = (
    "the body must be sent as Content-Type: application/json (a cross-site form cannot, "
    "which is what protects this route from login CSRF)"
)


def _who(session: AsyncRequestSession) -> dict[str, Any]:
    """Who the session is: what a frontend shows (a banner when ``impersonatedBy`` is set)."""
    return {
        "userId": session.user_id,
        "tenantId": session.tenant_id,
        "persistent": session.persistent,
        "impersonatedBy": session.actor,
        "sessionHandle": session.handle,
    }


def demo_router() -> APIRouter:
    """A fresh router with the example API."""
    router = APIRouter()

    @router.post("/login")
    async def login(request: Request) -> Any:
        if not _is_json(request):
            return _bad_request(NOT_JSON, 415)
        body = parse_json_body(await request.body())
        fields = body if isinstance(body, dict) else {}
        user_id = fields.get("userId")
        if not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_USER_ID_LENGTH:
            return _bad_request("userId must be a non-empty string of at most 128 characters")
        remember = fields.get("rememberMe", True)
        if not isinstance(remember, bool):
            return _bad_request("rememberMe must be true or false")
        session = await create_new_session(
            request,
            user_id,
            {"userId": user_id, "role": "tester"},
            {"visits": 0},
            tenant_id=fields.get("tenantId", DEFAULT_TENANT),  # a bad one: 400
            persistent=remember,
        )
        return _who(session)

    @router.get("/me")
    async def me(session: SessionDep) -> Any:
        return {**_who(session), "jwtPayload": session.jwt_payload}

    @router.get("/t/{tenant}/whoami")
    async def whoami_in_tenant(session: _TenantDep) -> Any:
        return {"userId": session.user_id, "tenantId": session.tenant_id}

    @router.post("/admin/impersonate")
    async def impersonate(request: Request, session: _ImpersonatorDep) -> Any:
        body = parse_json_body(await request.body())
        fields = body if isinstance(body, dict) else {}
        user_id = fields.get("userId")
        if not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_USER_ID_LENGTH:
            return _bad_request("userId must be a non-empty string of at most 128 characters")
        acting = await create_impersonation_session(  # a bad tenantId or ttl: 400
            request,
            session.user_id,
            user_id,
            {"userId": user_id, "role": "tester"},
            {"visits": 0},
            tenant_id=fields.get("tenantId", session.tenant_id),
            ttl=fields.get("ttl", 3600),
        )
        return _who(acting)

    @router.post("/change-password", status_code=204)
    async def change_password(session: _InPersonDep) -> None:
        return None  # a stub: the check that matters is not_impersonated()

    @router.post("/like")
    async def like(session: SessionDep) -> Any:
        return {"liked": True, "userId": session.user_id}

    @router.post("/logout")
    async def logout(session: SessionDep) -> Any:
        await session.revoke()
        return {"status": "OK"}

    @router.get("/session-data")
    async def get_data(session: SessionDep) -> Any:
        return {"data": await session.get_session_data()}

    @router.put("/session-data")
    async def put_data(request: Request, session: SessionDep) -> Any:
        body = parse_json_body(await request.body())  # InvalidArgumentError: 400 or 413
        await session.update_session_data(body)
        return {"data": body}

    @router.get("/sessions")
    async def sessions(request: Request, session: SessionDep) -> Any:
        manager = integration(request).manager
        handles = manager.get_all_session_handles_for_user
        return {"sessions": await handles(session.user_id, tenant_id=session.tenant_id)}

    @router.get("/devices")
    async def devices(session: SessionDep) -> Any:
        return {"devices": [s.as_json() for s in await session.list_sessions()]}

    @router.post("/devices/revoke-others")
    async def revoke_others(session: SessionDep) -> Any:
        return {"revoked": await session.revoke_other_sessions()}

    @router.post("/devices/revoke")
    async def revoke_device(request: Request, session: SessionDep) -> Any:
        body = parse_json_body(await request.body())
        handle = body.get("sessionHandle") if isinstance(body, dict) else None
        if not isinstance(handle, str) or not handle:
            return _bad_request("sessionHandle must be a non-empty string")
        current = handle == session.handle
        return {"revoked": await session.revoke_session(handle), "current": current}

    # Claims mid-session and claim checks. /role is for trying it out: in a real application
    # an administrator changes roles, and /reauth checks a password first.
    @router.post("/role")
    async def set_role(request: Request, session: SessionDep) -> Any:
        body = parse_json_body(await request.body())
        role = body.get("role") if isinstance(body, dict) else None
        if role is not None and not isinstance(role, str):
            return _bad_request("role must be a string or null")
        await session.merge_into_jwt_payload({"role": role}, every_session=True)
        return {"jwtPayload": session.jwt_payload}

    @router.get("/admin")
    async def admin(session: AdminDep) -> Any:
        return {"admin": True, "userId": session.user_id}

    @router.post("/reauth")
    async def reauth(session: SessionDep) -> Any:
        await session.mark_fresh()
        return {"status": "OK"}

    @router.post("/sensitive")
    async def sensitive(session: FreshDep) -> Any:
        return {"done": True}

    @router.post("/revoke-all")
    async def revoke_all(request: Request, session: SessionDep) -> Any:
        manager = integration(request).manager
        count = await manager.revoke_all_sessions_for_user(
            session.user_id, tenant_id=session.tenant_id
        )
        await session.revoke()  # already gone; this clears the caller's cookies
        return {"revoked": count}

    return router
