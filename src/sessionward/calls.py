"""What a flow one layer up (the web transport) asks of a manager, as typed steps.

:mod:`sessionward.transport` writes the rules of docs/protocol.md#on-the-wire once, as flows
that ``yield from perform(...)`` these steps; a sync integration runs them on a
:class:`SessionManager`, an async one on an :class:`AsyncSessionManager` (see
:mod:`sessionward.flows`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sessionward.events import RevokeReason
from sessionward.flows import Flow, Step
from sessionward.manager import AsyncSessionManager, SessionManager
from sessionward.models import (
    JSON,
    ClientContext,
    PublishedKeys,
    SessionSummary,
    SessionTokens,
    VerifiedSession,
)
from sessionward.proof import ProofOfPossession

R = TypeVar("R")
ManagerFlow = Flow[SessionManager, AsyncSessionManager, R]
ManagerStep = Step[SessionManager, AsyncSessionManager, R]


@dataclass(frozen=True, slots=True)
class CreateNewSession(ManagerStep[SessionTokens]):
    user_id: str
    jwt_payload: JSON
    session_data: JSON
    client: ClientContext | None
    proof: ProofOfPossession | None

    def run(self, target: SessionManager) -> SessionTokens:
        return target.create_new_session(
            self.user_id, self.jwt_payload, self.session_data, client=self.client, proof=self.proof
        )

    async def arun(self, target: AsyncSessionManager) -> SessionTokens:
        return await target.create_new_session(
            self.user_id, self.jwt_payload, self.session_data, client=self.client, proof=self.proof
        )


@dataclass(frozen=True, slots=True)
class GetSession(ManagerStep[VerifiedSession]):
    access_token: str
    anti_csrf_token: str | None

    def run(self, target: SessionManager) -> VerifiedSession:
        return target.get_session(self.access_token, self.anti_csrf_token)

    async def arun(self, target: AsyncSessionManager) -> VerifiedSession:
        return await target.get_session(self.access_token, self.anti_csrf_token)


@dataclass(frozen=True, slots=True)
class RefreshSession(ManagerStep[SessionTokens]):
    refresh_token: str
    client: ClientContext | None
    proof: ProofOfPossession | None

    def run(self, target: SessionManager) -> SessionTokens:
        return target.refresh_session(self.refresh_token, client=self.client, proof=self.proof)

    async def arun(self, target: AsyncSessionManager) -> SessionTokens:
        return await target.refresh_session(
            self.refresh_token, client=self.client, proof=self.proof
        )


@dataclass(frozen=True, slots=True)
class RevokeSession(ManagerStep[bool]):
    session_handle: str
    reason: RevokeReason

    def run(self, target: SessionManager) -> bool:
        return target.revoke_session(self.session_handle, reason=self.reason)

    async def arun(self, target: AsyncSessionManager) -> bool:
        return await target.revoke_session(self.session_handle, reason=self.reason)


@dataclass(frozen=True, slots=True)
class GetSessionData(ManagerStep[JSON]):
    session_handle: str

    def run(self, target: SessionManager) -> JSON:
        return target.get_session_data(self.session_handle)

    async def arun(self, target: AsyncSessionManager) -> JSON:
        return await target.get_session_data(self.session_handle)


@dataclass(frozen=True, slots=True)
class UpdateSessionData(ManagerStep[None]):
    session_handle: str
    data: JSON

    def run(self, target: SessionManager) -> None:
        target.update_session_data(self.session_handle, self.data)

    async def arun(self, target: AsyncSessionManager) -> None:
        await target.update_session_data(self.session_handle, self.data)


@dataclass(frozen=True, slots=True)
class ListSessions(ManagerStep[list[SessionSummary]]):
    user_id: str

    def run(self, target: SessionManager) -> list[SessionSummary]:
        return target.list_sessions_for_user(self.user_id)

    async def arun(self, target: AsyncSessionManager) -> list[SessionSummary]:
        return await target.list_sessions_for_user(self.user_id)


@dataclass(frozen=True, slots=True)
class RevokeOtherSessions(ManagerStep[int]):
    user_id: str
    keep_session_handle: str

    def run(self, target: SessionManager) -> int:
        return target.revoke_other_sessions(self.user_id, self.keep_session_handle)

    async def arun(self, target: AsyncSessionManager) -> int:
        return await target.revoke_other_sessions(self.user_id, self.keep_session_handle)


@dataclass(frozen=True, slots=True)
class GetJwks(ManagerStep[PublishedKeys]):
    def run(self, target: SessionManager) -> PublishedKeys:
        return target.jwks()

    async def arun(self, target: AsyncSessionManager) -> PublishedKeys:
        return await target.jwks()


@dataclass(frozen=True, slots=True)
class UpdateJwtPayload(ManagerStep[VerifiedSession]):
    session_handle: str
    payload: JSON
    access_token: str | None

    def run(self, target: SessionManager) -> VerifiedSession:
        return target.update_jwt_payload(
            self.session_handle, self.payload, access_token=self.access_token
        )

    async def arun(self, target: AsyncSessionManager) -> VerifiedSession:
        return await target.update_jwt_payload(
            self.session_handle, self.payload, access_token=self.access_token
        )


@dataclass(frozen=True, slots=True)
class MergeIntoJwtPayload(ManagerStep[VerifiedSession]):
    session_handle: str
    changes: dict[str, JSON]
    access_token: str | None

    def run(self, target: SessionManager) -> VerifiedSession:
        return target.merge_into_jwt_payload(
            self.session_handle, self.changes, access_token=self.access_token
        )

    async def arun(self, target: AsyncSessionManager) -> VerifiedSession:
        return await target.merge_into_jwt_payload(
            self.session_handle, self.changes, access_token=self.access_token
        )


@dataclass(frozen=True, slots=True)
class MergeIntoJwtPayloadForUser(ManagerStep[int]):
    user_id: str
    changes: dict[str, JSON]
    except_handle: str | None

    def run(self, target: SessionManager) -> int:
        return target.merge_into_jwt_payload_for_user(
            self.user_id, self.changes, except_handle=self.except_handle
        )

    async def arun(self, target: AsyncSessionManager) -> int:
        return await target.merge_into_jwt_payload_for_user(
            self.user_id, self.changes, except_handle=self.except_handle
        )


@dataclass(frozen=True, slots=True)
class MarkFresh(ManagerStep[VerifiedSession]):
    session_handle: str
    access_token: str | None

    def run(self, target: SessionManager) -> VerifiedSession:
        return target.mark_fresh(self.session_handle, access_token=self.access_token)

    async def arun(self, target: AsyncSessionManager) -> VerifiedSession:
        return await target.mark_fresh(self.session_handle, access_token=self.access_token)


@dataclass(frozen=True, slots=True)
class ReadClock(ManagerStep[int]):
    """The manager's clock, in milliseconds (claim checks judge time by it)."""

    def run(self, target: SessionManager) -> int:
        return int(target.clock() * 1000)

    async def arun(self, target: AsyncSessionManager) -> int:
        return int(target.clock() * 1000)


PayloadStep = Callable[[str | None], ManagerStep[VerifiedSession]]  # given the access token
