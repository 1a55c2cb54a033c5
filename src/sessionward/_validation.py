"""Checks on what callers and clients hand in: identifiers, JSON values and their sizes.

Every value that reaches the database or a token passes through here first, so a hostile value
(a lone surrogate, a NUL byte, a nesting 100,000 deep, megabytes of data) is refused with an
:class:`~sessionward._errors.InvalidArgumentError` that names it, the same on every backend,
instead of failing inside a driver.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import NoReturn

from sessionward._errors import DataTooLargeError, InvalidArgumentError
from sessionward._models import JSON

MAX_USER_ID_LENGTH = 128  # characters: the column's width, as in the original
MAX_HANDLE_LENGTH = 255
MAX_SESSION_DATA_BYTES = 1 << 20  # 1 MiB of JSON text (UTF-8), on every backend
MAX_JWT_PAYLOAD_BYTES = 2048  # it travels in the access token, which must fit in a cookie
# Arrays and objects inside one another, counting the outermost as 1. Deeper values are refused:
# what the library stores must come back through every framework's JSON encoder, and some (e.g.
# FastAPI's, recursive in Python) fail far sooner than Python's recursion limit.
MAX_JSON_DEPTH = 64
_CONTAINERS = (dict, list, tuple)  # what json.dumps writes as an object or an array


def refuse_non_finite(literal: str) -> NoReturn:
    """``parse_constant`` for :func:`json.loads`: refuse ``NaN``, ``Infinity``, ``-Infinity``.

    Python's json reads them, but they are not JSON (RFC 8259), and NaN compares False with
    everything, so a check such as ``abs(now - iat) > 60`` would let a NaN through. The hook only
    runs when one of those literals is met, so it costs nothing on ordinary input."""
    raise ValueError(f"{literal} is not a JSON number")


def parse_finite_float(literal: str) -> float:
    """``parse_float`` for :func:`json.loads`: a number too large for a float (``1e999``) would
    be read as infinity, which no JSON writer of ours produces (``allow_nan=False``): refuse it.
    Runs only on literals with a fraction or an exponent (none in the claims this library
    writes; only in an application's payload)."""
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{literal} is too large for a JSON number")
    return value


def check_identifier(value: object, name: str, max_length: int = MAX_HANDLE_LENGTH) -> str:
    """A non-empty str of at most ``max_length`` characters, valid UTF-8, without control
    characters (a NUL byte, a newline in a user id only ever means trouble downstream)."""
    if type(value) is not str or not 0 < len(value) <= max_length:
        raise InvalidArgumentError(
            f"{name} must be a non-empty str of at most {max_length} characters; "
            f"got {type(value).__name__}"
            + (f" of {len(value)} characters" if isinstance(value, str) else "")
        )
    if not value.isprintable() and any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise InvalidArgumentError(f"{name} must not contain control characters or lone surrogates")
    return value


def check_user_id(value: object) -> str:
    return check_identifier(value, "user_id", MAX_USER_ID_LENGTH)


MAX_TENANT_ID_LENGTH = 64
_TENANT_ID = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_TENANT_ID_LENGTH}}}")


def check_tenant_id(value: object, name: str = "tenant_id") -> str:
    """A tenant id: 1 to 64 letters, digits, ``-``, ``_`` or ``.``. Narrower than a user id
    because tenants appear in URL paths (``/t/{tenant}/...``), cookies' neighbours and the CLI,
    where anything else would need escaping."""
    if type(value) is not str or _TENANT_ID.fullmatch(value) is None:
        shown = (
            f"{value!r}" if isinstance(value, str) and len(value) <= 80 else type(value).__name__
        )
        raise InvalidArgumentError(
            f"{name} must be 1 to {MAX_TENANT_ID_LENGTH} letters, digits, '-', '_' or '.'; "
            f"got {shown}"
        )
    return value


def _too_deep(name: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{name} is nested too deeply: at most {MAX_JSON_DEPTH} levels of arrays and objects"
    )


def _check_depth(value: JSON, name: str) -> None:
    """Refuse ``value`` if its arrays and objects nest deeper than :data:`MAX_JSON_DEPTH`.

    Iterative, one level of containers at a time (about three times faster than a stack of
    single containers, as each level is gathered by a comprehension), so no input can exhaust
    the recursion limit here, and it stops at the first level past the limit."""
    if not isinstance(value, _CONTAINERS):
        return  # a string full of brackets
    level: list[JSON] = [value]
    for _ in range(MAX_JSON_DEPTH):
        deeper: list[JSON] = []
        for container in level:
            children = container.values() if isinstance(container, dict) else container
            deeper += [child for child in children if isinstance(child, _CONTAINERS)]
        if not deeper:
            return
        level = deeper
    raise _too_deep(name)


def to_json(value: JSON, name: str, max_bytes: int) -> str:
    """``value`` as compact JSON text, refused if it is not JSON, not valid Unicode, nested
    deeper than :data:`MAX_JSON_DEPTH`, or larger than ``max_bytes`` in UTF-8."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text.encode())
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{name} must be a JSON-serialisable value: {exc}") from None
    except UnicodeEncodeError:
        raise InvalidArgumentError(f"{name} contains a lone surrogate (invalid Unicode)") from None
    except RecursionError:
        raise _too_deep(name) from None
    if size > max_bytes:
        raise DataTooLargeError(
            f"{name} is too large: {size} bytes of JSON, the limit is {max_bytes} bytes"
        )
    # Nesting needs at least as many opening brackets as levels: counting them (in C, and
    # counting those inside strings too, which only errs towards walking) spares the walk for
    # nearly every value.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        _check_depth(value, name)
    return text


def parse_json_body(body: bytes, max_bytes: int = MAX_SESSION_DATA_BYTES + 4096) -> JSON:
    """A request body as JSON, for the example and demo APIs; InvalidArgumentError otherwise
    (DataTooLargeError when it is over ``max_bytes``)."""
    if len(body) > max_bytes:
        raise DataTooLargeError(
            f"the body is too large: {len(body)} bytes, the limit is {max_bytes}"
        )
    try:
        return json.loads(body, parse_constant=refuse_non_finite)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgumentError("the body must be JSON") from None
    except RecursionError:
        raise InvalidArgumentError("the body's JSON is nested too deeply") from None


def merged_payload(stored: JSON, changes: object) -> JSON:
    """``stored`` with ``changes`` merged in: each key set to its value, or removed where the
    value is None. Both must be JSON objects (an empty payload counts as one)."""
    if type(changes) is not dict or not all(type(key) is str for key in changes):
        raise InvalidArgumentError("changes must be a dict with string keys")
    if stored is None:
        stored = {}
    if not isinstance(stored, dict):
        raise InvalidArgumentError(
            "the session's jwt payload is not a JSON object, so nothing can be merged into it: "
            "use update_jwt_payload to replace it"
        )
    merged = dict(stored)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
