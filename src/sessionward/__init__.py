"""sessionward: secure user sessions for Python web backends.

Short-lived JWT access tokens verified without a database call, rotating refresh tokens with
theft detection, anti-CSRF tokens, and storage in the application's own SQL database.
"""

from sessionward._claims import (
    Claim,
    fresh_login,
    has_role,
    in_tenant,
    not_impersonated,
    payload_has,
)
from sessionward._clients import FORWARDED_HEADERS
from sessionward._config import ALGORITHMS, Config
from sessionward._errors import (
    AntiCsrfReason,
    ClaimValidationError,
    ConfigError,
    DataTooLargeError,
    GeneralError,
    InvalidArgumentError,
    SessionError,
    TheftReason,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward._events import (
    RevocationRecorded,
    RevokeReason,
    SessionCreated,
    SessionHooks,
    SessionRefreshed,
    SessionRevoked,
    TokenTheft,
)
from sessionward._key_wrapping import KeyWrapper, LocalKeyWrapper
from sessionward._manager import AsyncSessionManager, SessionManager
from sessionward._models import (
    DEFAULT_TENANT,
    ClientContext,
    Session,
    SessionSummary,
    SessionTokens,
    Token,
    VerifiedSession,
)
from sessionward._proof import ProofKey, ProofOfPossession
from sessionward._remote import AsyncRemoteVerifier, RemoteVerifier
from sessionward._storage.engines import prepare_galera

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "DEFAULT_TENANT",
    "FORWARDED_HEADERS",
    "AntiCsrfReason",
    "AsyncRemoteVerifier",
    "AsyncSessionManager",
    "Claim",
    "ClaimValidationError",
    "ClientContext",
    "Config",
    "ConfigError",
    "DataTooLargeError",
    "GeneralError",
    "InvalidArgumentError",
    "KeyWrapper",
    "LocalKeyWrapper",
    "ProofKey",
    "ProofOfPossession",
    "RemoteVerifier",
    "RevocationRecorded",
    "RevokeReason",
    "Session",
    "SessionCreated",
    "SessionError",
    "SessionHooks",
    "SessionManager",
    "SessionRefreshed",
    "SessionRevoked",
    "SessionSummary",
    "SessionTokens",
    "TheftReason",
    "Token",
    "TokenTheft",
    "TokenTheftDetectedError",
    "TryRefreshTokenError",
    "UnauthorisedError",
    "VerifiedSession",
    "fresh_login",
    "has_role",
    "in_tenant",
    "not_impersonated",
    "payload_has",
    "prepare_galera",
]
