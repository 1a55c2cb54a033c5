"""The browser client served by the integrations at ``client_script_path`` (off by default):
the wheel's ``sessionward/js/sessionward.js``, built from ``clients/js`` (docs/frontend.md).

A URL that carries the file's content hash (``?v=<hash>``, see :func:`client_script_url`) is
cached for a year, ``immutable``: a new release has a new hash, so a new URL. Without it (or
with another release's hash) the answer must be revalidated (``no-cache``), by its ``ETag``, so
a page that names the bare path never runs an outdated client after an upgrade.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from sessionward._config import Config

CONTENT_TYPE = "text/javascript; charset=utf-8"
VERSION_PARAM = "v"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@dataclass(frozen=True)
class ClientScript:
    """The file's bytes and its content hash (16 hex digits of SHA-256)."""

    body: bytes
    digest: str

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


@dataclass(frozen=True)
class ScriptReply:
    """What to answer one request for the file: status, headers, body (empty for 304)."""

    status: int
    headers: dict[str, str]
    body: bytes


@lru_cache(maxsize=1)
def client_script() -> ClientScript:
    """The packaged client, read once per process."""
    body = (resources.files("sessionward") / "js" / "sessionward.js").read_bytes()
    return ClientScript(body, hashlib.sha256(body).hexdigest()[:16])


def client_script_url(config: Config) -> str | None:
    """The URL to put in a page's ``<script type=module>`` or ``import``: the configured path
    with the content hash, so it may be cached for ever; None when the file is not served."""
    if config.client_script_path is None:
        return None
    return f"{config.client_script_path}?{VERSION_PARAM}={client_script().digest}"


def script_reply(version: str | None, if_none_match: str | None) -> ScriptReply:
    """The answer to ``GET <client_script_path>``: ``version``, the request's ``v`` parameter;
    ``if_none_match``, its ``If-None-Match`` header. Any value of either is fine (no error)."""
    script = client_script()
    headers = {
        "Content-Type": CONTENT_TYPE,
        "ETag": script.etag,
        "Cache-Control": IMMUTABLE if version == script.digest else REVALIDATE,
        "X-Content-Type-Options": "nosniff",
    }
    tags = {tag.strip().removeprefix("W/") for tag in (if_none_match or "").split(",")}
    if script.etag in tags or "*" in tags:
        del headers["Content-Type"]
        return ScriptReply(304, headers, b"")
    return ScriptReply(200, headers, script.body)


__all__ = ["ClientScript", "ScriptReply", "client_script", "client_script_url", "script_reply"]
