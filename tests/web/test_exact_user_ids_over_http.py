"""The example API keeps lookalike user ids apart on every backend (see
tests/test_exact_user_ids_library_and_cli.py for why MySQL/MariaDB needed it)."""

from __future__ import annotations

import pytest

from tests.support.web_apps import WebApp

from .test_scenarios import COMBOS, logged_in

pytestmark = pytest.mark.parametrize(("framework", "backend"), COMBOS)


def test_a_lookalike_user_neither_lists_nor_revokes_alices_sessions(web: WebApp) -> None:
    alice = logged_in(web, "alice")
    for lookalike in ("ALICE", "Alíce", "alice "):
        other = logged_in(web, lookalike)
        listed = other.request("GET", "/sessions").json()["sessions"]
        assert listed == web.handles(lookalike) and len(listed) == 1
        assert other.request("POST", "/revoke-all").json() == {"revoked": 1}
        assert alice.request("GET", "/me").status == 200
        assert len(web.handles("alice")) == 1
