"""What every operation flow shares: the configuration, the clock, the queries, the keys, the
proofs already seen, the revocation cache and the hooks (one :class:`Context` per manager).

It runs no flow of its own but ``ready``; the flows are functions of the sibling modules that
take the context first, so that nothing stands between a manager (or a transport flow) and the
operation it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeAlias, TypeVar

from sessionward import _telemetry as telemetry
from sessionward._config import Config
from sessionward._errors import GeneralError
from sessionward._events import NO_HOOKS, Emission, SessionHooks
from sessionward._keyring import ProcessKeys
from sessionward._proof import SeenProofs
from sessionward._revocations import READ_MARGIN_MS, RevocationCache
from sessionward._storage.execution import StoreFlow
from sessionward._storage.queries import Queries
from sessionward._storage.schema import build_statements

Clock = Callable[[], float]
Emissions = list[Emission[Any]]
MAX_DECISION_ATTEMPTS = 10  # each lost compare-and-set means another request moved the row on

P = ParamSpec("P")
T = TypeVar("T")
# A flow that a manager can drive: given the context and the list its events go to.
Operation: TypeAlias = Callable[Concatenate["Context", Emissions, P], StoreFlow[T]]


def contention() -> GeneralError:
    return GeneralError("the session kept changing under concurrent requests; try again")


class Context:
    """The state the operations share (keys, seen proofs, the last purge, the revocations)."""

    def __init__(self, config: Config, clock: Clock = time.time, hooks: SessionHooks = NO_HOOKS):
        self.config = config
        self.hooks = hooks
        self.clock = clock
        self.queries = Queries(
            build_statements(
                config.signing_key_table, config.refresh_token_table, config.revocation_table
            )
        )
        self.keys = ProcessKeys(config, self.queries, self.now_ms)
        self.seen_proofs = SeenProofs()
        self.last_purge_ms: int | None = None
        self.leeway_ms = config.access_token_leeway * 1000
        lifetime = config.absolute_session_lifetime
        self.lifetime_ms = None if lifetime is None else lifetime * 1000
        self.revocation_mode = config.revocation_mode
        self.revocations_purged_ms = self.now_ms()  # the first purge: minutes from now
        self.revocations = RevocationCache(
            int(config.revocation_refresh_interval * 1000),
            keep_log=config.revocation_feed_path is not None,  # what the feed serves
        )
        # How long a revocation can matter: until the last access token it concerns expires.
        self.revocation_life_ms = config.access_token_validity_ms + self.leeway_ms + READ_MARGIN_MS
        telemetry.observe(self)  # the gauges read the two caches above

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def ready(self) -> StoreFlow[None]:
        """Create the tables if missing and load (or create) the keys; once per process."""
        return self.keys.ready()


def ready(context: Context, emissions: Emissions) -> StoreFlow[None]:
    """:meth:`Context.ready` as an operation (``create_tables``)."""
    return context.ready()


__all__ = [
    "MAX_DECISION_ATTEMPTS",
    "Clock",
    "Context",
    "Emissions",
    "Operation",
    "contention",
    "ready",
]
