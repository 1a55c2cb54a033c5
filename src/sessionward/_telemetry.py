"""Metrics and traces through OpenTelemetry (docs/operations.md#metrics-and-traces): the one
module that knows the ``opentelemetry`` API.

Optional: with the ``sessionward[otel]`` extra missing, nothing is imported and every call here
is a no-op. With the API installed, the meter and the tracer are taken once, lazily, when the
first manager is built (never at import, never on a request); without an SDK configured they
are OpenTelemetry's proxies, which do nothing until the application sets a provider (before or
after that moment). The per-request verify path calls in here only when it fails.

Instruments (OpenTelemetry's naming rules: a ``sessionward.`` namespace, counters of discrete
things pluralised with a ``{thing}`` unit, durations in seconds, attributes namespaced too):

=================================== ============== ==========================================
``sessionward.sessions.created``    counter        logins and impersonations
``sessionward.refreshes``           counter        ``sessionward.outcome``: ``rotated``,
                                                   ``grace_duplicate``, ``lost_answer_retry``
``sessionward.thefts``              counter        ``sessionward.reason``: a theft reason
``sessionward.revocations``         counter        sessions revoked, ``sessionward.reason``
``sessionward.verify.failures``     counter        ``sessionward.reason``: ``expired``,
                                                   ``invalid``, ``anti_csrf_missing``,
                                                   ``anti_csrf_mismatch``, ``revoked``,
                                                   ``claim_failed``
``sessionward.create.duration``     histogram, s   ``error.type`` when it failed
``sessionward.refresh.duration``    histogram, s   ``error.type`` when it failed
``sessionward.revocation.lag``      histogram, s   from a revocation's write in any process to
                                                   this process knowing it
``sessionward.revocation.cache      gauge          revocations this process holds
.entries``
``sessionward.proof.cache.entries`` gauge          proof ids remembered against replay
=================================== ============== ==========================================

Spans: ``sessionward.create_session``, ``sessionward.refresh_session``,
``sessionward.revoke_session`` (and ``.revoke_user``, ``.revoke_tenant``,
``.revoke_other_sessions``), ``sessionward.keys.reload``. Their attributes are the session's
handle, tenant, outcome and reasons, never a token, a hash of one, a key or an error's message
(``error.type`` is the exception's class); the user id (``enduser.id``) only with
``Config.telemetry_user_ids``. Metrics never carry a handle, a tenant or a user.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation
    from opentelemetry.trace import Span as OtelSpan
    from opentelemetry.trace import Tracer

SCOPE = "sessionward"
# Seconds: the boundaries OpenTelemetry's semantic conventions advise for request durations,
# starting lower (a login or a refresh is a few milliseconds of work and one or two round trips).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0, 30.0, 60.0)

OUTCOME = "sessionward.outcome"
REASON = "sessionward.reason"
HANDLE = "sessionward.session.handle"
TENANT = "sessionward.tenant"
USER = "enduser.id"  # OpenTelemetry's attribute for the user (only with telemetry_user_ids)
ERROR_TYPE = "error.type"


class Observed(Protocol):
    """What the gauges read of a manager's state (its :class:`Context`)."""

    @property
    def revocations(self) -> Any: ...  # a RevocationCache: len() is its entries

    @property
    def seen_proofs(self) -> Any: ...  # a SeenProofs: len() is the ids it holds


class _Instruments:
    """The meter's instruments and the tracer, made once per process."""

    def __init__(self) -> None:
        from opentelemetry import context, metrics, trace

        self.observed: weakref.WeakSet[Observed] = weakref.WeakSet()
        version = _version()
        meter = metrics.get_meter(SCOPE, version)
        self.tracer: Tracer = trace.get_tracer(SCOPE, version)
        self.attach = context.attach
        self.detach = context.detach
        self.in_context = trace.set_span_in_context
        self.error_status = trace.Status(trace.StatusCode.ERROR)
        self.created: Counter = meter.create_counter(
            "sessionward.sessions.created", "{session}", "Sessions created (logins)"
        )
        self.refreshes: Counter = meter.create_counter(
            "sessionward.refreshes", "{refresh}", "Successful refreshes, by outcome"
        )
        self.thefts: Counter = meter.create_counter(
            "sessionward.thefts", "{theft}", "Refresh-token thefts detected, by reason"
        )
        self.revocations: Counter = meter.create_counter(
            "sessionward.revocations", "{session}", "Sessions revoked, by reason"
        )
        self.verify_failures: Counter = meter.create_counter(
            "sessionward.verify.failures", "{failure}", "Requests whose session failed, by reason"
        )
        self.durations: dict[str, Histogram] = {
            name: _histogram(
                meter,
                f"sessionward.{name}.duration",
                f"Duration of a session {name}, database included",
                DURATION_BUCKETS,
            )
            for name in ("create", "refresh")
        }
        self.lag: Histogram = _histogram(
            meter,
            "sessionward.revocation.lag",
            "From a revocation's write, in any process, to this process knowing it",
            LAG_BUCKETS,
        )
        meter.create_observable_gauge(
            "sessionward.revocation.cache.entries",
            [self._observe(lambda observed: len(observed.revocations))],
            "{entry}",
            "Revocations this process holds for the verify check",
        )
        meter.create_observable_gauge(
            "sessionward.proof.cache.entries",
            [self._observe(lambda observed: len(observed.seen_proofs))],
            "{entry}",
            "Proof-of-possession ids this process remembers against replay",
        )

    def _observe(
        self, size: Callable[[Observed], int]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        from opentelemetry.metrics import Observation

        def callback(options: CallbackOptions) -> Iterator[Observation]:
            yield Observation(sum(size(observed) for observed in list(self.observed)))

        return callback


def _histogram(meter: Any, name: str, description: str, buckets: Sequence[float]) -> Histogram:
    try:
        histogram: Histogram = meter.create_histogram(
            name, "s", description, explicit_bucket_boundaries_advisory=buckets
        )
    except TypeError:  # opentelemetry-api before 1.23 takes no advice
        histogram = meter.create_histogram(name, "s", description)
    return histogram


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sessionward")
    except PackageNotFoundError:  # run from a source tree
        return "0"


_loaded = False
_instruments: _Instruments | None = None


def _load() -> _Instruments | None:
    """The instruments, made on the first call; None when the API is not installed."""
    global _loaded, _instruments
    if not _loaded:
        _loaded = True
        try:
            _instruments = _Instruments()
        except ImportError:
            _instruments = None
    return _instruments


def observe(state: Observed) -> None:
    """Let the gauges read ``state`` (a manager's context) while it lives. Called when a manager
    is built: the moment the API, if installed, is imported and the instruments made."""
    instruments = _load()
    if instruments is not None:
        instruments.observed.add(state)


class Operation:
    """A span around an operation (and its duration, for create and refresh), current while the
    operation runs so that the database's own spans nest in it. A context manager: a flow
    wraps its ``yield from`` in it, which the sync and the async driver both keep in one
    context."""

    __slots__ = ("_duration", "_instruments", "_span", "_started", "_token")

    def __init__(
        self, instruments: _Instruments, name: str, duration: str | None, attributes: dict[str, Any]
    ) -> None:
        self._instruments = instruments
        self._duration = None if duration is None else instruments.durations[duration]
        self._span: OtelSpan = instruments.tracer.start_span(
            name, attributes=attributes, record_exception=False, set_status_on_exception=False
        )
        self._token: object | None = None
        self._started = 0.0

    def __enter__(self) -> Operation:
        if self._span.is_recording():
            self._token = self._instruments.attach(self._instruments.in_context(self._span))
        self._started = time.perf_counter()
        return self

    def set(self, key: str, value: str | int | bool) -> None:
        """An attribute of the span (never a token: see the module's docstring)."""
        if self._span.is_recording():
            self._span.set_attribute(key, value)

    def set_user(self, user_id: str, allowed: bool) -> None:
        """The user id, as ``enduser.id``, only if ``telemetry_user_ids`` allows it."""
        if allowed:
            self.set(USER, user_id)

    def __exit__(self, kind: type[BaseException] | None, error: object, traceback: object) -> None:
        seconds = time.perf_counter() - self._started
        failure = None if kind is None or kind is GeneratorExit else kind.__name__
        if self._duration is not None:
            self._duration.record(seconds, {} if failure is None else {ERROR_TYPE: failure})
        span = self._span
        if failure is not None and span.is_recording():
            span.set_attribute(ERROR_TYPE, failure)
            span.set_status(self._instruments.error_status)  # no description: never a message
        if self._token is not None:
            self._instruments.detach(self._token)  # type: ignore[arg-type]
        span.end()


class _NoOperation:
    """What :func:`operation` returns without the API: does nothing, shared by every caller."""

    __slots__ = ()

    def __enter__(self) -> _NoOperation:
        return self

    def set(self, key: str, value: str | int | bool) -> None:
        pass

    def set_user(self, user_id: str, allowed: bool) -> None:
        pass

    def __exit__(self, kind: type[BaseException] | None, error: object, traceback: object) -> None:
        pass


_NO_OPERATION = _NoOperation()
Span: TypeAlias = Operation | _NoOperation  # what a flow holds while in its span


def operation(name: str, duration: str | None = None, **attributes: str | int | bool) -> Span:
    """The span ``sessionward.<name>`` with ``attributes`` (``handle``, ``tenant``, ``reason``,
    ``outcome`` and ``keys_trigger`` by their names above, any other ``key`` as
    ``sessionward.<key>``), and for ``duration`` ("create", "refresh") the histogram's record."""
    instruments = _instruments if _loaded else _load()
    if instruments is None:
        return _NO_OPERATION
    named = {_ATTRIBUTES.get(key, f"sessionward.{key}"): value for key, value in attributes.items()}
    return Operation(instruments, f"sessionward.{name}", duration, named)


_ATTRIBUTES = {
    "handle": HANDLE,
    "tenant": TENANT,
    "reason": REASON,
    "outcome": OUTCOME,
    "keys_trigger": "sessionward.keys.trigger",
}


def session_created() -> None:
    instruments = _instruments if _loaded else _load()
    if instruments is not None:
        instruments.created.add(1)


def refreshed(outcome: str) -> None:
    """A refresh succeeded: ``rotated``, ``grace_duplicate`` or ``lost_answer_retry``."""
    instruments = _instruments if _loaded else _load()
    if instruments is not None:
        instruments.refreshes.add(1, {OUTCOME: outcome})


def theft(reason: str) -> None:
    instruments = _instruments if _loaded else _load()
    if instruments is not None:
        instruments.thefts.add(1, {REASON: reason})


def revoked(reason: str, sessions: int = 1) -> None:
    """``sessions`` sessions were revoked (deleted) for ``reason``."""
    instruments = _instruments if _loaded else _load()
    if instruments is not None and sessions > 0:
        instruments.revocations.add(sessions, {REASON: reason})


def verify_failed(reason: str) -> None:
    """A request's session failed to verify (only ever called on that path)."""
    instruments = _instruments if _loaded else _load()
    if instruments is not None:
        instruments.verify_failures.add(1, {REASON: reason})


def revocations_learned(lags_ms: Iterable[int]) -> None:
    """Revocations written elsewhere became known here, each ``lag`` ms after its write."""
    instruments = _instruments if _loaded else _load()
    if instruments is not None:
        record = instruments.lag.record
        for lag in lags_ms:
            record(max(lag, 0) / 1000)


__all__ = [
    "ERROR_TYPE",
    "HANDLE",
    "OUTCOME",
    "REASON",
    "TENANT",
    "USER",
    "Operation",
    "Span",
    "observe",
    "operation",
    "refreshed",
    "revocations_learned",
    "revoked",
    "session_created",
    "theft",
    "verify_failed",
]
