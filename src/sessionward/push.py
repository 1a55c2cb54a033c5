"""Push each revocation to receivers as a Security Event Token (RFC 8935 push delivery), for
services that cannot poll the revocation feed (docs/microservices.md#pushed-revocations).

A pusher is a hook: pass ``pusher.on_revocation_recorded`` as
``SessionHooks(on_revocation_recorded=...)``. Each revocation this process makes (once, however
many sessions it ends) is queued for every receiver, signed by the manager
(``security_event_token``: a CAEP ``session-revoked`` SET with the deployment's asymmetric key,
which receivers check with the JWKS) and POSTed with ``Content-Type: application/secevent+jwt``.

- A receiver's 2xx delivers it; a 4xx other than 429 means the receiver refuses this SET (RFC
  8935 §2.3): logged and dropped, never retried; a 5xx, a 429 or a network failure is retried
  with exponential backoff (1 s, 2 s, 4 s, ... at most ``max_backoff``), up to ``max_attempts``.
- The queue is bounded (``max_queue``): when it is full the oldest delivery is dropped, logged.
  Receivers that also poll the feed lose nothing; the queue only bounds memory.
- No thread. :class:`AsyncSetPusher` delivers on an asyncio task it starts when something is
  queued and that ends when the queue is empty. :class:`SetPusher` (sync) delivers when its
  :meth:`~SetPusher.push` is called: from a scheduler, or after each response.

Needs ``pip install 'sessionward[client]'`` (httpx). Logged on ``sessionward.push``; tokens and
bearer secrets never are.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sessionward._errors import ConfigError, GeneralError
from sessionward._events import RevocationRecorded
from sessionward._remote.fetching import import_httpx

if TYPE_CHECKING:
    import httpx

    from sessionward._manager import AsyncSessionManager, SessionManager

logger = logging.getLogger("sessionward.push")

SET_CONTENT_TYPE = "application/secevent+jwt"


@dataclass(slots=True)
class _Delivery:
    """One revocation owed to one receiver."""

    receiver: str
    event: RevocationRecorded
    token: str | None = field(default=None, repr=False)  # signed at the first attempt
    attempts: int = 0
    due: float = 0.0  # monotonic seconds


class _Pusher:
    """The queue and the delivery rules, shared by the sync and the async pusher."""

    def __init__(
        self,
        receivers: Mapping[str, str | None] | Sequence[str],
        issuer: str,
        *,
        max_queue: int = 10_000,
        max_attempts: int = 8,
        max_backoff: float = 60.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        chosen = dict(receivers) if isinstance(receivers, Mapping) else dict.fromkeys(receivers)
        if not chosen:
            raise ConfigError("receivers must name at least one URL")
        for url, secret in chosen.items():
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise ConfigError(f"each receiver must be an http(s) URL, not {url!r}")
            if secret is not None and (not isinstance(secret, str) or not secret.isprintable()):
                raise ConfigError("a receiver's bearer secret must be printable text or None")
        if not isinstance(issuer, str) or not issuer:
            raise ConfigError("issuer (the SETs' iss) must be a non-empty string")
        if type(max_queue) is not int or not 1 <= max_queue <= 10_000_000:
            raise ConfigError(f"max_queue must be 1 to 10,000,000, not {max_queue!r}")
        if type(max_attempts) is not int or not 1 <= max_attempts <= 100:
            raise ConfigError(f"max_attempts must be 1 to 100, not {max_attempts!r}")
        self.receivers = chosen
        self.issuer = issuer
        self.max_attempts = max_attempts
        self.max_backoff = float(max_backoff)
        self.timeout = float(timeout)
        self.clock = clock
        self._queue: deque[_Delivery] = deque()
        self._max_queue = max_queue
        self._lock = threading.Lock()  # the hook and push() may run in different threads
        self.delivered = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queue)

    def _enqueue(self, event: RevocationRecorded) -> None:
        now = self.clock()
        with self._lock:
            for receiver in self.receivers:
                if len(self._queue) >= self._max_queue:
                    lost = self._queue.popleft()
                    self.dropped += 1
                    logger.warning(
                        "sessionward: push queue full (%d): dropped a revocation for %s",
                        self._max_queue,
                        lost.receiver,
                    )
                self._queue.append(_Delivery(receiver, event, due=now))

    def _take_due(self) -> list[_Delivery]:
        """The deliveries due now, taken off the queue (in order)."""
        now = self.clock()
        with self._lock:
            due = [d for d in self._queue if d.due <= now]
            if due:
                self._queue = deque(d for d in self._queue if d.due > now)
            return due

    def _next_due(self) -> float | None:
        with self._lock:
            return min((d.due for d in self._queue), default=None)

    def _headers(self, receiver: str) -> dict[str, str]:
        headers = {"content-type": SET_CONTENT_TYPE, "accept": "application/json"}
        secret = self.receivers[receiver]
        if secret is not None:
            headers["authorization"] = f"Bearer {secret}"
        return headers

    def _outcome(self, delivery: _Delivery, status: int | None, problem: str) -> None:
        """Record what one POST got: ``status`` (None: it failed on the network)."""
        if status is not None and 200 <= status < 300:
            self.delivered += 1
            return
        if status is not None and 400 <= status < 500 and status != 429:
            self.dropped += 1
            logger.warning(
                "sessionward: %s refused a revocation SET (HTTP %d): dropped",
                delivery.receiver,
                status,
            )
            return
        delivery.attempts += 1
        if delivery.attempts >= self.max_attempts:
            self.dropped += 1
            logger.error(
                "sessionward: a revocation SET could not be pushed to %s after %d attempts (%s): "
                "dropped",
                delivery.receiver,
                delivery.attempts,
                problem,
            )
            return
        delivery.due = self.clock() + min(2.0 ** (delivery.attempts - 1), self.max_backoff)
        with self._lock:
            self._queue.append(delivery)


class SetPusher(_Pusher):
    """Push revocations from a :class:`~sessionward.SessionManager` (sync); deliveries happen
    when :meth:`push` is called. ``receivers``: URLs, or URL -> bearer secret (or None)."""

    def __init__(
        self,
        manager: SessionManager,
        receivers: Mapping[str, str | None] | Sequence[str],
        issuer: str,
        *,
        client: httpx.Client | None = None,
        **options: Any,
    ) -> None:
        super().__init__(receivers, issuer, **options)
        self.manager = manager
        self._client = client if client is not None else import_httpx().Client()

    def on_revocation_recorded(self, event: RevocationRecorded) -> None:
        """The hook: queue ``event`` for every receiver (no I/O)."""
        self._enqueue(event)

    def push(self) -> int:
        """Deliver what is due now (a POST each, bounded by ``timeout``); returns how many were
        delivered. Deliveries that failed are queued again with their backoff."""
        http = import_httpx()
        before = self.delivered
        for delivery in self._take_due():
            try:
                if delivery.token is None:
                    delivery.token = self.manager.security_event_token(delivery.event, self.issuer)
                response = self._client.post(
                    delivery.receiver,
                    content=delivery.token,
                    headers=self._headers(delivery.receiver),
                    timeout=self.timeout,
                )
            except http.HTTPError as exc:
                self._outcome(delivery, None, str(exc) or type(exc).__name__)
            except GeneralError as exc:  # no key to sign with, or the database
                self._outcome(delivery, None, str(exc))
            else:
                self._outcome(delivery, response.status_code, f"HTTP {response.status_code}")
        return self.delivered - before

    def close(self) -> None:
        self._client.close()


class AsyncSetPusher(_Pusher):
    """Push revocations from an :class:`~sessionward.AsyncSessionManager`: the hook queues and
    starts (if none runs) a task on the running event loop that delivers until the queue is
    empty, sleeping until the next retry is due."""

    def __init__(
        self,
        manager: AsyncSessionManager,
        receivers: Mapping[str, str | None] | Sequence[str],
        issuer: str,
        *,
        client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> None:
        super().__init__(receivers, issuer, **options)
        self.manager = manager
        self._client = client if client is not None else import_httpx().AsyncClient()
        self._task: asyncio.Task[None] | None = None

    def on_revocation_recorded(self, event: RevocationRecorded) -> None:
        """The hook: queue ``event`` for every receiver, and start delivering."""
        self._enqueue(event)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._deliver_all())

    async def _deliver_all(self) -> None:
        while True:
            await self.push()
            due = self._next_due()
            if due is None:
                return
            await asyncio.sleep(max(0.0, due - self.clock()))

    async def push(self) -> int:
        """See :meth:`SetPusher.push`."""
        http = import_httpx()
        before = self.delivered
        for delivery in self._take_due():
            try:
                if delivery.token is None:
                    delivery.token = await self.manager.security_event_token(
                        delivery.event, self.issuer
                    )
                response = await self._client.post(
                    delivery.receiver,
                    content=delivery.token,
                    headers=self._headers(delivery.receiver),
                    timeout=self.timeout,
                )
            except http.HTTPError as exc:
                self._outcome(delivery, None, str(exc) or type(exc).__name__)
            except GeneralError as exc:
                self._outcome(delivery, None, str(exc))
            else:
                self._outcome(delivery, response.status_code, f"HTTP {response.status_code}")
        return self.delivered - before

    async def drain(self) -> None:
        """Wait for the delivering task, if one runs (tests, a graceful shutdown)."""
        if self._task is not None:
            await self._task

    async def aclose(self) -> None:
        await self._client.aclose()


__all__ = ["AsyncSetPusher", "SetPusher"]
