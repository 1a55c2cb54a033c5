"""The project's manager and transport, built once from Django's settings (``SESSIONWARD``,
``SESSIONWARD_HOOKS``, ``DATABASES``) or given by :func:`configure`.

One place reads the settings, so that the first request and ``manage.py check``
(:mod:`.checks`) build the same :class:`~sessionward.Config` and report the same errors.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from sessionward._config import Config
from sessionward._errors import ConfigError
from sessionward._events import SessionHooks
from sessionward._manager import SessionManager
from sessionward._transport import Transport

# SESSIONWARD keys that are the integrations' own, not Config settings: USER_LOADER is the DRF
# integration's (sessionward.integrations.drf).
_USER_LOADER = "USER_LOADER"
_INTEGRATION_KEYS = frozenset({_USER_LOADER})
_lock = threading.Lock()


class _State:
    manager: SessionManager | None = None
    transport: Transport | None = None
    configured: bool = False


_state = _State()


def database_url_from_django(database: Mapping[str, Any] | None = None) -> str:
    """An SQLAlchemy URL for a Django database entry (SQLite, MySQL/MariaDB, PostgreSQL):
    ``database``, or by default the ``default`` entry of ``settings.DATABASES``."""
    from sqlalchemy.engine import URL

    db = settings.DATABASES.get("default", {}) if database is None else database
    engine = str(db.get("ENGINE", ""))
    if engine.endswith("sqlite3"):
        return f"sqlite:///{db.get('NAME')}"
    drivers = {"mysql": "mysql", "postgresql": "postgresql"}
    for suffix, dialect in drivers.items():
        if engine.endswith(suffix):
            return URL.create(
                dialect,
                username=db.get("USER") or None,
                password=db.get("PASSWORD") or None,
                host=db.get("HOST") or None,
                port=int(db["PORT"]) if db.get("PORT") else None,
                database=db.get("NAME") or None,
            ).render_as_string(hide_password=False)
    raise ConfigError(
        f"SESSIONWARD['database_url'] is needed: Django engine {engine!r} is not supported"
    )


def configure(manager: SessionManager | None = None) -> None:
    """Use this manager instead of building one from settings; ``None`` returns to settings.
    For applications that build their own manager, and for tests."""
    with _lock:
        _state.manager = manager
        _state.transport = Transport(manager.config) if manager is not None else None
        _state.configured = manager is not None


def hooks_from_settings() -> SessionHooks:
    """``SESSIONWARD_HOOKS = {"on_token_theft": "myapp.security.on_theft", ...}``: each value a
    callable or its dotted path."""
    configured = getattr(settings, "SESSIONWARD_HOOKS", None) or {}
    if not isinstance(configured, dict):
        raise ConfigError("SESSIONWARD_HOOKS must be a dict of hook name to callable")
    hooks = {
        name: import_string(value) if isinstance(value, str) else value
        for name, value in configured.items()
    }
    try:
        return SessionHooks(**hooks)
    except TypeError as exc:
        raise ConfigError(f"SESSIONWARD_HOOKS: {exc}") from None


def _config_from_settings() -> Config:
    """The :class:`~sessionward.Config` that ``settings.SESSIONWARD`` describes, as the first use
    builds it (and ``manage.py check`` reports it); ConfigError if it is invalid."""
    configured = getattr(settings, "SESSIONWARD", {})
    if not isinstance(configured, Mapping):
        raise ConfigError("SESSIONWARD must be a dict of sessionward.Config settings")
    options = dict(configured)
    for key in _INTEGRATION_KEYS:  # the DRF integration's settings, not the Config's
        options.pop(key, None)
    if "database_url" not in options:
        options["database_url"] = database_url_from_django()
    try:
        return Config(**options)
    except TypeError as exc:
        raise ConfigError(f"SESSIONWARD: {exc}") from None


def _ensure() -> _State:
    if _state.configured:
        return _state
    with _lock:
        if not _state.configured:
            config = _config_from_settings()
            _state.manager = SessionManager(config, hooks=hooks_from_settings())
            _state.transport = Transport(config)
            _state.configured = True
    return _state


def get_manager() -> SessionManager:
    """The project's :class:`~sessionward.SessionManager` (built from settings on first use)."""
    manager = _ensure().manager
    assert manager is not None
    return manager


def get_transport() -> Transport:
    transport = _ensure().transport
    assert transport is not None
    return transport
