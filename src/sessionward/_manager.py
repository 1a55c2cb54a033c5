"""SessionManager (sync) and AsyncSessionManager: the operations, a store, and the hooks together.

Every operation is a flow of :mod:`sessionward._operations`, run on this manager's store by the
sync or the async driver of :mod:`sessionward._flows`; the two facades add nothing but the
driving and the hooks. ``_drive`` is the one place where either does so, for its own methods and
for the web integrations, whose transport flows compose the operation flows (see
docs/design.md, "Subclassing a manager"). The verify path (``get_session`` for an access token
without ``prt`` and no revocation lookup) is answered before any flow starts: it costs one HMAC
and one JSON parse, and no database call.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypedDict, TypeVar

from sqlalchemy import Engine, MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from sessionward import _security_log as security_log
from sessionward._config import Algorithm, Config
from sessionward._errors import ConfigError
from sessionward._events import (
    NO_HOOKS,
    RevocationRecorded,
    RevokeReason,
    RevokeReasonName,
    SessionHooks,
    emit_async,
    emit_sync,
)
from sessionward._flows import arun_flow, run_flow
from sessionward._models import (
    DEFAULT_TENANT,
    JSON,
    ClientContext,
    PublishedKeys,
    SessionSummary,
    SessionTokens,
    VerifiedSession,
)
from sessionward._operations import listing, login, promotion, revocation, rotation
from sessionward._operations import payload as payloads
from sessionward._operations.context import Clock, Context, Emissions, Operation, ready
from sessionward._proof import ProofOfPossession
from sessionward._storage.engines import is_sqlite, make_async_engine, make_sync_engine, resolve_url
from sessionward._storage.execution import AsyncStore, SyncStore
from sessionward._storage.sql import AsyncSqlStore, SyncSqlStore, ThreadedStore
from sessionward._tokens.keys import SigningKey

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

T = TypeVar("T")
P = ParamSpec("P")


class PresentedBy(TypedDict, total=False):
    """Who presents a login or a refresh, and how: the keyword arguments ``client=`` and
    ``proof=`` of ``create_new_session`` and ``refresh_session``."""

    client: ClientContext | None  # the request's address and User-Agent
    proof: ProofOfPossession | None  # a DPoP proof of the client's key


EngineT = TypeVar("EngineT", Engine, AsyncEngine)
StoreT = TypeVar("StoreT", SyncStore, AsyncStore)


def build_config(config: Config | None, settings: dict[str, Any]) -> Config:
    """The Config given, or one built from keyword settings (not both)."""
    if config is not None and settings:
        raise ConfigError("pass either a Config or keyword settings, not both")
    if config is None:
        try:
            return Config(**settings)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None
    if not isinstance(config, Config):
        raise ConfigError(f"config must be a sessionward.Config; got {type(config).__name__}")
    return config


class ManagerBase(Generic[EngineT, StoreT]):
    """What both facades share: the constructor (configuration, hooks, the logic with its state,
    the store) and the verify path that needs no I/O."""

    _allow_async_hooks = False

    def __init__(
        self,
        config: Config | None = None,
        *,
        engine: EngineT | None = None,
        store: StoreT | None = None,
        clock: Clock = time.time,
        hooks: SessionHooks = NO_HOOKS,
        **settings: Any,
    ) -> None:
        self.config = build_config(config, settings)
        hooks.check(allow_async=self._allow_async_hooks)
        self.hooks = hooks
        self.clock = clock  # seconds since the epoch, like time.time
        self._context = Context(self.config, clock, hooks)
        self.store: StoreT = store if store is not None else self._own_store(engine)
        if self.config.key_wrapper is None:
            _warn_keys_in_the_clear(self.store)

    def _own_store(self, engine: EngineT | None) -> StoreT:
        """The store on ``engine`` (the application's own), or on one made from the config."""
        raise NotImplementedError

    @property
    def _metadata(self) -> MetaData:
        return self._context.queries.statements.metadata

    def _verified_without_io(
        self, access_token: str, anti_csrf_token: str | None
    ) -> VerifiedSession | None:
        return promotion.quick_get_session(self._context, access_token, anti_csrf_token)


def _warn_keys_in_the_clear(store: object) -> None:
    """A deployment on a database server without a key-encryption key: its backups and any SQL
    injection hold keys that mint sessions. (SQLite, the demo's and the tests', is exempt.)"""
    engine = getattr(store, "engine", None)
    dialect = getattr(getattr(engine, "dialect", None), "name", None)
    if dialect is not None and dialect != "sqlite":
        security_log.keys_in_the_clear(dialect)


class SessionManager(ManagerBase[Engine, SyncStore]):
    """Sessions for a synchronous application (Flask, Django, scripts). Thread-safe.

    ``SessionManager(refresh_path="/session/refresh")`` uses the embedded SQLite default; pass
    ``database_url=…`` (or ``engine=`` to share the application's SQLAlchemy engine).
    ``hooks=SessionHooks(...)`` receives the security events.
    """

    def _own_store(self, engine: Engine | None) -> SyncStore:
        if engine is not None:
            return SyncSqlStore(engine, self._metadata, autocommit=False)
        engine = make_sync_engine(self.config.database_url)
        return SyncSqlStore(engine, self._metadata, autocommit=True)

    def _drive(self, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``operation`` (a flow of :mod:`sessionward._operations`, or a transport flow
        composed of them) on the store, once; then hand its events to the hooks (also when it
        raised). Every method below, and every integration, drives its flow here."""
        emissions: Emissions = []
        try:
            return run_flow(operation(self._context, emissions, *args, **kwargs), self.store)
        finally:
            for emission in emissions:
                emit_sync(emission)

    def create_tables(self) -> None:
        """Create the tables and keys now instead of on first use."""
        self._drive(ready)

    def create_new_session(
        self,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
        *,
        tenant_id: str = DEFAULT_TENANT,
        persistent: bool = True,
        **by: Unpack[PresentedBy],
    ) -> SessionTokens:
        """Log ``user_id`` of ``tenant_id`` in: a new handle, a new token set, one new row.

        ``persistent=False`` ("remember me" off): the cookies last until the browser closes,
        and the session ends after ``session_idle_timeout`` without a refresh.
        ``client=``: who is logging in (stored, and compared by the grace window). ``proof=``: a
        DPoP proof whose key the session is then bound to (every refresh must prove it).

        Raises:
            InvalidArgumentError: a bad user or tenant id, payload or proof; the subclass
                DataTooLargeError for data past the size limits.
            GeneralError: the database cannot be used (unreachable, a timeout).
        """
        create, client, proof = login.create_new_session, by.get("client"), by.get("proof")
        return self._drive(
            create, user_id, jwt_payload, session_data, client, proof, tenant_id, persistent
        )

    def create_impersonation_session(
        self,
        actor_id: str,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
        *,
        tenant_id: str = DEFAULT_TENANT,
        ttl: int = 3600,
        client: ClientContext | None = None,
    ) -> SessionTokens:
        """Let ``actor_id`` (support staff) act as ``user_id``: a session whose access tokens
        carry ``act: {"sub": actor_id}`` (RFC 8693), which ends ``ttl`` seconds after it
        starts whatever its refreshes, never counts against ``max_sessions_per_user``, and is
        listed to the user marked ``impersonated_by``. Check who may call this yourself.

        Raises:
            InvalidArgumentError: a bad actor, user or tenant id, payload or ``ttl``.
            GeneralError: the database cannot be used (unreachable, a timeout).
        """
        return self._drive(
            login.create_impersonation_session,
            actor_id,
            user_id,
            jwt_payload,
            session_data,
            client,
            tenant_id,
            ttl,
        )

    def get_session(self, access_token: str, anti_csrf_token: str | None = None) -> VerifiedSession:
        """Verify an access token; send ``new_access_token`` back to the client when set.

        Raises:
            TryRefreshTokenError: the token is expired or invalid, or the anti-CSRF token is
                missing or wrong (``reason``): the client should refresh.
            UnauthorisedError: the session was revoked or has expired.
            GeneralError: the database cannot be used (unreachable, a timeout).
        """
        return self._verified_without_io(access_token, anti_csrf_token) or self._drive(
            promotion.get_session, access_token, anti_csrf_token
        )

    def refresh_session(self, refresh_token: str, **by: Unpack[PresentedBy]) -> SessionTokens:
        """Rotate: new access, refresh, id-refresh and anti-CSRF tokens.

        ``client=``: who presents the token (the grace window serves a duplicate only to the
        client that refreshed first). ``proof=``: required for a session bound to a key.

        Raises:
            UnauthorisedError: the token is invalid or expired, or its session is over: log in.
            TokenTheftDetectedError: a spent refresh token came back (``reason``,
                ``session_handle``, ``user_id``); the session is revoked unless
                ``revoke_session_on_theft`` is off.
            GeneralError: the database cannot be used (unreachable, a timeout).
        """
        return self._drive(
            rotation.refresh_session, refresh_token, by.get("client"), by.get("proof")
        )

    def revoke_session(
        self, session_handle: str, *, reason: RevokeReason | RevokeReasonName = RevokeReason.ADMIN
    ) -> bool:
        """Delete the session; True if it existed. ``reason`` goes to the revoked event."""
        return self._drive(revocation.revoke_session, session_handle, RevokeReason(reason))

    def revoke_all_sessions_for_user(self, user_id: str, *, tenant_id: str = DEFAULT_TENANT) -> int:
        """Delete all sessions of ``user_id`` in ``tenant_id``; returns how many there were."""
        return self._drive(revocation.revoke_all_sessions_for_user, user_id, tenant_id)

    def revoke_all_sessions_for_tenant(self, tenant_id: str) -> int:
        """Delete every session of ``tenant_id`` (offboarding a customer): refused everywhere
        within the revocation bound; returns how many there were."""
        return self._drive(revocation.revoke_all_sessions_for_tenant, tenant_id)

    def revoke_other_sessions(
        self,
        user_id: str,
        keep_session_handle: str,
        *,
        reason: RevokeReason | RevokeReasonName = RevokeReason.LOGOUT,
        tenant_id: str = DEFAULT_TENANT,
    ) -> int:
        """Revoke all of a user's sessions in ``tenant_id`` but one ("sign out all other
        devices")."""
        return self._drive(
            revocation.revoke_other_sessions,
            user_id,
            keep_session_handle,
            RevokeReason(reason),
            tenant_id,
        )

    def get_all_session_handles_for_user(
        self, user_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> list[str]:
        """Handles of the user's live sessions in ``tenant_id``, most recently active first."""
        return self._drive(listing.get_all_session_handles_for_user, user_id, tenant_id)

    def list_sessions_for_user(
        self, user_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> list[SessionSummary]:
        """The user's live sessions in ``tenant_id``, most recently active first: times,
        client, device, and ``impersonated_by`` for an impersonation."""
        return self._drive(listing.list_sessions_for_user, user_id, tenant_id)

    def get_session_data(self, session_handle: str) -> JSON:
        """The server-side data of a session.

        Raises:
            UnauthorisedError: the session does not exist or has expired.
            GeneralError: the database cannot be used (unreachable, a timeout).
        """
        return self._drive(listing.get_session_data, session_handle)

    def update_session_data(self, session_handle: str, session_data: JSON) -> None:
        """Replace the server-side data of a session.

        Raises:
            UnauthorisedError: the session does not exist or has expired.
            InvalidArgumentError: data that is not JSON or past the limits (DataTooLargeError).
            GeneralError: the database cannot be used (unreachable, a timeout).
        """
        self._drive(listing.update_session_data, session_handle, session_data)

    def update_jwt_payload(
        self, session_handle: str, payload: JSON, *, access_token: str | None = None
    ) -> VerifiedSession:
        """Replace the session's jwt payload. Its next refresh carries it; ``access_token``
        (the caller's own, to answer this request with) comes back re-signed with it as
        ``new_access_token``.

        Raises:
            UnauthorisedError: the session does not exist or has expired.
            InvalidArgumentError: a payload that is not JSON or past the limits, or an
                ``access_token`` of another session.
            TryRefreshTokenError: the ``access_token`` to re-sign is invalid or expired.
            GeneralError: the database cannot be used (unreachable, a timeout).
        """
        return self._drive(payloads.update_jwt_payload, session_handle, payload, access_token)

    def merge_into_jwt_payload(
        self, session_handle: str, changes: dict[str, JSON], *, access_token: str | None = None
    ) -> VerifiedSession:
        """Set keys of the session's jwt payload (a None value removes the key); concurrent
        merges are all kept. Otherwise as :meth:`update_jwt_payload`."""
        return self._drive(payloads.merge_into_jwt_payload, session_handle, changes, access_token)

    def merge_into_jwt_payload_for_user(
        self,
        user_id: str,
        changes: dict[str, JSON],
        *,
        except_handle: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> int:
        """:meth:`merge_into_jwt_payload` for every live session of ``user_id`` in
        ``tenant_id`` (a role change), but ``except_handle``: each carries it from its next
        refresh, at most one access-token validity later. Returns how many were changed."""
        return self._drive(
            payloads.merge_into_jwt_payload_for_user, user_id, changes, except_handle, tenant_id
        )

    def mark_fresh(
        self, session_handle: str, *, access_token: str | None = None
    ) -> VerifiedSession:
        """Record that the user has just proved who they are again (password, passkey): the
        ``fresh_login`` check then counts from now. Otherwise as :meth:`update_jwt_payload`."""
        return self._drive(payloads.mark_fresh, session_handle, access_token)

    def purge_expired_sessions(self) -> int:
        """Delete expired sessions (and dead signing keys) now; returns the sessions deleted."""
        return self._drive(listing.purge_expired)

    def rotate_signing_key(self) -> str:
        """Start signing with a new key now; returns its kid. Old tokens keep verifying."""
        return self._drive(listing.rotate_signing_key)

    def retire_signing_key(self, kid: str) -> str:
        """After a leak: key ``kid`` stops verifying in every process within the revocation
        bound (``revocation_refresh_interval``, 2 s by default), so each access token it signed
        is refused (clients refresh), and the JWKS stops listing it. If it signs now, a new key
        signs at once. Returns the kid that signs now. InvalidArgumentError for an unknown kid."""
        return self._drive(revocation.retire_signing_key, kid)

    def rotate_refresh_key(self, *, retire_now: bool = False) -> str:
        """A new refresh-token key, which seals new refresh tokens from 65 s from now (every
        process learns it first); the older keys keep opening the tokens they sealed until
        those rotate or expire, so no session notices. ``retire_now=True``, after a leak of
        the key: every refresh-token key is replaced at once, no refresh token issued so far
        opens, and **every session must log in again** (access tokens keep verifying until
        they expire). Returns the new key's row name."""
        return self._drive(listing.rotate_refresh_key, retire_now)

    def rewrap_keys(self) -> int:
        """Seal every stored key with the key-encryption key that seals now (the first of
        ``key_encryption_key``): rows in the clear, and rows sealed with an older one. Returns
        how many rows were written; no key changes, no session is lost. ConfigError without a
        key-encryption key, or if a row opens with none of those given."""
        return self._drive(listing.rewrap_keys)

    def deployed_signing_algorithm(self) -> Algorithm | None:
        """The algorithm the stored keys sign with now (None before the first key); reads the
        key table without creating any key, whatever this manager's ``signing_algorithm``."""
        return self._drive(listing.deployed_signing_algorithm)

    def signing_keys(self) -> list[SigningKey]:
        """The signing keys in use, oldest first."""
        return self._drive(listing.signing_keys)

    def jwks(self) -> PublishedKeys:
        """The public keys other services verify access tokens with, and their cache lifetime."""
        return self._drive(listing.published_keys)

    def security_event_token(self, event: RevocationRecorded, issuer: str) -> str:
        """``event`` (from the ``on_revocation_recorded`` hook) as a Security Event Token signed
        with the deployment's asymmetric key (RFC 8417; a CAEP session-revoked event), for an
        RFC 8935 push to receivers that check it with the JWKS. ``issuer``: the ``iss``."""
        return self._drive(revocation.security_event_token, event, issuer)

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()

    def __enter__(self) -> SessionManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncSessionManager(ManagerBase[AsyncEngine, AsyncStore]):
    """Sessions for an asyncio application (Starlette, FastAPI): the same methods, awaited.

    On MySQL/MariaDB and PostgreSQL statements run on the driver's native async connection; on
    SQLite they run on a small thread pool that the manager owns. Hooks may be async.
    """

    _allow_async_hooks = True

    def _own_store(self, engine: AsyncEngine | None) -> AsyncStore:
        if engine is not None:
            return AsyncSqlStore(engine, self._metadata, autocommit=False)
        url = self.config.database_url
        if is_sqlite(resolve_url(url, asynchronous=False)):
            sync = SyncSqlStore(make_sync_engine(url), self._metadata, autocommit=True)
            return ThreadedStore(sync)
        return AsyncSqlStore(make_async_engine(url), self._metadata, autocommit=True)

    async def _drive(self, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``operation`` on the store, once; then hand its events to the hooks (also when
        it raised). See :meth:`SessionManager._drive`."""
        emissions: Emissions = []
        try:
            flow = operation(self._context, emissions, *args, **kwargs)
            return await arun_flow(flow, self.store)
        finally:
            for emission in emissions:
                await emit_async(emission)

    async def create_tables(self) -> None:
        """Create the tables and keys now instead of on first use."""
        await self._drive(ready)

    async def create_new_session(
        self,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
        *,
        tenant_id: str = DEFAULT_TENANT,
        persistent: bool = True,
        **by: Unpack[PresentedBy],
    ) -> SessionTokens:
        """Log ``user_id`` in (see :meth:`SessionManager.create_new_session`).

        Raises:
            InvalidArgumentError: a bad user or tenant id, payload or proof; the subclass
                DataTooLargeError for data past the size limits.
            GeneralError: the database cannot be used (unreachable, a timeout).
        """
        create, client, proof = login.create_new_session, by.get("client"), by.get("proof")
        return await self._drive(
            create, user_id, jwt_payload, session_data, client, proof, tenant_id, persistent
        )

    async def create_impersonation_session(
        self,
        actor_id: str,
        user_id: str,
        jwt_payload: JSON = None,
        session_data: JSON = None,
        *,
        tenant_id: str = DEFAULT_TENANT,
        ttl: int = 3600,
        client: ClientContext | None = None,
    ) -> SessionTokens:
        """See :meth:`SessionManager.create_impersonation_session`."""
        return await self._drive(
            login.create_impersonation_session,
            actor_id,
            user_id,
            jwt_payload,
            session_data,
            client,
            tenant_id,
            ttl,
        )

    async def get_session(
        self, access_token: str, anti_csrf_token: str | None = None
    ) -> VerifiedSession:
        """Verify an access token; send ``new_access_token`` back to the client when set.

        Raises:
            TryRefreshTokenError: the token is expired or invalid, or the anti-CSRF token is
                missing or wrong (``reason``): the client should refresh.
            UnauthorisedError: the session was revoked or has expired.
            GeneralError: the database cannot be used (unreachable, a timeout).
        """
        quick = self._verified_without_io(access_token, anti_csrf_token)
        if quick is not None:
            return quick
        return await self._drive(promotion.get_session, access_token, anti_csrf_token)

    async def refresh_session(self, refresh_token: str, **by: Unpack[PresentedBy]) -> SessionTokens:
        """Rotate (see :meth:`SessionManager.refresh_session`).

        Raises:
            UnauthorisedError: the token is invalid or expired, or its session is over: log in.
            TokenTheftDetectedError: a spent refresh token came back (``reason``,
                ``session_handle``, ``user_id``); the session is revoked unless
                ``revoke_session_on_theft`` is off.
            GeneralError: the database cannot be used (unreachable, a timeout).
        """
        return await self._drive(
            rotation.refresh_session, refresh_token, by.get("client"), by.get("proof")
        )

    async def revoke_session(
        self, session_handle: str, *, reason: RevokeReason | RevokeReasonName = RevokeReason.ADMIN
    ) -> bool:
        """Delete the session; True if it existed. ``reason`` goes to the revoked event."""
        return await self._drive(revocation.revoke_session, session_handle, RevokeReason(reason))

    async def revoke_all_sessions_for_user(
        self, user_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> int:
        """Delete all sessions of ``user_id`` in ``tenant_id``; returns how many there were."""
        return await self._drive(revocation.revoke_all_sessions_for_user, user_id, tenant_id)

    async def revoke_all_sessions_for_tenant(self, tenant_id: str) -> int:
        """See :meth:`SessionManager.revoke_all_sessions_for_tenant`."""
        return await self._drive(revocation.revoke_all_sessions_for_tenant, tenant_id)

    async def revoke_other_sessions(
        self,
        user_id: str,
        keep_session_handle: str,
        *,
        reason: RevokeReason | RevokeReasonName = RevokeReason.LOGOUT,
        tenant_id: str = DEFAULT_TENANT,
    ) -> int:
        """See :meth:`SessionManager.revoke_other_sessions`."""
        return await self._drive(
            revocation.revoke_other_sessions,
            user_id,
            keep_session_handle,
            RevokeReason(reason),
            tenant_id,
        )

    async def get_all_session_handles_for_user(
        self, user_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> list[str]:
        """See :meth:`SessionManager.get_all_session_handles_for_user`."""
        return await self._drive(listing.get_all_session_handles_for_user, user_id, tenant_id)

    async def list_sessions_for_user(
        self, user_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> list[SessionSummary]:
        """See :meth:`SessionManager.list_sessions_for_user`."""
        return await self._drive(listing.list_sessions_for_user, user_id, tenant_id)

    async def get_session_data(self, session_handle: str) -> JSON:
        """The server-side data of a session.

        Raises:
            UnauthorisedError: the session does not exist or has expired.
            GeneralError: the database cannot be used (unreachable, a timeout).
        """
        return await self._drive(listing.get_session_data, session_handle)

    async def update_session_data(self, session_handle: str, session_data: JSON) -> None:
        """Replace the server-side data of a session.

        Raises:
            UnauthorisedError: the session does not exist or has expired.
            InvalidArgumentError: data that is not JSON or past the limits (DataTooLargeError).
            GeneralError: the database cannot be used (unreachable, a timeout).
        """
        await self._drive(listing.update_session_data, session_handle, session_data)

    async def update_jwt_payload(
        self, session_handle: str, payload: JSON, *, access_token: str | None = None
    ) -> VerifiedSession:
        """See :meth:`SessionManager.update_jwt_payload`."""
        return await self._drive(payloads.update_jwt_payload, session_handle, payload, access_token)

    async def merge_into_jwt_payload(
        self, session_handle: str, changes: dict[str, JSON], *, access_token: str | None = None
    ) -> VerifiedSession:
        """See :meth:`SessionManager.merge_into_jwt_payload`."""
        return await self._drive(
            payloads.merge_into_jwt_payload, session_handle, changes, access_token
        )

    async def merge_into_jwt_payload_for_user(
        self,
        user_id: str,
        changes: dict[str, JSON],
        *,
        except_handle: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> int:
        """See :meth:`SessionManager.merge_into_jwt_payload_for_user`."""
        return await self._drive(
            payloads.merge_into_jwt_payload_for_user, user_id, changes, except_handle, tenant_id
        )

    async def mark_fresh(
        self, session_handle: str, *, access_token: str | None = None
    ) -> VerifiedSession:
        """See :meth:`SessionManager.mark_fresh`."""
        return await self._drive(payloads.mark_fresh, session_handle, access_token)

    async def purge_expired_sessions(self) -> int:
        """Delete expired sessions (and dead signing keys) now; returns the sessions deleted."""
        return await self._drive(listing.purge_expired)

    async def rotate_signing_key(self) -> str:
        """Start signing with a new key now; returns its kid. Old tokens keep verifying."""
        return await self._drive(listing.rotate_signing_key)

    async def retire_signing_key(self, kid: str) -> str:
        """See :meth:`SessionManager.retire_signing_key`."""
        return await self._drive(revocation.retire_signing_key, kid)

    async def rotate_refresh_key(self, *, retire_now: bool = False) -> str:
        """See :meth:`SessionManager.rotate_refresh_key`."""
        return await self._drive(listing.rotate_refresh_key, retire_now)

    async def rewrap_keys(self) -> int:
        """See :meth:`SessionManager.rewrap_keys`."""
        return await self._drive(listing.rewrap_keys)

    async def deployed_signing_algorithm(self) -> Algorithm | None:
        """See :meth:`SessionManager.deployed_signing_algorithm`."""
        return await self._drive(listing.deployed_signing_algorithm)

    async def signing_keys(self) -> list[SigningKey]:
        """The signing keys in use, oldest first."""
        return await self._drive(listing.signing_keys)

    async def jwks(self) -> PublishedKeys:
        """The public keys other services verify access tokens with, and their cache lifetime."""
        return await self._drive(listing.published_keys)

    async def security_event_token(self, event: RevocationRecorded, issuer: str) -> str:
        """See :meth:`SessionManager.security_event_token`."""
        return await self._drive(revocation.security_event_token, event, issuer)

    async def aclose(self) -> None:
        """Release the database connections (``aclose``, as httpx and
        :class:`~sessionward._remote.AsyncRemoteVerifier` name an async close)."""
        await self.store.close()

    async def close(self) -> None:
        """:meth:`aclose` under its older name, kept working (a coroutine, no warning).

        ``async with`` still exits through here, so that a subclass which overrides either
        name is closed as before."""
        await self.aclose()

    async def __aenter__(self) -> AsyncSessionManager:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
