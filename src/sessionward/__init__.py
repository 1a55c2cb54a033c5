"""sessionward: secure user sessions for Python web backends.

Short-lived JWT access tokens verified without a database call, rotating refresh tokens with
theft detection, anti-CSRF tokens, and storage in the application's own SQL database.
"""

from sessionward.config import Config
from sessionward.errors import (
    ConfigError,
    GeneralError,
    InvalidArgumentError,
    SessionError,
    TokenTheftDetectedError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from sessionward.manager import AsyncSessionManager, SessionManager
from sessionward.models import Session, SessionSummary, SessionTokens, Token, VerifiedSession

__version__ = "0.1.0"

__all__ = [
    "AsyncSessionManager",
    "Config",
    "ConfigError",
    "GeneralError",
    "InvalidArgumentError",
    "Session",
    "SessionError",
    "SessionManager",
    "SessionSummary",
    "SessionTokens",
    "Token",
    "TokenTheftDetectedError",
    "TryRefreshTokenError",
    "UnauthorisedError",
    "VerifiedSession",
]
