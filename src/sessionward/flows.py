"""Flows: an operation written once, as a generator of typed steps, run sync or async.

The model is httpx's ``Auth.auth_flow``. A flow does all the work that needs no I/O and
``yield``s a :class:`Step` whenever it needs something done (a statement executed, a manager
called); the driver performs the step on its *target* (a sync or an async store or manager) and
sends the result back, or throws the error back in, so the flow's own ``try``/``except`` works as
if the call were direct. :func:`run_flow` and :func:`arun_flow` are the only two drivers; the
flow itself is shared by both, so the sync and the async managers cannot drift apart.

Every step is typed: ``row = yield from perform(step)`` gives ``row`` the step's result type, and
a step's ``run``/``arun`` call its target's methods, which the type checker sees.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Generic, TypeVar, cast

R = TypeVar("R")
S = TypeVar("S", contravariant=True)  # the sync target: a store or a manager
A = TypeVar("A", contravariant=True)  # the async target


class Step(Generic[S, A, R]):
    """Something a flow needs done, with result type ``R``: on a sync target by :meth:`run`, on
    an async target by :meth:`arun`."""

    __slots__ = ()

    def run(self, target: S) -> R:
        raise NotImplementedError

    async def arun(self, target: A) -> R:
        raise NotImplementedError


Flow = Generator[Step[S, A, Any], Any, R]


def perform(step: Step[S, A, R]) -> Generator[Step[S, A, R], Any, R]:
    """``result = yield from perform(step)``: hand ``step`` to the driver, get its result."""
    return cast(R, (yield step))


class _Outcome:
    """What became of one step: its result, or the error it raised."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: Exception | None = None) -> None:
        self.value = value
        self.error = error

    def resume(self, flow: Flow[Any, Any, Any]) -> Step[Any, Any, Any]:
        """Send the result into the flow, or throw the error in; the flow's next step."""
        if self.error is not None:
            return flow.throw(self.error)
        return flow.send(self.value)


def run_flow(flow: Flow[S, Any, R], target: S) -> R:
    """Drive ``flow`` to its end, performing each step on the sync ``target``."""
    try:
        step = next(flow)
        while True:
            try:
                outcome = _Outcome(step.run(target))
            except Exception as exc:
                outcome = _Outcome(error=exc)
            step = outcome.resume(flow)
    except StopIteration as stop:
        return cast(R, stop.value)
    finally:
        flow.close()


async def arun_flow(flow: Flow[Any, A, R], target: A) -> R:
    """Drive ``flow`` to its end, awaiting each step on the async ``target``."""
    try:
        step = next(flow)
        while True:
            try:
                outcome = _Outcome(await step.arun(target))
            except Exception as exc:
                outcome = _Outcome(error=exc)
            step = outcome.resume(flow)
    except StopIteration as stop:
        return cast(R, stop.value)
    finally:
        flow.close()
