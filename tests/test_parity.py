"""The sync and async facades mirror each other: checked here, not trusted.

Each public class (or function) with a sync and an async twin is written twice by hand, so the
two drift apart unless something compares them. For every pair this compares, by introspection:

- the public names (plus ``__init__`` and the context-manager methods);
- for each name, its kind (method, property, plain attribute);
- for each method, its parameters: names, kinds and defaults, and their type hints;
- its return type: the async twin is a coroutine function returning what the sync one returns
  (where the sync one returns a sync class of a pair, the async one returns its twin:
  ``__enter__`` returns ``SessionManager``, ``__aenter__`` ``AsyncSessionManager``); the sync one
  is not a coroutine function.

Intended differences are listed below, each with its reason; anything else is a drift. Not
compared, because they are not mirrors: the framework extensions of Flask and Starlette (each
takes its own framework's request; neither has a twin in its framework), ``RemoteSessions``
(async only), ``sessionward.httpx_auth.SessionAuth`` (one class serves httpx's sync and async
clients: ``httpx.Auth.auth_flow`` is a plain generator both drive), and instance attributes set
in ``__init__`` (the twins share one constructor).
"""

from __future__ import annotations

import inspect
import types
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import typing_extensions

from sessionward import AsyncSessionManager, Config, SessionManager
from sessionward._remote import AsyncRemoteVerifier, RemoteVerifier
from sessionward.integrations import AsyncRequestSession, RequestSession
from sessionward.integrations import django as django_integration

# The Python protocol's own renaming, the same for every pair.
PROTOCOL_RENAMES = {"__enter__": "__aenter__", "__exit__": "__aexit__"}
# Dunders compared although private; both twins keep a sync ``__init__``.
CHECKED_DUNDERS = ("__init__", *PROTOCOL_RENAMES, *PROTOCOL_RENAMES.values())
ALWAYS_SYNC = frozenset({"__init__"})
# Names only imported under TYPE_CHECKING in the modules compared, to resolve their hints.
HINT_NAMES = {"Unpack": typing_extensions.Unpack, "httpx": httpx}


@dataclass(frozen=True)
class Mirror:
    """A sync/async pair and its intended differences.

    ``renames``: sync name -> async name. ``async_only``/``sync_only``: name -> why it has no
    twin. ``functions``: compare these (sync, async) module functions instead of two classes.
    """

    name: str
    sync: type | None = None
    asynchronous: type | None = None
    renames: dict[str, str] = field(default_factory=dict)
    async_only: dict[str, str] = field(default_factory=dict)
    sync_only: dict[str, str] = field(default_factory=dict)
    functions: tuple[tuple[Callable[..., Any], Callable[..., Any]], ...] = ()


# httpx's convention (``AsyncClient.aclose``, also anyio's and redis's): the async close is
# ``aclose``, so that one object can offer both and a missed ``await`` is not a silent no-op.
ACLOSE = {"close": "aclose"}

MIRRORS = [
    Mirror(
        "manager",
        SessionManager,
        AsyncSessionManager,
        renames={**PROTOCOL_RENAMES, **ACLOSE},
        async_only={"close": "the name before aclose, kept as an alias so that code keeps working"},
    ),
    Mirror("request session", RequestSession, AsyncRequestSession),
    Mirror("remote verifier", RemoteVerifier, AsyncRemoteVerifier, {**PROTOCOL_RENAMES, **ACLOSE}),
    # Django names its async twins with an ``a`` prefix (``aget``, ``acreate``), and so do we.
    Mirror(
        "django functions",
        functions=(
            (django_integration.get_session, django_integration.aget_session),
            (django_integration.create_new_session, django_integration.acreate_new_session),
        ),
    ),
]


def public_names(cls: type) -> set[str]:
    names = {name for name in dir(cls) if not name.startswith("_")}
    return names | {
        name
        for name in CHECKED_DUNDERS
        if getattr(cls, name, None) is not getattr(object, name, None)
    }


def static_member(cls: type, name: str) -> Any:
    return inspect.getattr_static(cls, name)


def kind_of(member: Any) -> str:
    if isinstance(member, property):
        return "property"
    if isinstance(member, (staticmethod, classmethod)):
        return type(member).__name__
    if inspect.isfunction(member):
        return "method"
    return f"attribute ({type(member).__name__})"


def swapped(hint: Any, swaps: dict[Any, Any]) -> Any:
    """``hint`` with each sync class of the pairs read as its async twin."""
    if isinstance(hint, list):  # the parameters of a Callable
        return [swapped(item, swaps) for item in hint]
    if isinstance(hint, type) and hint in swaps:
        return swaps[hint]
    origin = typing.get_origin(hint)
    arguments = typing.get_args(hint)
    if origin is None or not arguments:
        return hint
    new = tuple(swapped(argument, swaps) for argument in arguments)
    if new == arguments:
        return hint
    if origin in (typing.Union, types.UnionType):
        return typing.Union[new]  # noqa: UP007 - built from a tuple
    return origin[new]


def hints_of(function: Callable[..., Any]) -> dict[str, Any]:
    return typing.get_type_hints(function, localns=HINT_NAMES)


def parameters_of(function: Callable[..., Any]) -> list[tuple[str, str, Any]]:
    return [
        (p.name, p.kind.name, p.default) for p in inspect.signature(function).parameters.values()
    ]


def function_drifts(
    label: str,
    sync: Callable[..., Any],
    asynchronous: Callable[..., Any],
    swaps: dict[Any, Any],
    *,
    both_sync: bool = False,
) -> list[str]:
    drifts = []
    if inspect.iscoroutinefunction(sync):
        drifts.append(f"{label}: the sync one is a coroutine function")
    if inspect.iscoroutinefunction(asynchronous) == both_sync:
        awaited = "is" if both_sync else "is not"
        drifts.append(f"{label}: the async one {awaited} a coroutine function")
    sync_parameters, async_parameters = parameters_of(sync), parameters_of(asynchronous)
    if sync_parameters != async_parameters:
        drifts.append(f"{label}: parameters {sync_parameters} != {async_parameters}")
    sync_hints = hints_of(sync)
    if "return" in sync_hints:  # parameters stay as they are: the twins take the same arguments
        sync_hints["return"] = swapped(sync_hints["return"], swaps)
    async_hints = hints_of(asynchronous)
    for name in sorted(set(sync_hints) | set(async_hints)):
        expected, found = sync_hints.get(name, "missing"), async_hints.get(name, "missing")
        if expected != found:
            what = "returns" if name == "return" else f"parameter {name!r} is"
            drifts.append(f"{label}: {what} {found} in the async one, {expected} in the sync one")
    return drifts


def member_drifts(
    label: str, sync: Any, asynchronous: Any, swaps: dict[Any, Any], *, both_sync: bool
) -> list[str]:
    sync_kind, async_kind = kind_of(sync), kind_of(asynchronous)
    if sync_kind != async_kind:
        return [f"{label}: a {sync_kind} in the sync one, a {async_kind} in the async one"]
    if isinstance(sync, property):
        drifts = function_drifts(label, sync.fget, asynchronous.fget, swaps, both_sync=True)
        if (sync.fset is None) != (asynchronous.fset is None):
            drifts.append(f"{label}: settable in only one of them")
        return drifts
    if isinstance(sync, (staticmethod, classmethod)):
        sync, asynchronous = sync.__func__, asynchronous.__func__
    if inspect.isfunction(sync):
        return function_drifts(label, sync, asynchronous, swaps, both_sync=both_sync)
    return []


def class_drifts(mirror: Mirror, swaps: dict[Any, Any]) -> list[str]:
    assert mirror.sync is not None and mirror.asynchronous is not None
    sync_names, async_names = public_names(mirror.sync), public_names(mirror.asynchronous)
    drifts = []
    pairs = []
    for name in sorted(sync_names):
        twin = mirror.renames.get(name, name)
        if name in mirror.sync_only:
            continue
        if twin not in async_names:
            drifts.append(f"{mirror.asynchronous.__name__} lacks {twin} (sync: {name})")
            continue
        pairs.append((name, twin))
    paired = {twin for _, twin in pairs}
    for name in sorted(async_names - paired - set(mirror.async_only)):
        drifts.append(f"{mirror.sync.__name__} lacks a twin of {name}")
    for name, twin in pairs:
        label = name if name == twin else f"{name}/{twin}"
        drifts += member_drifts(
            f"{mirror.sync.__name__}.{label}",
            static_member(mirror.sync, name),
            static_member(mirror.asynchronous, twin),
            swaps,
            both_sync=name in ALWAYS_SYNC,
        )
    return drifts


def all_swaps() -> dict[Any, Any]:
    return {m.sync: m.asynchronous for m in MIRRORS if m.sync is not None}


@pytest.mark.parametrize("mirror", MIRRORS, ids=[m.name for m in MIRRORS])
def test_sync_and_async_twins_agree(mirror: Mirror) -> None:
    swaps = all_swaps()
    if mirror.functions:
        drifts = [
            drift
            for sync, asynchronous in mirror.functions
            for drift in function_drifts(
                f"{sync.__name__}/{asynchronous.__name__}", sync, asynchronous, swaps
            )
        ]
    else:
        drifts = class_drifts(mirror, swaps)
    assert not drifts, "the sync and async twins drifted:\n" + "\n".join(drifts)


def test_the_allow_list_names_real_members() -> None:
    """An entry for a name that no longer exists would hide nothing and mislead the reader."""
    for mirror in MIRRORS:
        if mirror.sync is None or mirror.asynchronous is None:
            continue
        sync_names, async_names = public_names(mirror.sync), public_names(mirror.asynchronous)
        for name, twin in mirror.renames.items():
            assert name in sync_names and twin in async_names, (mirror.name, name, twin)
        assert set(mirror.sync_only) <= sync_names, mirror.name
        assert set(mirror.async_only) <= async_names, mirror.name


def test_the_check_sees_a_drift() -> None:
    """The comparison itself: a missing method, a changed default, a sync twin, another return
    type are all found."""

    class Sync:
        def read(self, key: str, default: int = 0) -> int:
            return default

        def write(self) -> None: ...

        def size(self) -> int:
            return 0

    class Async:
        def read(self, key: str, default: int = 1) -> int:
            return default

        async def size(self) -> str:
            return ""

    drifts = class_drifts(Mirror("made up", Sync, Async), {Sync: Async})
    assert "Async lacks write (sync: write)" in drifts
    assert any("parameters" in drift for drift in drifts)
    assert any("is not a coroutine function" in drift for drift in drifts)
    assert any("size: returns" in drift for drift in drifts)


async def test_both_managers_read_the_same_deployed_algorithm(
    make_config: Callable[..., Config], clock: Callable[[], float]
) -> None:
    """The async twin added for the drift: it reads the key table as the sync one does."""
    config = make_config()
    sync_manager = SessionManager(config, clock=clock)
    async with AsyncSessionManager(config, clock=clock) as async_manager:
        try:
            assert await async_manager.deployed_signing_algorithm() is None  # no key yet
            assert sync_manager.deployed_signing_algorithm() is None
            await async_manager.create_tables()
            deployed = await async_manager.deployed_signing_algorithm()
            assert deployed == config.signing_algorithm
            assert deployed == sync_manager.deployed_signing_algorithm()
        finally:
            sync_manager.close()


class _CountingStore:
    """A store that counts its closes, around a real one."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.closes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def close(self) -> None:
        self.closes += 1
        await self.inner.close()


@pytest.mark.parametrize("how", ["aclose", "close", "async with"])
async def test_the_async_manager_closes_by_aclose_and_by_its_old_name(
    make_config: Callable[..., Config], how: str
) -> None:
    """``aclose`` is the name; ``close`` still works, is a coroutine and does not warn (a
    warning would fail every caller's suite that turns warnings into errors)."""
    owner = AsyncSessionManager(make_config())
    store = _CountingStore(owner.store)
    manager = AsyncSessionManager(owner.config, store=store)
    assert inspect.iscoroutinefunction(manager.close)
    if how == "async with":
        async with manager:
            await manager.create_tables()
    else:
        await manager.create_tables()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            await getattr(manager, how)()
    assert store.closes == 1
