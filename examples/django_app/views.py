"""Views of the Django example; ``me`` is async to show that async views are supported."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sessionward import DEFAULT_TENANT, fresh_login, has_role, not_impersonated
from sessionward.integrations import RequestSession, parse_json_body
from sessionward.integrations.django import (
    AsyncRequestSession,
    create_impersonation_session,
    create_new_session,
    get_manager,
    verify_session,
)

MAX_USER_ID_LENGTH = 128
BAD_USER_ID = "userId must be a non-empty string of at most 128 characters"


def who(session: RequestSession | AsyncRequestSession) -> dict[str, object]:
    """Who the session is: what a frontend shows (a banner when ``impersonatedBy`` is set)."""
    return {
        "userId": session.user_id,
        "tenantId": session.tenant_id,
        "persistent": session.persistent,
        "impersonatedBy": session.actor,
        "sessionHandle": session.handle,
    }


@require_POST
def login(request: HttpRequest) -> JsonResponse:
    if request.content_type != "application/json":  # a cross-site form cannot send JSON
        msg = "the body must be Content-Type: application/json"
        return JsonResponse({"message": msg}, status=415)
    body = parse_json_body(request.body)  # InvalidArgumentError: answered 400 or 413
    fields = body if isinstance(body, dict) else {}
    user_id = fields.get("userId")
    if not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_USER_ID_LENGTH:
        return JsonResponse({"message": BAD_USER_ID}, status=400)
    remember = fields.get("rememberMe", True)  # false: cookies that end with the browser
    if not isinstance(remember, bool):
        return JsonResponse({"message": "rememberMe must be true or false"}, status=400)
    session = create_new_session(
        request,
        user_id,
        {"userId": user_id, "role": "tester"},
        {"visits": 0},
        tenant_id=fields.get("tenantId", DEFAULT_TENANT),  # a bad one: 400
        persistent=remember,
    )
    return JsonResponse(who(session))


@require_GET
@verify_session()
async def me(request: HttpRequest) -> JsonResponse:
    s = request.sessionward  # type: ignore[attr-defined]
    return JsonResponse({**who(s), "jwtPayload": s.jwt_payload})


@require_GET
@verify_session(tenant_param="tenant")
def whoami_in_tenant(request: HttpRequest, tenant: str) -> JsonResponse:
    s = request.sessionward  # type: ignore[attr-defined]
    return JsonResponse({"userId": s.user_id, "tenantId": s.tenant_id})


@require_POST
@verify_session()
def like(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"liked": True, "userId": request.sessionward.user_id})  # type: ignore[attr-defined]


@require_POST
@verify_session()
def logout(request: HttpRequest) -> JsonResponse:
    request.sessionward.revoke()  # type: ignore[attr-defined]
    return JsonResponse({"status": "OK"})


@require_http_methods(["GET", "PUT"])
@verify_session()
def session_data(request: HttpRequest) -> JsonResponse:
    session = request.sessionward  # type: ignore[attr-defined]
    if request.method == "GET":
        return JsonResponse({"data": session.get_session_data()})
    body = parse_json_body(request.body)
    session.update_session_data(body)
    return JsonResponse({"data": body})


@require_GET
@verify_session()
def sessions(request: HttpRequest) -> JsonResponse:
    session = request.sessionward  # type: ignore[attr-defined]
    handles = get_manager().get_all_session_handles_for_user(
        session.user_id, tenant_id=session.tenant_id
    )
    return JsonResponse({"sessions": handles})


@require_POST
@verify_session()
def revoke_all(request: HttpRequest) -> JsonResponse:
    session = request.sessionward  # type: ignore[attr-defined]
    count = get_manager().revoke_all_sessions_for_user(session.user_id, tenant_id=session.tenant_id)
    session.revoke()  # already gone; this clears the caller's cookies
    return JsonResponse({"revoked": count})


@require_GET
@verify_session()
def devices(request: HttpRequest) -> JsonResponse:
    session = request.sessionward  # type: ignore[attr-defined]
    return JsonResponse({"devices": [s.as_json() for s in session.list_sessions()]})


@require_POST
@verify_session()
def revoke_others(request: HttpRequest) -> JsonResponse:
    session = request.sessionward  # type: ignore[attr-defined]
    return JsonResponse({"revoked": session.revoke_other_sessions()})


@require_POST
@verify_session()
def revoke_device(request: HttpRequest) -> JsonResponse:
    session = request.sessionward  # type: ignore[attr-defined]
    body = parse_json_body(request.body)
    handle = body.get("sessionHandle") if isinstance(body, dict) else None
    if not isinstance(handle, str) or not handle:
        return JsonResponse({"message": "sessionHandle must be a non-empty string"}, status=400)
    current = handle == session.handle
    return JsonResponse({"revoked": session.revoke_session(handle), "current": current})


# Claims mid-session and claim checks. /role is for trying it out: in a real application an
# administrator changes roles, and /reauth checks a password first.
@require_POST
@verify_session()
def set_role(request: HttpRequest) -> JsonResponse:
    session = request.sessionward  # type: ignore[attr-defined]
    body = parse_json_body(request.body)
    role = body.get("role") if isinstance(body, dict) else None
    if role is not None and not isinstance(role, str):
        return JsonResponse({"message": "role must be a string or null"}, status=400)
    session.merge_into_jwt_payload({"role": role}, every_session=True)
    return JsonResponse({"jwtPayload": session.jwt_payload})


@require_GET
@verify_session(claims=[has_role("admin")])
def admin(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"admin": True, "userId": request.sessionward.user_id})  # type: ignore[attr-defined]


@require_POST
@verify_session()
async def reauth(request: HttpRequest) -> JsonResponse:
    await request.sessionward.mark_fresh()  # type: ignore[attr-defined]
    return JsonResponse({"status": "OK"})


@require_POST
@verify_session(claims=[fresh_login(300)])
def sensitive(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"done": True})


# Impersonation: support staff (here, by the demo's rule, anyone with the role "admin") act as
# a user; the answer carries the impersonation's tokens, so this client becomes that user. An
# impersonation session may not start another one, nor change a password.
@require_POST
@verify_session(claims=[has_role("admin"), not_impersonated()])
def impersonate(request: HttpRequest) -> JsonResponse:
    session = request.sessionward  # type: ignore[attr-defined]
    body = parse_json_body(request.body)
    fields = body if isinstance(body, dict) else {}
    user_id = fields.get("userId")
    if not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_USER_ID_LENGTH:
        return JsonResponse({"message": BAD_USER_ID}, status=400)
    acting = create_impersonation_session(  # a bad tenantId or ttl: 400
        request,
        session.user_id,
        user_id,
        {"userId": user_id, "role": "tester"},
        {"visits": 0},
        tenant_id=fields.get("tenantId", session.tenant_id),
        ttl=fields.get("ttl", 3600),
    )
    return JsonResponse(who(acting))


@require_POST
@verify_session(claims=[not_impersonated()])
def change_password(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)  # a stub: the check that matters is not_impersonated()
