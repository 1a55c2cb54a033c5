"""sessionward: secure user sessions for Python web backends.

Short-lived JWT access tokens verified without a database call, rotating refresh tokens with
theft detection, anti-CSRF tokens, and storage in the application's own SQL database.
"""

from sessionward.claims import Claim, fresh_login, has_role, payload_has
from sessionward.config import Config
from sessionward.errors import (
    ClaimValidationError,
    ConfigError,
    DataTooLargeError,
    GeneralError,
    InvalidArgumentError,
    SessionError,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward.events import (
    SessionCreated,
    SessionHooks,
    SessionRefreshed,
    SessionRevoked,
    TokenTheft,
)
from sessionward.manager import AsyncSessionManager, SessionManager
from sessionward.models import (
    ClientContext,
    Session,
    SessionSummary,
    SessionTokens,
    Token,
    VerifiedSession,
)
from sessionward.proof import ProofKey, ProofOfPossession
from sessionward.remote import AsyncRemoteVerifier, RemoteVerifier

__version__ = "0.1.0"

__all__ = [
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
    "ProofKey",
    "ProofOfPossession",
    "RemoteVerifier",
    "Session",
    "SessionCreated",
    "SessionError",
    "SessionHooks",
    "SessionManager",
    "SessionRefreshed",
    "SessionRevoked",
    "SessionSummary",
    "SessionTokens",
    "Token",
    "TokenTheft",
    "TokenTheftDetectedError",
    "TryRefreshTokenError",
    "UnauthorisedError",
    "VerifiedSession",
    "fresh_login",
    "has_role",
    "payload_has",
]
