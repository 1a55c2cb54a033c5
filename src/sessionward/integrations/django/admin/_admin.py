"""The sessions' admin: one page, a custom changelist whose rows and actions go through the
manager (never the ORM)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from sessionward._errors import InvalidArgumentError
from sessionward._models import DEFAULT_TENANT, SessionSummary
from sessionward.integrations.django import get_manager
from sessionward.integrations.django.admin._models import Session

__all__ = ["SessionAdmin"]

REVOKE_SELECTED = "revoke_selected"
SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
MAX_INPUT = 1024  # longer than any user id, tenant or handle: refused before the manager


def _when(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _row(summary: SessionSummary) -> dict[str, Any]:
    return {
        "handle": summary.handle,
        "user_id": summary.user_id,
        "tenant_id": summary.tenant_id,
        "device": summary.device or summary.user_agent,
        "client_ip": summary.client_ip,
        "created": _when(summary.created_at),
        "last_active": _when(summary.last_refreshed_at),
        "expires": _when(summary.expires_at),
        "impersonated_by": summary.impersonated_by,
    }


def _text(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > MAX_INPUT:
        raise InvalidArgumentError(f"at most {MAX_INPUT} characters")
    return text


class SessionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: search one user's sessions in a tenant; revoke some, or all of them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _staff_with(self, request: HttpRequest, permission: str) -> bool:
        user: Any = request.user
        return bool(
            user.is_active
            and user.is_staff
            and user.has_perm(f"{self.opts.app_label}.{permission}_session")
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._staff_with(request, "view")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return self._staff_with(request, "revoke")

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._act(request)
        rows: list[dict[str, Any]] = []
        error = None
        try:
            user_id = _text(request.GET.get("q"))
            tenant = _text(request.GET.get("tenant")) or DEFAULT_TENANT
            if user_id:
                listed = get_manager().list_sessions_for_user(user_id, tenant_id=tenant)
                rows = [_row(summary) for summary in listed]
        except InvalidArgumentError as exc:
            user_id, tenant, error = "", DEFAULT_TENANT, str(exc)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Sessions",
            "subtitle": f"{user_id} in tenant {tenant}" if user_id else None,
            "query": user_id,
            "tenant": tenant,
            "rows": rows,
            "error": error,
            "can_revoke": self.has_revoke_permission(request),
            "revoke_selected": REVOKE_SELECTED,
            "sign_out_everywhere": SIGN_OUT_EVERYWHERE,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "sessionward_admin/sessions.html", context)

    def _act(self, request: HttpRequest) -> HttpResponse:
        """An action, then back to the same search (post/redirect/get)."""
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        manager = get_manager()
        user_id = tenant = ""
        try:
            user_id = _text(request.POST.get("user_id"))
            tenant = _text(request.POST.get("tenant")) or DEFAULT_TENANT
            action = request.POST.get("action")
            if not user_id:
                messages.error(request, "Search for a user first.")
            elif action == REVOKE_SELECTED:
                # Only this user's sessions in this tenant: a stale or forged form ends no other.
                theirs = set(manager.get_all_session_handles_for_user(user_id, tenant_id=tenant))
                chosen = [h for h in request.POST.getlist("_selected_action") if h in theirs]
                if not chosen:
                    messages.warning(request, "No sessions selected: nothing was revoked.")
                else:
                    ended = sum(manager.revoke_session(h, reason="admin") for h in chosen)
                    messages.success(request, f"Revoked {ended} session(s) of {user_id}.")
            elif action == SIGN_OUT_EVERYWHERE:
                ended = manager.revoke_all_sessions_for_user(user_id, tenant_id=tenant)
                messages.success(
                    request,
                    f"Signed {user_id} out everywhere in tenant {tenant}: "
                    f"{ended} session(s) ended.",
                )
            else:
                messages.error(request, "Choose an action.")
        except InvalidArgumentError as exc:
            messages.error(request, str(exc))
        query = urlencode({"q": user_id, "tenant": tenant or DEFAULT_TENANT})
        return HttpResponseRedirect(f"{request.path}?{query}")


admin.site.register(Session, SessionAdmin)
