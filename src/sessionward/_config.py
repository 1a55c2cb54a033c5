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

    Raises:
        ConfigError: a setting is invalid; the message names it and its allowed values.
    """

    refresh_path: str
    """The refresh endpoint's path, and the path of the refresh-token cookie, so that the
    refresh token is sent nowhere else. Required. Allowed: a URL path starting with ``/``."""
    database_url: str = DEFAULT_DATABASE_URL
    """Where sessions and keys are stored. Allowed: a SQLAlchemy URL: ``sqlite:///file``,
    ``mysql://…``, ``postgresql://…``."""
    signing_key_table: str = "signing_key"
    """The table of signing keys and the refresh-token key. Allowed: an SQL identifier."""
    refresh_token_table: str = "refresh_token"
    """The table of sessions (one row a session). Allowed: an SQL identifier."""
    revocation_table: str = "session_revocation"
    """The table of revocations that other processes read. Allowed: an SQL identifier."""
    access_token_validity: int = HOUR
    """How long an access token is valid; verifying one needs no database call. Unit: seconds.
    Allowed: 10 s to 1000 days (from 1 s with ``allow_short_access_tokens``)."""
    enable_blacklisting: InitVar[bool | None] = None
    """Deprecated (the original's name): ``True`` is ``revocation_check="exact"``. Converted,
    never stored."""
    access_token_path: str = "/"
    """The path of the access-token cookie. Allowed: a URL path starting with ``/``."""
    signing_key_dynamic: bool = True
    """Rotate the signing key: a new one takes over every ``signing_key_rotation_interval``;
    False keeps one key."""
    signing_key_update_interval: InitVar[int | None] = None
    """Deprecated: ``signing_key_rotation_interval``, in hours as in the original. Converted,
    never stored. Unit: hours. Allowed: 1 to 720 h."""
    signing_key_getter: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    """A callable returning your own key, which then signs (the two previous keys it returned
    keep verifying); None: the keys are created and stored in the database. Allowed: an HS256
    secret (at least 32 characters), or the PEM private key of ``signing_algorithm``."""
    signing_algorithm: Algorithm = "HS256"
    """The JWS algorithm of access tokens. ``"HS256"`` shares one secret; ``"EdDSA"`` (Ed25519,
    recommended), ``"ES256"`` (P-256) and ``"RS256"`` (2048-bit RSA) let other services verify
    with the public keys served at ``jwks_path``. Changing it on a running deployment keeps old
    tokens verifying until they expire. Allowed: ``"HS256"``, ``"EdDSA"``, ``"ES256"``,
    ``"RS256"``."""
    jwks_path: str | None = "/.well-known/jwks.json"
    """Where the integrations serve the public keys as a JWK Set (HS256 serves an empty set: a
    secret is never published); None serves none. Allowed: a URL path, or None."""
    client_script_path: str | None = None
    """Where the integrations serve the browser client ``sessionward.js`` (the wheel's file),
    cached by content hash; None serves nothing. Allowed: a URL path other than
    ``refresh_path`` and ``jwks_path``, or None."""
    revocation_feed_path: str | None = None
    """Where the issuer serves the signed revocation feed that other services' remote verifiers
    read, beside the JWKS (docs/microservices.md#revocations); None serves none. It needs an
    asymmetric ``signing_algorithm`` (it is signed with the deployment's key) and the cached
    revocation check (what it serves is what that cache knows). Allowed: a URL path other than
    ``jwks_path`` and ``refresh_path``, or None."""
    revocation_feed_token: str | None = field(default=None, repr=False, compare=False)
    """A bearer secret the feed's readers must send; None: the feed is public, like the JWKS.
    Allowed: at least 16 characters, or None."""
    revocation_feed_hash_user_ids: bool = False
    """Publish SHA-256 hashes (of tenant and user id) in the feed instead of the user ids."""
    refresh_token_validity: int = 100 * DAY
    """A persistent session ends this long after its last refresh. Unit: seconds. Allowed: 1 h
    to 365 days."""
    anti_csrf: bool = True
    """Issue an anti-CSRF token with every access token, and require it (the ``anti-csrf``
    header) on requests that change state."""
    cookie_domain: str | None = None
    """The Domain of the session cookies; None: the host that set them. Allowed: a domain name
    such as ``example.com``, or None."""
    cookie_secure: bool = True
    """Mark the cookies ``Secure`` (sent over https only). False only for plain http during
    development: a WARNING names it otherwise."""
    cookie_same_site: SameSite = "lax"
    """The cookies' SameSite attribute. Allowed: ``"strict"``, ``"lax"``, ``"none"`` (needs
    ``cookie_secure``)."""
    session_expired_status: int = 440
    """The HTTP status that tells the client to refresh (or that the session is over). Allowed:
    any 4xx."""
    purge_interval: int = 7 * DAY
    """How often a login purges expired sessions and signing keys that verify nothing any more.
    Unit: seconds. Allowed: 60 s to 365 days."""
    allow_short_access_tokens: bool = False
    """Allow ``access_token_validity`` below 10 s (down to 1 s): for tests and demos only."""
    refresh_grace_window: int = 30
    """Duplicate refreshes within it get the same tokens instead of a theft report (concurrent
    refreshes, lost responses); 0 is the original's strict rule. Unit: seconds. Allowed: 0 to
    300 s."""
    absolute_session_lifetime: int | None = None
    """Sessions end this long after login, however active (OWASP ASVS 5.0 7.3.2 needs it set);
    None: only the idle limits. Unit: seconds. Allowed: 1 h to 10 years, or None."""
    session_idle_timeout: int = 12 * HOUR
    """A session created with ``persistent=False`` ("remember me" off) ends with the browser,
    and this long after its last refresh even if the browser stays open. Unit: seconds.
    Allowed: 10 s to 365 days, longer than ``access_token_validity``."""
    access_token_leeway: int = 5
    """An access token is still accepted this long after its expiry (clock skew between
    servers). Unit: seconds. Allowed: 0 to 300 s."""
    revoke_session_on_theft: bool = True
    """On theft, delete the session at once, so that no token of it works any more."""
    refresh_grace_binding: GraceBinding = "network_and_user_agent"
    """Which duplicate refreshes the grace window serves: only those from the first client's
    network (IPv4 /24, IPv6 /64) and User-Agent (``"network_and_user_agent"``), the same
    User-Agent (``"user_agent"``), or any (``"none"``)."""
    trusted_proxies: tuple[str, ...] = ()
    """The reverse proxies (CIDRs such as ``"10.0.0.0/8"``) whose forwarding header names the
    client's address; the header of any other peer is ignored."""
    forwarded_header: ForwardedHeader = "x-forwarded-for"
    """The one header those proxies write the client's address into: ``"x-forwarded-for"``
    (nginx, HAProxy) or ``"forwarded"`` (RFC 7239). The other is never read: the proxies pass
    it on as the client sent it, so reading it would let a client choose its own address. It is
    walked from the right."""
    trusted_networks: tuple[IPNetwork, ...] = field(
        init=False, repr=False, compare=False, default=()
    )
    """``trusted_proxies`` parsed (derived, not a setting)."""
    revocation_check: RevocationCheck | None = None
    """How verify learns of revoked sessions: ``"cached"`` (every process reads new revocations
    at most every ``revocation_refresh_interval`` and checks them in memory: refused everywhere
    within that bound, no query per request), ``"exact"`` (one primary-key lookup per verify),
    ``"none"`` (access tokens live until they expire, as in the original). Default:
    ``"cached"`` (None stands for it; read ``revocation_mode``)."""
    revocation_refresh_interval: float = 2.0
    """The cached revocation check's staleness bound: how often a process reads new
    revocations (and the signing-key table). Unit: seconds. Allowed: 0.05 to 60 s."""
    max_sessions_per_user: int | None = None
    """At most this many live sessions per user: a login past it signs out the user's least
    recently active sessions (revoked event, reason ``evicted``); None: no limit. Allowed: 1 to
    100 000, or None."""
    signing_key_rotation_interval: int = DAY
    """With ``signing_key_dynamic``, how often a new signing key takes over. Unit: seconds.
    Allowed: 1 h to 30 days."""
    telemetry_user_ids: bool = False
    """OpenTelemetry spans (the ``otel`` extra) carry the user id as ``enduser.id``; metrics
    never do."""
    key_encryption_key: str | Sequence[str] | KeyWrapper | None = field(
        default=None, repr=False, compare=False
    )
    """Seals the stored keys at rest with AES-256-GCM (docs/operations.md#signing-keys-at-rest).
    None reads the ``SESSIONWARD_KEY_ENCRYPTION_KEY`` environment variable (comma-separated
    keys), else keys are stored in the clear (development only). Allowed: a key (32 random
    bytes, base64url), several (the first seals, all open: for rotation), a ``KeyWrapper`` (a
    KMS), or None."""
    key_wrapper: KeyWrapper | None = field(init=False, repr=False, compare=False, default=None)
    """``key_encryption_key`` (or the environment variable) as a wrapper (derived, not a
    setting)."""

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
