"""Security events: typed records of what happened to a session, and the hooks that receive them.

An application passes :class:`SessionHooks` to a manager to log, alert or audit. Hooks are
called after the operation took effect; a hook may be sync, or async with the async manager. A
hook that raises never breaks the request: the error is logged and the operation's result
stands. Events carry no token, only handles, user ids, tenants, actors and client context.

Every event names the session's tenant and, for an impersonation session, its ``actor`` (who
acted as the user): an audit log of impersonations can be built from the hooks alone.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from sessionward._errors import ConfigError, TheftReason, _Reason
from sessionward._models import DEFAULT_TENANT, ClientContext

logger = logging.getLogger("sessionward")


class RevokeReason(_Reason):
    """Why a session was revoked; the ``reason`` of :class:`SessionRevoked`. A ``str`` enum, like
    every reason: ``RevokeReason.LOGOUT == "logout"``."""

    LOGOUT = "logout"  # the user signed out (or out of their other sessions)
    ADMIN = "admin"  # the application revoked it (the manager's default)
    THEFT = "theft"  # a spent refresh token came back and revoke_session_on_theft is on
    EXPIRY = "expiry"
    EVICTED = "evicted"  # a login past max_sessions_per_user signed it out


# The values a caller may pass where a RevokeReason is taken: the members or their strings.
RevokeReasonName = Literal["logout", "admin", "theft", "expiry", "evicted"]


@dataclass(frozen=True, slots=True)
class SessionCreated:
    session_handle: str
    user_id: str
    client: ClientContext | None
    proof_bound: bool  # the session is bound to a key (proof of possession)
    tenant_id: str = DEFAULT_TENANT
    actor: str | None = None  # who acts as the user, for an impersonation session


@dataclass(frozen=True, slots=True)
class SessionRefreshed:
    session_handle: str
    user_id: str
    client: ClientContext | None
    repeated: bool  # a duplicate within the grace window: the same tokens were served again
    tenant_id: str = DEFAULT_TENANT
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class SessionRevoked:
    session_handle: str
    user_id: str | None  # None when the operation did not learn it (revoke by handle)
    reason: RevokeReason
    tenant_id: str | None = None  # None when the operation did not learn it
    actor: str | None = None

    def __post_init__(self) -> None:
        # A string reason (from code written before RevokeReason was an enum) becomes its member.
        object.__setattr__(self, "reason", RevokeReason(self.reason))


@dataclass(frozen=True, slots=True)
class RevocationRecorded:
    """A revocation this process made: of one session (``session_handle``), or of every session
    of a user in a tenant, or of a tenant, created until ``sessions_created_until`` (ms). Each
    revocation is reported by the one process that made it, once, whatever the number of
    sessions it ends: what the revocation feed serves, and what an RFC 8935 push sender
    delivers, as the Security Event Token ``manager.security_event_token(event, issuer)`` signs
    (docs/microservices.md#revocations)."""

    session_handle: str | None
    user_id: str | None
    tenant_id: str  # the session's or user's tenant, or the revoked tenant
    sessions_created_until: int | None  # with a user or a tenant: which sessions it ends
    revoked_at: int  # milliseconds since the epoch


@dataclass(frozen=True, slots=True)
class TokenTheft:
    """A refresh token came back that its session had already moved past
    (docs/protocol.md#when-a-refresh-is-theft)."""

    session_handle: str
    user_id: str
    reason: TheftReason
    # A short, non-secret id of the replayed token: the first 16 hex digits of its H2, the
    # form the database stores, so it can be matched against audit records.
    token_fingerprint: str
    seconds_since_rotation: float | None  # since the replayed token was first rotated, if known
    first_client: ClientContext | None  # who presented that token (or the session's token) first
    replay_client: ClientContext | None  # who presented it now
    session_revoked: bool
    tenant_id: str = DEFAULT_TENANT
    actor: str | None = None


E = TypeVar("E")
Hook = Callable[[E], None] | Callable[[E], Awaitable[None]]


@dataclass(frozen=True)
class SessionHooks:
    """Callables that receive the events; each may be None."""

    on_token_theft: Hook[TokenTheft] | None = None
    on_session_created: Hook[SessionCreated] | None = None
    on_session_refreshed: Hook[SessionRefreshed] | None = None
    on_session_revoked: Hook[SessionRevoked] | None = None
    on_revocation_recorded: Hook[RevocationRecorded] | None = None

    def check(self, *, allow_async: bool) -> None:
        """ConfigError for a hook that is not callable, or an async one on the sync manager."""
        for name in (
            "on_token_theft",
            "on_session_created",
            "on_session_refreshed",
            "on_session_revoked",
            "on_revocation_recorded",
        ):
            hook = getattr(self, name)
            if hook is None:
                continue
            if not callable(hook):
                raise ConfigError(f"hooks.{name} must be callable; got {hook!r}")
            if not allow_async and inspect.iscoroutinefunction(hook):
                raise ConfigError(
                    f"hooks.{name} is async: use it with AsyncSessionManager, or pass a sync one"
                )


NO_HOOKS = SessionHooks()


@dataclass(frozen=True, slots=True)
class Emission(Generic[E]):
    """One event and the hook that should receive it."""

    hook: Hook[E] | None
    event: E


def emit_sync(emission: Emission[object]) -> None:
    """Call the hook; log (never raise) whatever goes wrong."""
    if emission.hook is None:
        return
    try:
        result = emission.hook(emission.event)
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise TypeError("an async hook cannot run on the sync manager")
    except Exception:
        logger.exception("sessionward: a %s hook raised", type(emission.event).__name__)


async def emit_async(emission: Emission[object]) -> None:
    """Call (and await, if async) the hook; log (never raise) whatever goes wrong."""
    if emission.hook is None:
        return
    try:
        result = emission.hook(emission.event)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("sessionward: a %s hook raised", type(emission.event).__name__)
