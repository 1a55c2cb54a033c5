"""Issue 19, finding 9: session data and jwt payloads nested deeper than ``MAX_JSON_DEPTH`` (64)
are refused with InvalidArgumentError at the library's input check, by both managers, whatever
the depth (no RecursionError, no 500 later when the stored value is read back)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sessionward import AsyncSessionManager, InvalidArgumentError, SessionManager
from sessionward._validation import to_json

MAX_JSON_DEPTH = 64  # the documented limit (docs/security.md, README), not imported: a test of it


def nested(levels: int, leaf: Any = 0) -> Any:
    """``levels`` arrays and objects inside one another (alternating), built without recursion."""
    value = leaf
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 300, 5_000, 100_000])
def test_values_nested_past_the_limit_are_refused_at_any_depth(levels: int) -> None:
    with pytest.raises(InvalidArgumentError, match=f"nested too deeply: at most {MAX_JSON_DEPTH}"):
        to_json(nested(levels), "session_data", 1 << 20)


def test_the_limit_itself_and_brackets_inside_strings_are_accepted() -> None:
    assert to_json(nested(MAX_JSON_DEPTH), "session_data", 1 << 20).count("[") == 32
    assert to_json("[" * 1000, "session_data", 1 << 20) == '"' + "[" * 1000 + '"'
    wide = [[{"a": [1, 2]}] for _ in range(1000)]  # many containers, each shallow
    assert to_json(wide, "session_data", 1 << 20).startswith('[[{"a":[1,2]}]')


def test_the_sync_manager_refuses_deep_data_and_payloads(manager: SessionManager) -> None:
    deep = nested(300)
    with pytest.raises(InvalidArgumentError, match="session_data is nested too deeply"):
        manager.create_new_session("alice", session_data=deep)
    with pytest.raises(InvalidArgumentError, match="jwt_payload is nested too deeply"):
        manager.create_new_session("alice", {"deep": nested(MAX_JSON_DEPTH)})
    assert manager.get_all_session_handles_for_user("alice") == []
    tokens = manager.create_new_session("alice", {"role": "user"}, {"visits": 0})
    handle = tokens.session.handle
    with pytest.raises(InvalidArgumentError, match="session_data is nested too deeply"):
        manager.update_session_data(handle, deep)
    with pytest.raises(InvalidArgumentError, match="jwt_payload is nested too deeply"):
        manager.update_jwt_payload(handle, nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(InvalidArgumentError, match="jwt_payload is nested too deeply"):
        manager.merge_into_jwt_payload(handle, {"deep": nested(MAX_JSON_DEPTH)})
    assert manager.get_session_data(handle) == {"visits": 0}
    session = manager.get_session(tokens.access_token.value).session
    assert session.jwt_payload == {"role": "user"}
    manager.update_session_data(handle, nested(MAX_JSON_DEPTH))  # the limit itself is fine
    assert manager.get_session_data(handle) == nested(MAX_JSON_DEPTH)


async def test_the_async_manager_refuses_deep_data_and_payloads(
    make_async_manager: Callable[..., AsyncSessionManager],
) -> None:
    manager = make_async_manager()
    deep = nested(300)
    with pytest.raises(InvalidArgumentError, match="session_data is nested too deeply"):
        await manager.create_new_session("alice", session_data=deep)
    tokens = await manager.create_new_session("alice", {"role": "user"}, {"visits": 0})
    with pytest.raises(InvalidArgumentError, match="session_data is nested too deeply"):
        await manager.update_session_data(tokens.session.handle, deep)
    with pytest.raises(InvalidArgumentError, match="jwt_payload is nested too deeply"):
        await manager.merge_into_jwt_payload(
            tokens.session.handle, {"deep": nested(MAX_JSON_DEPTH)}
        )
    assert await manager.get_session_data(tokens.session.handle) == {"visits": 0}
