"""``SessionwardMiddleware``: the refresh endpoint, pending writes, and error answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from sessionward._errors import SessionError
from sessionward._operations.context import Context, Emissions, Operation
from sessionward._storage.execution import StoreFlow
from sessionward._transport import FeedReply, Outgoing, Transport, script_reply
from sessionward.integrations.django import (
    _OUT_ATTR,
    _RequestAdapter,
    _ResponseAdapter,
    arun,
    error_response,
    run,
)
from sessionward.integrations.django._settings import get_transport

__all__ = ["SessionwardMiddleware"]

GetResponse = Callable[[HttpRequest], Any]


def _answer(result: Any) -> HttpResponseBase:
    """The response of a route the middleware serves: the feed's as it is, the others' JSON."""
    if isinstance(result, FeedReply):
        return HttpResponse(result.body, status=result.status, content_type=result.content_type)
    return JsonResponse(result)


class SessionwardMiddleware:
    """Serves ``POST <refresh_path>``, ``GET <jwks_path>``, ``GET <revocation_feed_path>`` and
    (when set) the browser client at ``GET <client_script_path>``, answers the error family,
    applies each request's writes.

    Sync and async capable: Django picks the mode of the surrounding stack.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _own_flow(
        self, request: HttpRequest, out: Outgoing, transport: Transport
    ) -> Operation[[], Any] | None:
        """The flow of a route the middleware serves itself, or None for the app's routes."""
        config = transport.config
        if request.method == "POST" and request.path == config.refresh_path:
            adapter = _RequestAdapter(request)

            def refresh(context: Context, emissions: Emissions) -> StoreFlow[dict[str, str]]:
                """The refresh, answered with the endpoint's ``{"status": "OK"}``."""
                yield from transport.refresh_session(context, emissions, adapter, out)
                return {"status": "OK"}

            return refresh
        if request.method in ("GET", "HEAD") and request.path == config.jwks_path:

            def jwks(context: Context, emissions: Emissions) -> StoreFlow[Any]:
                return transport.jwks(context, emissions, out)

            return jwks
        path = config.revocation_feed_path
        if path is not None and request.method in ("GET", "HEAD") and request.path == path:
            adapter = _RequestAdapter(request)

            def feed(context: Context, emissions: Emissions) -> StoreFlow[FeedReply]:
                return transport.revocation_feed(context, emissions, adapter, out)

            return feed
        return None

    @staticmethod
    def _client_script(request: HttpRequest, transport: Transport) -> HttpResponse | None:
        """The browser client, if this request asks for it (no database, so no flow)."""
        path = transport.config.client_script_path
        if path is None or request.method not in ("GET", "HEAD") or request.path != path:
            return None
        reply = script_reply(request.GET.get("v"), request.headers.get("If-None-Match"))
        response = HttpResponse(reply.body, status=reply.status)
        for name, value in reply.headers.items():
            response[name] = value
        return response

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        transport = get_transport()
        script = self._client_script(request, transport)
        if script is not None:
            return script
        out = Outgoing()
        setattr(request, _OUT_ATTR, out)
        flow = self._own_flow(request, out, transport)
        if flow is not None:
            try:
                response: HttpResponseBase = _answer(run(flow))
            except SessionError as error:
                response = error_response(request, error)
        else:
            response = self.get_response(request)
        if out:  # an unprotected route owes nothing: no adapter to build
            out.apply(_ResponseAdapter(response))
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        transport = get_transport()
        script = self._client_script(request, transport)
        if script is not None:
            return script
        out = Outgoing()
        setattr(request, _OUT_ATTR, out)
        flow = self._own_flow(request, out, transport)
        if flow is not None:
            try:
                response: HttpResponseBase = _answer(await arun(flow))
            except SessionError as error:
                response = error_response(request, error)
        else:
            response = await self.get_response(request)
        if out:  # an unprotected route owes nothing: no adapter to build
            out.apply(_ResponseAdapter(response))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        """A view (or the decorator) raised one of the error family: answer it."""
        if isinstance(exception, SessionError):
            return error_response(request, exception)
        return None
