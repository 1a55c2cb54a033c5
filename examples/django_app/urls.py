"""Routes of the Django example."""

from __future__ import annotations

from django.urls import include, path

from django_app import views

urlpatterns = [
    path("login", views.login),
    path("me", views.me),
    path("like", views.like),
    path("logout", views.logout),
    path("session-data", views.session_data),
    path("sessions", views.sessions),
    path("revoke-all", views.revoke_all),
    path("devices", views.devices),
    path("devices/revoke-others", views.revoke_others),
    path("devices/revoke", views.revoke_device),
    path("role", views.set_role),
    path("admin", views.admin),
    path("reauth", views.reauth),
    path("sensitive", views.sensitive),
    path("admin/impersonate", views.impersonate),
    path("change-password", views.change_password),
    path("t/<str:tenant>/whoami", views.whoami_in_tenant),
    path("drf/", include("django_app.drf_views")),  # the same API in Django REST framework
]
