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


Outcome = tuple[Any, Exception | None]  # a step's result, or the error it raised


class _Driving:
    """The state of one flow being driven: its current step, and its result once it returns.

    Both drivers share it, so that what to do with a step's outcome (send the result in, or
    throw the error in; notice the end; close the flow however it ends) is written once.
    """

    __slots__ = ("flow", "result", "step")

    def __init__(self, flow: Flow[Any, Any, Any]) -> None:
        self.flow = flow
        self.result: Any = None
        self.step: Step[Any, Any, Any] | None = None

    def __enter__(self) -> _Driving:
        self.advance((None, None))  # sending None into a fresh generator starts it
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flow.close()

    def advance(self, outcome: Outcome) -> None:
        """Hand the last step's outcome to the flow, and take its next step (or its result)."""
        value, error = outcome
        try:
            self.step = self.flow.send(value) if error is None else self.flow.throw(error)
        except StopIteration as stop:
            self.step, self.result = None, stop.value


def _outcome(step: Step[S, Any, Any], target: S) -> Outcome:
    try:
        return step.run(target), None
    except Exception as exc:
        return None, exc


async def _async_outcome(step: Step[Any, A, Any], target: A) -> Outcome:
    try:
        return await step.arun(target), None
    except Exception as exc:
        return None, exc


def run_flow(flow: Flow[S, Any, R], target: S) -> R:
    """Drive ``flow`` to its end, performing each step on the sync ``target``."""
    with _Driving(flow) as driving:
        while driving.step is not None:
            driving.advance(_outcome(driving.step, target))
        return cast(R, driving.result)


async def arun_flow(flow: Flow[Any, A, R], target: A) -> R:
    """Drive ``flow`` to its end, awaiting each step on the async ``target``."""
    with _Driving(flow) as driving:
        while driving.step is not None:
            driving.advance(await _async_outcome(driving.step, target))
        return cast(R, driving.result)
