"""Settings of a sessionward deployment (docs/protocol.md#settings), validated at start-up.

Every invalid value raises :class:`~sessionward._errors.ConfigError` with a message that names the
setting and its allowed range, so a misconfiguration fails before the first request.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any, Literal

from sessionward._clients import (
    FORWARDED_HEADERS,
    GRACE_BINDINGS,
    ForwardedHeader,
    GraceBinding,
    IPNetwork,
    parse_networks,
)
from sessionward._errors import ConfigError
from sessionward._key_wrapping import KEK_ENVIRONMENT_VARIABLE, KeyWrapper, key_wrapper_from

SECOND = 1
HOUR = 3600
DAY = 86400

DEFAULT_DATABASE_URL = "sqlite:///sessionward.sqlite3"

SameSite = Literal["strict", "lax", "none"]
RevocationCheck = Literal["cached", "exact", "none"]
# The JWS algorithms access tokens can be signed with (see sessionward._tokens.algorithms).
Algorithm = Literal["HS256", "EdDSA", "ES256", "RS256"]
ALGORITHMS: tuple[Algorithm, ...] = ("HS256", "EdDSA", "ES256", "RS256")
REVOCATION_CHECKS: tuple[RevocationCheck, ...] = ("cached", "exact", "none")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# A cookie Domain: dot-separated labels of letters, digits and hyphens (RFC 6265 §4.1.2.3 and
# RFC 1034); anything else could smuggle attributes (";") or headers (CR/LF) into Set-Cookie.
_DOMAIN = re.compile(r"^\.?(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")


@dataclass(frozen=True)
class Config:
    """Everything a :class:`~sessionward.SessionManager` needs; every duration is in seconds.

    Only ``refresh_path`` is required: it is both the refresh endpoint's path and the path of the
    refresh-token cookie, so the refresh token is sent nowhere else.

    Deprecated aliases, accepted for one release with a :class:`DeprecationWarning`:
    ``enable_blacklisting=True`` is ``revocation_check="exact"``, and
    ``signing_key_update_interval`` (hours) is ``signing_key_rotation_interval`` (seconds).
    They are init-only: they are converted into the new settings and not kept (so that
    ``dataclasses.replace`` carries the new ones); read ``revocation_mode`` and
    ``signing_key_rotation_interval``.
    """

    refresh_path: str
    database_url: str = DEFAULT_DATABASE_URL
    signing_key_table: str = "signing_key"
    refresh_token_table: str = "refresh_token"
    revocation_table: str = "session_revocation"
    access_token_validity: int = HOUR
    # Deprecated: revocation_check="exact" (the original's name). Converted, never stored.
    enable_blacklisting: InitVar[bool | None] = None
    access_token_path: str = "/"
    signing_key_dynamic: bool = True
    # Deprecated: signing_key_rotation_interval, in hours as in the original. Converted.
    signing_key_update_interval: InitVar[int | None] = None
    signing_key_getter: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    # Beyond the original: the JWS algorithm of access tokens. "HS256" shares one secret;
    # "EdDSA" (Ed25519, recommended), "ES256" and "RS256" let other services verify with the
    # public keys served at jwks_path (None: not served).
    signing_algorithm: Algorithm = "HS256"
    jwks_path: str | None = "/.well-known/jwks.json"
    # Beyond the original: serve the browser client (the wheel's sessionward.js) at this path,
    # cached by content hash (docs/frontend.md#serve-or-bundle); None (the default): not served.
    client_script_path: str | None = None
    # Beyond the original: the signed revocation feed for other services' remote verifiers
    # (docs/microservices.md#revocations), served beside the JWKS at this path; None: not served.
    # It needs an asymmetric signing_algorithm (it is signed with the deployment's key) and the
    # cached revocation check (what it serves is what that cache knows).
    revocation_feed_path: str | None = None
    # A bearer secret the feed's readers must send (None: public, like the JWKS).
    revocation_feed_token: str | None = field(default=None, repr=False, compare=False)
    # Publish user ids as SHA-256 hashes (of tenant and user) instead of in clear.
    revocation_feed_hash_user_ids: bool = False
    refresh_token_validity: int = 100 * DAY
    anti_csrf: bool = True
    cookie_domain: str | None = None
    cookie_secure: bool = True
    cookie_same_site: SameSite = "lax"
    session_expired_status: int = 440
    purge_interval: int = 7 * DAY
    # Allows access tokens shorter than 10 s (down to 1 s), for tests and demos only.
    allow_short_access_tokens: bool = False
    # Beyond the original:
    # a parent refresh token presented again this long after its child was confirmed gets that
    # same child instead of a theft report (concurrent refreshes, lost responses); 0 disables.
    refresh_grace_window: int = 30
    # sessions end this long after login whatever their activity; None: only the idle limit.
    absolute_session_lifetime: int | None = None
    # a session created with persistent=False ("remember me" off) ends with the browser, and
    # this long after its last refresh even if the browser stays open (the sliding idle limit).
    session_idle_timeout: int = 12 * HOUR
    # an access token is still accepted this long after its expiry (clock skew between servers).
    access_token_leeway: int = 5
    # on theft, delete the session at once so that no token of it works any more.
    revoke_session_on_theft: bool = True
    # which duplicate presentations the grace window serves: only those from the same network
    # (IPv4 /24, IPv6 /64) and User-Agent as the first (default), the same User-Agent, or any.
    refresh_grace_binding: GraceBinding = "network_and_user_agent"
    # proxies (CIDRs) whose forwarding header names the client's address.
    trusted_proxies: tuple[str, ...] = ()
    # the one header those proxies write it into: "x-forwarded-for" (nginx, HAProxy) or
    # "forwarded" (RFC 7239). The other is never read: the proxies pass it on as the client sent
    # it, so reading it would let a client choose its own address.
    forwarded_header: ForwardedHeader = "x-forwarded-for"
    trusted_networks: tuple[IPNetwork, ...] = field(
        init=False, repr=False, compare=False, default=()
    )
    # How verify learns of revocations (docs/protocol.md#revocation): "cached" (each process reads
    # new revocations at most every revocation_refresh_interval seconds and checks them in memory),
    # "exact" (one lookup per verify; what enable_blacklisting=True means), "none" (access tokens
    # live until they expire). None means "cached"; the deprecated enable_blacklisting sets "exact".
    revocation_check: RevocationCheck | None = None
    revocation_refresh_interval: float = 2.0
    # At most this many live sessions per user; a new login evicts the least recently active.
    max_sessions_per_user: int | None = None
    # With signing_key_dynamic, a new signing key takes over this often (1 h to 30 days).
    signing_key_rotation_interval: int = DAY
    # OpenTelemetry spans (the otel extra) carry the user id as enduser.id; off: never. Metrics
    # never carry it.
    telemetry_user_ids: bool = False
    # Seals the stored keys (docs/operations.md#signing-keys-at-rest): a key (32 random bytes,
    # base64url), several (the first seals, all open: for rotation), or a KeyWrapper (a KMS).
    # None: the SESSIONWARD_KEY_ENCRYPTION_KEY environment variable (comma-separated keys), else
    # keys are stored in the clear (development only).
    key_encryption_key: str | Sequence[str] | KeyWrapper | None = field(
        default=None, repr=False, compare=False
    )
    key_wrapper: KeyWrapper | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(
        self, enable_blacklisting: bool | None, signing_key_update_interval: int | None
    ) -> None:
        self._convert_deprecated(enable_blacklisting, signing_key_update_interval)
        _check_path("refresh_path", self.refresh_path)
        _check_path("access_token_path", self.access_token_path)
        if self.jwks_path is not None:
            _check_path("jwks_path", self.jwks_path)
        if self.client_script_path is not None:
            _check_path("client_script_path", self.client_script_path)
            if self.client_script_path in (self.refresh_path, self.jwks_path):
                raise ConfigError(
                    "client_script_path must differ from refresh_path and jwks_path; "
                    f"got {self.client_script_path!r}"
                )
        if self.signing_algorithm not in ALGORITHMS:
            raise ConfigError(
                f"signing_algorithm must be one of {', '.join(map(repr, ALGORITHMS))}; "
                f"got {self.signing_algorithm!r}"
            )
        _check_type("database_url", self.database_url, str)
        if not self.database_url:
            raise ConfigError("database_url must be a non-empty SQLAlchemy URL")
        for name in ("signing_key_table", "refresh_token_table", "revocation_table"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _IDENTIFIER.match(value):
                raise ConfigError(
                    f"{name} must be an SQL identifier (letters, digits, _; at most 63); "
                    f"got {value!r}"
                )
        tables = (self.signing_key_table, self.refresh_token_table, self.revocation_table)
        if len(set(tables)) != len(tables):
            raise ConfigError(
                "signing_key_table, refresh_token_table and revocation_table must differ"
            )
        for name in (
            "signing_key_dynamic",
            "anti_csrf",
            "cookie_secure",
            "allow_short_access_tokens",
            "revoke_session_on_theft",
            "telemetry_user_ids",
        ):
            _check_type(name, getattr(self, name), bool)
        lowest_access = 1 if self.allow_short_access_tokens else 10
        _check_range(
            "access_token_validity", self.access_token_validity, lowest_access, 1000 * DAY, "s"
        )
        _check_range(
            "signing_key_rotation_interval",
            self.signing_key_rotation_interval,
            HOUR,
            30 * DAY,
            "s",
        )
        _check_range("refresh_token_validity", self.refresh_token_validity, HOUR, 365 * DAY, "s")
        _check_range("session_expired_status", self.session_expired_status, 400, 499, "")
        _check_range("purge_interval", self.purge_interval, 60, 365 * DAY, "s")
        _check_range("refresh_grace_window", self.refresh_grace_window, 0, 300, "s")
        _check_range("access_token_leeway", self.access_token_leeway, 0, 300, "s")
        if self.absolute_session_lifetime is not None:
            _check_range(
                "absolute_session_lifetime", self.absolute_session_lifetime, HOUR, 3650 * DAY, "s"
            )
        _check_range("session_idle_timeout", self.session_idle_timeout, 10, 365 * DAY, "s")
        if self.signing_key_getter is not None and not callable(self.signing_key_getter):
            raise ConfigError("signing_key_getter must be a callable returning the key as str")
        if self.cookie_same_site not in ("strict", "lax", "none"):
            raise ConfigError(
                f"cookie_same_site must be 'strict', 'lax' or 'none'; got {self.cookie_same_site!r}"
            )
        if self.cookie_same_site == "none" and not self.cookie_secure:
            raise ConfigError(
                "cookie_same_site='none' requires cookie_secure=True (browsers say so)"
            )
        if self.cookie_domain is not None and (
            not isinstance(self.cookie_domain, str)
            or len(self.cookie_domain) > 253
            or not _DOMAIN.match(self.cookie_domain)
        ):
            raise ConfigError(
                "cookie_domain must be a domain name (letters, digits, hyphens and dots, such as "
                f"'example.com') or None; got {self.cookie_domain!r}"
            )
        if self.revocation_check is not None and self.revocation_check not in REVOCATION_CHECKS:
            raise ConfigError(
                f"revocation_check must be one of {', '.join(map(repr, REVOCATION_CHECKS))} or "
                f"None; got {self.revocation_check!r}"
            )
        interval = self.revocation_refresh_interval
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not 0.05 <= interval <= 60
        ):
            raise ConfigError(
                f"revocation_refresh_interval must be a number from 0.05 to 60 s; got {interval!r}"
            )
        self._check_revocation_feed()
        if self.max_sessions_per_user is not None:
            _check_range("max_sessions_per_user", self.max_sessions_per_user, 1, 100_000, "")
        if self.refresh_grace_binding not in GRACE_BINDINGS:
            raise ConfigError(
                f"refresh_grace_binding must be one of {', '.join(map(repr, GRACE_BINDINGS))}; "
                f"got {self.refresh_grace_binding!r}"
            )
        if self.forwarded_header not in FORWARDED_HEADERS:
            raise ConfigError(
                f"forwarded_header must be one of {', '.join(map(repr, FORWARDED_HEADERS))}; "
                f"got {self.forwarded_header!r}"
            )
        proxies = self.trusted_proxies
        if isinstance(proxies, str) or not isinstance(proxies, tuple | list | frozenset | set):
            raise ConfigError(
                "trusted_proxies must be a sequence of CIDRs such as ('10.0.0.0/8',); "
                f"got {proxies!r}"
            )
        try:
            networks = parse_networks(proxies)
        except ValueError as exc:
            raise ConfigError(
                f"trusted_proxies: {exc} (expected CIDRs like '10.0.0.0/8')"
            ) from None
        object.__setattr__(self, "trusted_proxies", tuple(proxies))
        wrapper = key_wrapper_from(
            self.key_encryption_key, os.environ.get(KEK_ENVIRONMENT_VARIABLE)
        )
        object.__setattr__(self, "key_wrapper", wrapper)
        object.__setattr__(self, "trusted_networks", networks)

    def _check_revocation_feed(self) -> None:
        """The feed's settings: a path, an asymmetric key to sign with, the cached check."""
        _check_type("revocation_feed_hash_user_ids", self.revocation_feed_hash_user_ids, bool)
        token = self.revocation_feed_token
        if token is not None and (
            not isinstance(token, str) or len(token) < 16 or not token.isprintable() or " " in token
        ):
            raise ConfigError(
                "revocation_feed_token must be a secret of at least 16 printable characters "
                "without spaces, or None"
            )
        path = self.revocation_feed_path
        if path is None:
            return
        _check_path("revocation_feed_path", path)
        if path in (self.jwks_path, self.refresh_path):
            raise ConfigError("revocation_feed_path must differ from jwks_path and refresh_path")
        if self.signing_algorithm == "HS256":
            raise ConfigError(
                "revocation_feed_path needs an asymmetric signing_algorithm ('EdDSA', 'ES256' "
                "or 'RS256'): the feed is signed with the deployment's private key so that "
                "verifiers check it with the JWKS; an HS256 secret cannot be published"
            )
        if self.revocation_mode != "cached":
            raise ConfigError(
                "revocation_feed_path needs revocation_check='cached' (the default): the feed "
                f"serves what that cache knows; got revocation_check={self.revocation_check!r}"
            )

    def _convert_deprecated(
        self, enable_blacklisting: bool | None, signing_key_update_interval: int | None
    ) -> None:
        """Turn the deprecated settings into the ones they stand for (warning that they are
        deprecated); ConfigError if a value is invalid or contradicts the new setting."""
        if enable_blacklisting is not None:
            _deprecated("enable_blacklisting", "revocation_check='exact'")
            _check_type("enable_blacklisting", enable_blacklisting, bool)
            if enable_blacklisting:
                if self.revocation_check not in (None, "exact"):
                    raise ConfigError(
                        "enable_blacklisting=True means revocation_check='exact'; "
                        f"it cannot go with revocation_check={self.revocation_check!r}"
                    )
                object.__setattr__(self, "revocation_check", "exact")
        if signing_key_update_interval is not None:
            _deprecated(
                "signing_key_update_interval (hours)", "signing_key_rotation_interval (seconds)"
            )
            _check_range("signing_key_update_interval", signing_key_update_interval, 1, 720, "h")
            seconds = signing_key_update_interval * HOUR
            if self.signing_key_rotation_interval not in (DAY, seconds):
                raise ConfigError(
                    f"signing_key_update_interval={signing_key_update_interval} (hours) "
                    "contradicts signing_key_rotation_interval="
                    f"{self.signing_key_rotation_interval} (seconds): set only the latter"
                )
            object.__setattr__(self, "signing_key_rotation_interval", seconds)

    @property
    def revocation_mode(self) -> RevocationCheck:
        """The revocation check in force: ``revocation_check``, or its default ``"cached"``."""
        return "cached" if self.revocation_check is None else self.revocation_check

    @property
    def access_token_validity_ms(self) -> int:
        return self.access_token_validity * 1000

    @property
    def refresh_token_validity_ms(self) -> int:
        return self.refresh_token_validity * 1000

    @property
    def session_idle_timeout_ms(self) -> int:
        return self.session_idle_timeout * 1000

    @property
    def signing_key_interval_ms(self) -> int:
        return self.signing_key_rotation_interval * 1000


def _deprecated(old: str, new: str) -> None:
    # stacklevel 5: the caller of Config(...), past this, _convert_deprecated, __post_init__ and
    # the dataclass's __init__, so that the warning names the line to change.
    warnings.warn(
        f"sessionward: {old} is deprecated and goes in the next release; use {new}",
        DeprecationWarning,
        stacklevel=5,
    )


def _check_type(name: str, value: Any, kind: type) -> None:
    if type(value) is not kind:
        raise ConfigError(f"{name} must be a {kind.__name__}; got {value!r}")


def _check_range(name: str, value: Any, low: int, high: int, unit: str) -> None:
    if type(value) is not int or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}{unit}; got {value!r}")


def _check_path(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.startswith("/") or any(c in value for c in ";, \t"):
        raise ConfigError(f"{name} must be a URL path starting with '/'; got {value!r}")
