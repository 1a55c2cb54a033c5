"""Config validation (docs/protocol.md#settings): defaults, ranges, and messages that name the
setting."""

from __future__ import annotations

import pytest

from sessionward import Config, ConfigError, GeneralError, SessionManager


def test_defaults_match_the_protocol():
    config = Config(refresh_path="/session/refresh")
    assert config.database_url == "sqlite:///sessionward.sqlite3"
    assert (config.signing_key_table, config.refresh_token_table) == (
        "signing_key",
        "refresh_token",
    )
    assert config.access_token_validity == 3600
    assert config.revocation_mode == "cached"
    assert config.access_token_path == "/"
    assert config.signing_key_dynamic is True
    assert config.signing_key_rotation_interval == 86400  # seconds, like every duration
    assert config.signing_key_getter is None
    assert config.refresh_token_validity == 100 * 86400
    assert config.anti_csrf is True
    assert config.cookie_domain is None
    assert config.cookie_secure is True
    assert config.cookie_same_site == "lax"
    assert config.session_expired_status == 440
    assert config.purge_interval == 7 * 86400
    assert config.forwarded_header == "x-forwarded-for"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"refresh_path": "refresh"}, "refresh_path"),
        ({"refresh_path": None}, "refresh_path"),
        ({"access_token_path": "no-slash"}, "access_token_path"),
        ({"access_token_validity": 9}, "access_token_validity"),
        ({"access_token_validity": 1000 * 86400 + 1}, "access_token_validity"),
        ({"access_token_validity": "3600"}, "access_token_validity"),
        ({"access_token_validity": 3600.0}, "access_token_validity"),
        ({"refresh_token_validity": 3599}, "refresh_token_validity"),
        ({"refresh_token_validity": 365 * 86400 + 1}, "refresh_token_validity"),
        ({"signing_key_rotation_interval": 3599}, "signing_key_rotation_interval"),
        ({"signing_key_rotation_interval": 30 * 86400 + 1}, "signing_key_rotation_interval"),
        ({"signing_key_rotation_interval": 3600.0}, "signing_key_rotation_interval"),
        ({"session_expired_status": 500}, "session_expired_status"),
        ({"session_expired_status": 399}, "session_expired_status"),
        ({"cookie_same_site": "LAX"}, "cookie_same_site"),
        ({"cookie_same_site": "none", "cookie_secure": False}, "cookie_same_site"),
        ({"anti_csrf": 1}, "anti_csrf"),
        ({"signing_key_table": "drop table;"}, "signing_key_table"),
        ({"refresh_token_table": ""}, "refresh_token_table"),
        ({"signing_key_table": "same", "refresh_token_table": "same"}, "signing_key_table"),
        ({"purge_interval": 0}, "purge_interval"),
        ({"database_url": ""}, "database_url"),
        ({"signing_key_getter": "not callable"}, "signing_key_getter"),
        ({"cookie_domain": ""}, "cookie_domain"),
        ({"forwarded_header": "X-Forwarded-For"}, "forwarded_header"),
        ({"forwarded_header": "x-real-ip"}, "forwarded_header"),
        ({"forwarded_header": None}, "forwarded_header"),
    ],
)
def test_invalid_values_name_the_setting(settings, named):
    settings = {"refresh_path": "/refresh", **settings}
    with pytest.raises(ConfigError, match=named):
        Config(**settings)


def test_config_error_is_a_general_error_and_a_value_error():
    with pytest.raises(GeneralError):
        Config(refresh_path="/r", access_token_validity=1)
    with pytest.raises(ValueError):
        Config(refresh_path="/r", access_token_validity=1)


def test_short_access_tokens_only_when_asked_for():
    assert Config(refresh_path="/r", access_token_validity=2, allow_short_access_tokens=True)
    with pytest.raises(ConfigError, match="from 10"):
        Config(refresh_path="/r", access_token_validity=2)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("oracle://scott@db/x", "sqlite, mysql, mariadb or postgresql"),
        ("not a url at all", "database_url"),
    ],
)
def test_unsupported_database_urls_fail_at_start(url, message):
    with pytest.raises(ConfigError, match=message):
        SessionManager(refresh_path="/r", database_url=url)


def test_manager_rejects_unknown_settings():
    with pytest.raises(ConfigError, match="unexpected keyword"):
        SessionManager(refresh_path="/r", access_token_lifetime=5)


@pytest.mark.parametrize(
    "domain",
    [
        "localhost; SameSite=None; Path=/",  # would inject cookie attributes
        "example.com\r\nX-Injected: 1",  # would inject a header (and crash the server)
        "exa mple.com",
        "-example.com",
        "example..com",
        "a" * 64 + ".com",
        "ex_ample.com",
    ],
)
def test_cookie_domains_that_could_inject_attributes_are_refused(domain: str):
    with pytest.raises(ConfigError, match="cookie_domain must be a domain name"):
        Config(refresh_path="/r", cookie_domain=domain)


@pytest.mark.parametrize("domain", ["localhost", "example.com", ".example.com", "a-b.c.example"])
def test_ordinary_cookie_domains_are_accepted(domain: str):
    assert Config(refresh_path="/r", cookie_domain=domain).cookie_domain == domain
