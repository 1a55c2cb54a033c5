"""Web fixtures: ``make_web_app`` and ``web``, the framework's example app on a fresh config.

The apps, the test browser and the header client they hand out are in
:mod:`tests.support.web_apps`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sessionward import Config
from sessionward._events import NO_HOOKS, SessionHooks
from tests.support.web_apps import BUILDERS, EXAMPLE_SETTINGS, WebApp


@pytest.fixture
def make_web_app(
    framework: str, make_config: Callable[..., Config], clock: Any
) -> Iterator[Callable[..., WebApp]]:
    """Start the framework's example app on a fresh config (``make_web_app(enable_...=True)``)."""
    running: list[Iterator[WebApp]] = []

    def factory(*, hooks: SessionHooks = NO_HOOKS, **settings: Any) -> WebApp:
        config = make_config(**{**EXAMPLE_SETTINGS, **settings})
        gen = BUILDERS[framework](config, clock, hooks)
        running.append(gen)
        return next(gen)

    yield factory
    for gen in reversed(running):
        with pytest.raises(StopIteration):
            next(gen)


@pytest.fixture
def web(make_web_app: Callable[..., WebApp]) -> WebApp:
    return make_web_app()
