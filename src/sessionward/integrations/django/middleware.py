"""``SessionwardMiddleware``: the refresh endpoint, pending writes, and error answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from sessionward.errors import SessionError
from sessionward.integrations.django import (
    _OUT_ATTR,
    _RequestAdapter,
    _ResponseAdapter,
    arun,
    error_response,
    get_transport,
    run,
)
from sessionward.transport import Outgoing

GetResponse = Callable[[HttpRequest], Any]


class SessionwardMiddleware:
    """Serves ``POST <refresh_path>``, answers the error family, applies each request's writes.

    Sync and async capable: Django picks the mode of the surrounding stack.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _is_refresh(self, request: HttpRequest) -> bool:
        return request.method == "POST" and request.path == get_transport().config.refresh_path

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        out = Outgoing()
        setattr(request, _OUT_ATTR, out)
        if self._is_refresh(request):
            try:
                run(get_transport().refresh_session(_RequestAdapter(request), out))
                response: HttpResponseBase = JsonResponse({"status": "OK"})
            except SessionError as error:
                response = error_response(request, error)
        else:
            response = self.get_response(request)
        out.apply(_ResponseAdapter(response))
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        out = Outgoing()
        setattr(request, _OUT_ATTR, out)
        if self._is_refresh(request):
            try:
                await arun(get_transport().refresh_session(_RequestAdapter(request), out))
                response: HttpResponseBase = JsonResponse({"status": "OK"})
            except SessionError as error:
                response = error_response(request, error)
        else:
            response = await self.get_response(request)
        out.apply(_ResponseAdapter(response))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        """A view (or the decorator) raised one of the error family: answer it."""
        if isinstance(exception, SessionError):
            return error_response(request, exception)
        return None
