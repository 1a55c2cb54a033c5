"""Key rows sealed at rest (docs/operations.md#signing-keys-at-rest): which field of a key row
is secret, how a sealed value reads in the key table, and opening or sealing a row with a
:class:`~sessionward._key_wrapping.KeyWrapper`.

The secret field: ``key_material`` when the row has one (an asymmetric key's PEM private key;
``key_value`` then names its algorithm), else ``key_value`` (an HMAC secret, or the refresh-token
key). A sealed value is ``sealed:v1:<key id>:<base64url(wrapped)>``; the associated data is the
row's name and field, so a sealed value moved onto another row does not open. A value without
the prefix is a plain key (written without a key-encryption key, or by an older version).
"""

from __future__ import annotations

from sessionward._encoding import b64url, from_b64url
from sessionward._errors import ConfigError
from sessionward._key_wrapping import KeyWrapper
from sessionward._rows import KeyRow

SEALED_PREFIX = "sealed:v1:"


def is_sealed(text: str | None) -> bool:
    return text is not None and text.startswith(SEALED_PREFIX)


def sealed_key_id(text: str) -> str:
    """The key id named by a sealed value (between the prefix and the last colon)."""
    return text[len(SEALED_PREFIX) :].rpartition(":")[0]


def secret_field(row: KeyRow) -> str:
    return "key_value" if row.material is None else "key_material"


def _associated_data(name: str, field: str) -> bytes:
    return f"sessionward key row\x00{name}\x00{field}".encode()


def seal_values(
    wrapper: KeyWrapper | None, name: str, value: str, material: str | None
) -> tuple[str, str | None]:
    """A new row's ``(key_value, key_material)`` as stored: the secret one sealed (unchanged
    without a wrapper)."""
    if wrapper is None:
        return value, material
    if material is None:
        return _seal(wrapper, name, "key_value", value), None
    return value, _seal(wrapper, name, "key_material", material)


def _seal(wrapper: KeyWrapper, name: str, field: str, text: str) -> str:
    key_id = wrapper.key_id
    if not isinstance(key_id, str) or not key_id or any(c in key_id for c in "\r\n"):
        raise ConfigError("the key wrapper's key_id must be non-empty text on one line")
    wrapped = wrapper.wrap(text.encode(), _associated_data(name, field))
    return f"{SEALED_PREFIX}{key_id}:{b64url(wrapped)}"


def open_row(wrapper: KeyWrapper | None, row: KeyRow) -> KeyRow:
    """``row`` with its secret in the clear. A sealed row that cannot be opened is a
    ConfigError naming the row and the key id that sealed it: never a reason to create a key
    in its place (that would end every session)."""
    field = secret_field(row)
    text = row.value if field == "key_value" else row.material
    assert text is not None
    if not is_sealed(text):
        return row
    key_id = sealed_key_id(text)
    if wrapper is None:
        raise ConfigError(
            f"the key {row.name!r} is sealed with key-encryption key {key_id!r}, and no "
            "key_encryption_key is set: set it (or SESSIONWARD_KEY_ENCRYPTION_KEY) to that key"
        )
    try:
        wrapped = from_b64url(text.rpartition(":")[2])
        plain = wrapper.unwrap(wrapped, _associated_data(row.name, field), key_id).decode()
    except Exception as exc:
        raise ConfigError(
            f"the key {row.name!r} is sealed with key-encryption key {key_id!r}, which this "
            f"process cannot open it with ({type(exc).__name__}: {exc}); start with the "
            "key_encryption_key that sealed it (several may be given while rotating). Nothing "
            "was changed."
        ) from None
    if field == "key_value":
        return row._replace(value=plain)
    return row._replace(material=plain)


def needs_sealing(wrapper: KeyWrapper, row: KeyRow, *, rewrap: bool) -> bool:
    """Whether a stored row should be written again: in the clear, or (``rewrap``) sealed with
    a key-encryption key other than the one that seals now."""
    text = row.value if secret_field(row) == "key_value" else row.material
    if not is_sealed(text):
        return True
    assert text is not None
    return rewrap and sealed_key_id(text) != wrapper.key_id
