"""A session for Python clients in header mode, as an ``httpx.Auth`` (sync and async clients).

    auth = SessionAuth(refresh_url="https://api.example/session/refresh")
    with httpx.Client(auth=auth) as client:
        client.post("https://api.example/login", json={...})  # binds the session to auth's key
        client.get("https://api.example/me")  # refreshed and retried on the expired status

Every request asks for header mode (``st-auth-mode: header``) and carries the access token as
``Authorization: Bearer``. While there is no session, each request also carries a DPoP proof,
so the login binds the session to this client's key (see :mod:`sessionward._proof`); every refresh
then carries a proof over the refresh token, and a copy of that refresh token is useless
anywhere else. On the session-expired status the refresh endpoint is called once and the
request retried once. Needs ``pip install 'sessionward[client]'`` (httpx).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from email.utils import parsedate_to_datetime

import httpx

from sessionward._proof import PROOF_HEADER, ProofKey

ACCESS_TOKEN_HEADER = "st-access-token"
REFRESH_TOKEN_HEADER = "st-refresh-token"
_REMOVE = "remove"
_SKEW_WORTH_CORRECTING_S = 5  # Date headers have one-second resolution


class SessionAuth(httpx.Auth):
    """Header-mode tokens, DPoP proofs and the refresh-and-retry rule, for one client.

    ``proof_key``: the key the session is bound to (a new one by default); ``bind=False`` makes
    an unbound client, as the original frontend SDK is. One instance is one client: concurrent
    requests may refresh together, which the server's grace window answers with the same tokens.
    """

    requires_request_body = True  # a request may be sent twice (after a refresh)

    def __init__(
        self,
        *,
        refresh_url: str,
        proof_key: ProofKey | None = None,
        bind: bool = True,
        session_expired_status: int = 440,
    ) -> None:
        self.refresh_url = refresh_url
        self.proof_key = (proof_key or ProofKey()) if bind else None
        self.session_expired_status = session_expired_status
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.refresh_count = 0
        self._clock_skew_s = 0.0  # server clock minus ours, from Date headers

    @property
    def has_session(self) -> bool:
        return self.refresh_token is not None

    def _now(self) -> float:
        return time.time() + self._clock_skew_s

    def _absorb(self, response: httpx.Response) -> None:
        access = response.headers.get(ACCESS_TOKEN_HEADER)
        refresh = response.headers.get(REFRESH_TOKEN_HEADER)
        if access is not None:
            self.access_token = None if access == _REMOVE else access
        if refresh is not None:
            self.refresh_token = None if refresh == _REMOVE else refresh
            if refresh == _REMOVE:
                self.access_token = None
        date = response.headers.get("date")
        if date:
            try:
                skew = parsedate_to_datetime(date).timestamp() - time.time()
            except (TypeError, ValueError):
                return
            self._clock_skew_s = skew if abs(skew) > _SKEW_WORTH_CORRECTING_S else 0.0

    def _prepare(self, request: httpx.Request) -> None:
        request.headers["st-auth-mode"] = "header"
        if self.access_token is not None:
            request.headers["authorization"] = f"Bearer {self.access_token}"
        elif self.proof_key is not None and self.refresh_token is None:
            proof = self.proof_key.proof(request.method, str(request.url), now_s=self._now())
            request.headers[PROOF_HEADER] = proof

    def _refresh_request(self) -> httpx.Request:
        assert self.refresh_token is not None
        headers = {"st-auth-mode": "header", "authorization": f"Bearer {self.refresh_token}"}
        if self.proof_key is not None:
            headers[PROOF_HEADER] = self.proof_key.proof(
                "POST", self.refresh_url, token=self.refresh_token, now_s=self._now()
            )
        return httpx.Request("POST", self.refresh_url, headers=headers)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._prepare(request)
        response = yield request
        self._absorb(response)
        if response.status_code != self.session_expired_status or self.refresh_token is None:
            return
        refreshed = yield self._refresh_request()
        self._absorb(refreshed)
        if refreshed.status_code != 200:
            return  # the session is over (or the server failed): the caller sees the answer
        self.refresh_count += 1
        request.headers.pop(PROOF_HEADER, None)
        self._prepare(request)
        response = yield request
        self._absorb(response)

    def __repr__(self) -> str:
        return f"SessionAuth(session={self.has_session}, key={self.proof_key!r})"


__all__ = ["SessionAuth"]
