"""The framework-neutral rules, checked directly through tiny in-memory adapters."""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import pytest

from sessionward import Config, GeneralError, SessionTokens, TryRefreshTokenError
from sessionward._errors import TokenTheftDetectedError, UnauthorisedError
from sessionward._flows import Step, run_flow
from sessionward._models import ClientContext, Session, Token
from sessionward._operations import login, rotation
from sessionward._operations.context import Context
from sessionward._proof import ProofOfPossession
from sessionward._transport import (
    Cookie,
    Outgoing,
    TransferMode,
    Transport,
    cors_allowed_headers,
    plain_http,
    transfer_mode,
)


class Req:
    def __init__(
        self,
        method: str = "GET",
        cookies: Any = None,
        headers: Any = None,
        peer_address: str | None = "127.0.0.1",
        url: str = "http://testserver/r",
    ) -> None:
        self.method = method
        self.peer_address = peer_address
        self.url = url
        self.cookies = cookies or {}
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}

    @property
    def scheme(self) -> str:
        return self.url.split(":", 1)[0]

    def get_cookie(self, name: str) -> str | None:
        return self.cookies.get(name)

    def get_header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Resp:
    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.cookies: list[Cookie] = []

    def get_header(self, name: str) -> str | None:
        return self.headers.get(name)

    def set_header(self, name: str, value: str) -> None:
        self.headers[name] = value

    def add_cookie(self, cookie: Cookie) -> None:
        self.cookies.append(cookie)


TOKENS = SessionTokens(
    Session("h", "u", None),
    Token("acc", 1_800_000_060_000),
    Token("ref", 1_900_000_000_000),
    Token("idr", 1_900_000_000_000),
    "csrf",
)


def test_cookie_attributes_follow_the_config() -> None:
    config = Config(
        refresh_path="/auth/refresh",
        access_token_path="/api",
        cookie_domain="example.com",
        cookie_secure=True,
        cookie_same_site="none",
    )
    out, resp = Outgoing(), Resp()
    Transport(config).write_tokens(TransferMode.COOKIE, out, TOKENS)
    resp.headers["Access-Control-Expose-Headers"] = "X-Mine"
    out.apply(resp)
    by_name = {c.name: c.header_value() for c in resp.cookies}
    assert by_name["sAccessToken"] == (
        "sAccessToken=acc; Expires=Fri, 15 Jan 2027 08:01:00 GMT; Path=/api; "
        "Domain=example.com; Secure; HttpOnly; SameSite=None"
    )
    assert "Path=/auth/refresh" in by_name["sRefreshToken"]
    assert (
        "HttpOnly" not in by_name["sIdRefreshToken"] and "Path=/api" in by_name["sIdRefreshToken"]
    )
    assert resp.headers["id-refresh-token"] == "idr;1900000000000"
    assert resp.headers["anti-csrf"] == "csrf"
    assert resp.headers["Access-Control-Expose-Headers"] == (
        "X-Mine, sessionward-protocol, id-refresh-token, anti-csrf"  # "acc" is no JWT: no front
    )
    assert resp.headers["sessionward-protocol"] == "1"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "acc" not in repr(out) and "acc" not in repr(resp.cookies)


def test_clearing_replaces_pending_token_writes() -> None:
    transport, out, resp = Transport(Config(refresh_path="/r")), Outgoing(), Resp()
    transport.write_tokens(TransferMode.COOKIE, out, TOKENS)
    transport.clear(TransferMode.COOKIE, out)
    out.apply(resp)
    assert [(c.name, c.value, c.expires_http) for c in resp.cookies] == [
        (name, "", "Thu, 01 Jan 1970 00:00:00 GMT")
        for name in ("sAccessToken", "sRefreshToken", "sIdRefreshToken")
    ]
    assert resp.headers["id-refresh-token"] == "remove" and "anti-csrf" not in resp.headers


def test_error_replies() -> None:
    transport = Transport(Config(refresh_path="/r", session_expired_status=401))
    out = Outgoing()
    reply = transport.error_reply(TryRefreshTokenError("x"), Req(), out)
    assert reply.status == 401 and reply.phrase is None  # 401 has its standard phrase
    assert reply.body == {"message": "try refresh token"}
    csrf = TryRefreshTokenError("x", reason="anti_csrf_missing")
    assert transport.error_reply(csrf, Req(), out).body == {
        "message": "try refresh token",
        "reason": "anti_csrf_missing",
    }
    assert out.cookies == {}
    assert transport.error_reply(UnauthorisedError("x"), Req(), out).status == 401
    assert len(out.cookies) == 3
    theft = transport.error_reply(TokenTheftDetectedError("h", "u"), Req(), Outgoing())
    assert theft.body == {"message": "token theft detected"}
    general = transport.error_reply(GeneralError("db password=secret"), Req(), out)
    assert general.status == 500 and "secret" not in str(general.body) and out.cookies == {}


@pytest.mark.parametrize(
    ("headers", "mode"),
    [
        ({}, TransferMode.COOKIE),
        ({"Authorization": "Bearer abc"}, TransferMode.HEADER),
        ({"Authorization": "Basic abc"}, TransferMode.COOKIE),
        ({"Authorization": "Bearer "}, TransferMode.COOKIE),
        ({"st-auth-mode": "HEADER"}, TransferMode.HEADER),
        ({"st-auth-mode": "cookie", "Authorization": "Bearer abc"}, TransferMode.COOKIE),
        ({"Authorization": "Bearer " + "a" * 9000}, TransferMode.COOKIE),
    ],
)
def test_transfer_mode_is_chosen_by_the_client(headers: dict[str, str], mode: TransferMode) -> None:
    assert transfer_mode(Req(headers=headers)) is mode


def test_csrf_check_defaults_to_non_get_methods() -> None:
    transport = Transport(Config(refresh_path="/r"))
    assert not transport.csrf_check_wanted(Req("GET"), None)
    assert transport.csrf_check_wanted(Req("DELETE"), None)
    assert transport.csrf_check_wanted(Req("GET"), True)
    assert not transport.csrf_check_wanted(Req("POST"), False)
    off = Transport(Config(refresh_path="/r", anti_csrf=False))
    assert not off.csrf_check_wanted(Req("POST"), True)


def test_refresh_hands_the_client_and_its_proof_to_the_operation_and_theft_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Any] = []

    def refresh_session(
        context: Any, emissions: Any, token: str, client: Any, proof: Any
    ) -> Generator[Any, Any, SessionTokens]:
        seen.append((token, client, proof))
        raise TokenTheftDetectedError("h1", "u1", "other_client")
        yield  # a flow

    monkeypatch.setattr(rotation, "refresh_session", refresh_session)
    config = Config(refresh_path="/r", trusted_proxies=("10.0.0.0/8",))
    request = Req(
        "POST",
        {"sRefreshToken": "t", "sIdRefreshToken": "i"},
        {"X-Forwarded-For": "6.6.6.6, 203.0.113.9", "User-Agent": "UA/1", "DPoP": "a.b.c"},
        peer_address="10.0.0.2",
        url="https://app.example/r",
    )
    out = Outgoing()
    with pytest.raises(TokenTheftDetectedError):
        flow = Transport(config).refresh_session(Context(config), [], request, out)
        run_flow(flow, None)
    ((token, client, proof),) = seen  # called once; theft is the operation's business
    assert token == "t"
    assert client == ClientContext("203.0.113.9", "UA/1")
    assert proof == ProofOfPossession("a.b.c", "POST", "https://app.example/r")


def test_flows_yield_steps_not_io() -> None:
    config = Config(refresh_path="/r")
    flow = Transport(config).get_session_data(Context(config), [], "h")
    assert isinstance(next(flow), Step)  # the first statement, for the driver to perform


def test_cors_headers_name_the_sdk_headers() -> None:
    allowed = cors_allowed_headers()
    assert {"anti-csrf", "supertokens-sdk-name", "supertokens-sdk-version"} <= set(allowed)


def test_the_default_440_gets_a_reason_phrase() -> None:
    reply = Transport(Config(refresh_path="/r")).error_reply(
        UnauthorisedError("x"), Req(), Outgoing()
    )
    assert (reply.status, reply.phrase) == (440, "Session Expired")


@pytest.mark.parametrize(
    ("url", "headers", "plain"),
    [
        ("http://t/r", {}, True),
        ("https://t/r", {}, False),
        ("http://t/r", {"X-Forwarded-Proto": "https"}, False),
        ("http://t/r", {"X-Forwarded-Proto": "https, http"}, False),
        ("http://t/r", {"X-Forwarded-Proto": "http"}, True),
        ("http://t/r", {"Forwarded": "for=1.2.3.4; proto=https"}, False),
        ("http://t/r", {"Forwarded": 'for=1.2.3.4;proto="https"'}, False),
        ("http://t/r", {"Forwarded": "for=1.2.3.4"}, True),
    ],
)
def test_plain_http_recognises_a_tls_proxy(url: str, headers: dict[str, str], plain: bool) -> None:
    assert plain_http(Req(url=url, headers=headers)) is plain


def test_secure_cookies_over_http_warn_once_and_only_in_cookie_mode(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def create_new_session(*args: Any) -> Generator[Any, Any, SessionTokens]:
        return TOKENS
        yield  # a flow

    monkeypatch.setattr(login, "create_new_session", create_new_session)
    config = Config(refresh_path="/r")  # cookie_secure=True by default
    transport, context = Transport(config), Context(config)

    def login_over(request: Req) -> None:
        run_flow(transport.create_session(context, [], request, Outgoing(), "u"), None)

    header_mode = Req("POST", headers={"st-auth-mode": "header"})
    with caplog.at_level(logging.WARNING, logger="sessionward"):
        login_over(header_mode)
        login_over(Req("POST", url="https://t/l"))
        assert caplog.records == []  # no cookies, or https: nothing to say
        for _ in range(3):
            login_over(Req("POST"))
    assert len(caplog.records) == 1 and "cookie_secure" in caplog.records[0].getMessage()
