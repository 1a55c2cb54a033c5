"""The example's API again, under ``/drf/``, in idiomatic Django REST framework.

``SessionwardAuthentication`` (settings.py) puts the session on ``request.auth`` and the user on
``request.user``; ``ClaimPermission`` turns sessionward's claim checks into DRF permissions. The
answers are the protocol's, so a client written for the other examples works unchanged.
"""

from __future__ import annotations

from typing import Any

from django.urls import include, path
from rest_framework import routers, viewsets
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from django_app.views import who
from sessionward import has_role
from sessionward.integrations.drf import ClaimPermission


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def me(request: Request) -> Response:
    session = request.auth
    return Response({**who(session), "jwtPayload": session.jwt_payload, "user": str(request.user)})


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def like(request: Request) -> Response:
    return Response({"liked": True, "userId": request.user.pk})


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def set_role(request: Request) -> Response:
    """Merge a role into the payload: this response carries an access token with it."""
    data = request.data
    role = data.get("role") if isinstance(data, dict) else None
    if role is not None and not isinstance(role, str):
        return Response({"message": "role must be a string or null"}, status=400)
    request.auth.merge_into_jwt_payload({"role": role}, every_session=True)
    return Response({"jwtPayload": request.auth.jwt_payload})


@api_view(["GET"])
@permission_classes([IsAuthenticated, ClaimPermission(has_role("admin"))])
def admin(request: Request) -> Response:
    return Response({"admin": True, "userId": request.user.pk})


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def logout(request: Request) -> Response:
    request.auth.revoke()  # clears the cookies (or the header-mode tokens) on this response
    return Response({"status": "OK"})


@api_view(["GET"])
@permission_classes([AllowAny])
def public(request: Request) -> Response:
    """No session needed; one is used when present."""
    user = request.user if request.auth is not None else None
    return Response({"public": True, "userId": None if user is None else user.pk})


NOTES = [{"id": 1, "text": "first note"}, {"id": 2, "text": "second note"}]


class NoteViewSet(viewsets.ViewSet):
    """A ViewSet: ``GET /drf/notes/`` and ``GET /drf/notes/<id>/``, for signed-in users."""

    permission_classes = (IsAuthenticated,)

    def list(self, request: Request) -> Response:
        return Response({"userId": request.user.pk, "notes": NOTES})

    def retrieve(self, request: Request, pk: Any = None) -> Response:
        for note in NOTES:
            if str(note["id"]) == str(pk):
                return Response(note)
        return Response({"message": "no such note"}, status=404)


router = routers.SimpleRouter()
router.register("notes", NoteViewSet, basename="note")

urlpatterns = [
    path("me", me),
    path("like", like),
    path("role", set_role),
    path("admin", admin),
    path("logout", logout),
    path("public", public),
    path("", include(router.urls)),
]
