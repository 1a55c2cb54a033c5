"""The ``sessionward`` command: every subcommand, its output, its errors and its exit codes.

Most tests call :func:`sessionward._cli.run` in-process on a temp SQLite file (fast); the data
commands also run on MariaDB and PostgreSQL with tables of their own, and a few tests start the
real command as a subprocess to check the entry point and stderr.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sessionward import ClientContext, SessionManager, UnauthorisedError
from sessionward._cli import EXIT_DATABASE, EXIT_LISTEN, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, run

from .conftest import Db, unique_tables

ROOT = Path(__file__).resolve().parent.parent
DOWN_URLS = {
    "mysql": "mysql://root:hunter2secret@127.0.0.1:1/sessionward_test",
    "postgres": "postgresql://postgres:hunter2secret@127.0.0.1:1/sessionward_test",
}


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Db:
    return Db(f"sqlite:///{tmp_path}/cli.sqlite3", unique_tables())


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_tables_then_check(db: Db, capsys: Any) -> None:
    code, _, err = cli(capsys, "check", *db.options)
    assert code == EXIT_DATABASE
    assert "missing" in err or "does not exist" in err
    assert "sessionward create-tables" in err

    code, out, _ = cli(capsys, "create-tables", *db.options)
    assert code == EXIT_OK
    assert db.tables["refresh_token_table"] in out
    created = out.splitlines()[:-1]  # what it did, a line each
    if db.url.startswith("sqlite"):
        assert created == ["created the SQLite file"]
    else:
        assert sorted(created) == sorted(f"created table {name!r}" for name in db.tables.values())

    code, out, err = cli(capsys, "check", *db.options)
    assert (code, err) == (EXIT_OK, "")
    assert out.startswith("ok:")
    # Idempotent: a second create is fine, and says it had nothing to do.
    code, out, _ = cli(capsys, "create-tables", *db.options)
    assert code == EXIT_OK and out.splitlines() == [out.strip()]
    assert out.strip().endswith("(nothing to change)")


def test_check_names_the_columns_an_older_table_lacks_and_create_tables_adds_them(
    db: Db, capsys: Any
) -> None:
    """One rule (upgrade.missing_columns) for what check reports and create-tables adds."""
    from sqlalchemy import create_engine, text

    from sessionward._storage.engines import resolve_url

    assert cli(capsys, "create-tables", *db.options)[0] == EXIT_OK
    sessions = db.tables["refresh_token_table"]
    engine = create_engine(resolve_url(db.url, asynchronous=False))
    try:
        with engine.begin() as conn:  # as a sessionward without mark_fresh made it
            conn.execute(text(f"ALTER TABLE {sessions} DROP COLUMN authenticated_at"))
    finally:
        engine.dispose()

    code, out, err = cli(capsys, "check", *db.options)
    assert (code, out) == (EXIT_DATABASE, "")
    assert f"table {sessions!r} lacks column(s) authenticated_at" in err
    assert "sessionward create-tables" in err

    assert cli(capsys, "create-tables", *db.options)[0] == EXIT_OK
    assert cli(capsys, "check", *db.options)[0] == EXIT_OK


def test_sessions_lists_a_users_live_sessions(db: Db, capsys: Any) -> None:
    firefox = ClientContext(
        "203.0.113.7", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0"
    )
    with db.manager() as manager:
        first = manager.create_new_session("alice", client=firefox).session.handle
        time.sleep(0.01)
        second = manager.create_new_session("alice").session.handle
        manager.create_new_session("bob")

    code, out, err = cli(capsys, "sessions", "alice", *db.options)
    assert (code, err) == (EXIT_OK, "")
    lines = out.splitlines()
    assert lines[0].split() == ["HANDLE", "TENANT", "DEVICE", "ADDRESS", "SIGNED", "IN", "(UTC)",
                                "LAST", "ACTIVE", "(UTC)", "EXPIRES", "(UTC)", "IMPERSONATED",
                                "BY"]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == [second, first]  # most recent first
    assert "Firefox on Linux" in lines[2] and "203.0.113.7" in lines[2]
    assert [line.split()[1] for line in lines[1:]] == ["public", "public"]
    assert [line.split()[-1] for line in lines[1:]] == ["-", "-"]  # nobody impersonates

    code, out, _ = cli(capsys, "sessions", "alice", "--json", *db.options)
    listed = json.loads(out)
    assert [s["sessionHandle"] for s in listed] == [second, first]
    assert all(s["userId"] == "alice" and s["expiresAt"] > s["createdAt"] for s in listed)
    assert listed[1]["device"] == "Firefox on Linux" and listed[1]["clientIp"] == "203.0.113.7"
    assert listed[1]["lastActiveAt"] == listed[1]["createdAt"]  # never refreshed
    assert listed[0]["device"] is None and listed[0]["userAgent"] is None
    assert [(s["tenantId"], s["impersonatedBy"]) for s in listed] == [("public", None)] * 2


def test_unknown_user_is_exit_3_with_a_message(db: Db, capsys: Any) -> None:
    cli(capsys, "create-tables", *db.options)
    code, out, err = cli(capsys, "sessions", "nobody", *db.options)
    assert (code, out) == (EXIT_NOT_FOUND, "")
    assert "'nobody' has no live sessions" in err
    code, _, err = cli(capsys, "revoke-user", "nobody", *db.options)
    assert code == EXIT_NOT_FOUND and "'nobody' has no sessions" in err


def test_revoke_one_session(db: Db, capsys: Any) -> None:
    with db.manager() as manager:
        keep = manager.create_new_session("alice")
        gone = manager.create_new_session("alice")
        code, out, _ = cli(capsys, "revoke", gone.session.handle, *db.options)
        assert code == EXIT_OK and gone.session.handle in out
        assert manager.get_all_session_handles_for_user("alice") == [keep.session.handle]
        code, _, err = cli(capsys, "revoke", gone.session.handle, *db.options)
        assert code == EXIT_NOT_FOUND and "no session with handle" in err


def test_revoke_user_ends_every_session_of_that_user_only(db: Db, capsys: Any) -> None:
    with db.manager() as manager:
        for _ in range(3):
            manager.create_new_session("alice")
        bob = manager.create_new_session("bob")
        code, out, _ = cli(capsys, "revoke-user", "alice", *db.options)
        assert code == EXIT_OK and "revoked 3 session(s)" in out
        assert manager.get_all_session_handles_for_user("alice") == []
        assert manager.get_all_session_handles_for_user("bob") == [bob.session.handle]


# Tenants (issue 21): a user id is unique within its tenant only, and no command crosses one.


def test_sessions_and_revoke_user_take_the_tenant_and_never_cross_it(db: Db, capsys: Any) -> None:
    """alice in acme, alice in globex and alice in the default tenant are three users."""
    with db.manager() as manager:
        acme = [manager.create_new_session("alice", tenant_id="acme") for _ in range(2)]
        globex = manager.create_new_session("alice", tenant_id="globex")
        public = manager.create_new_session("alice")

        def listed(*tenant: str) -> list[dict[str, Any]]:
            code, out, err = cli(capsys, "sessions", "alice", "--json", *tenant, *db.options)
            assert (code, err) == (EXIT_OK, "")
            return list(json.loads(out))

        acme_listed = listed("--tenant", "acme")
        assert {s["sessionHandle"] for s in acme_listed} == {t.session.handle for t in acme}
        assert {(s["userId"], s["tenantId"]) for s in acme_listed} == {("alice", "acme")}
        assert [s["sessionHandle"] for s in listed("--tenant", "globex")] == [globex.session.handle]
        # Without --tenant: the default tenant's alice only.
        assert [(s["sessionHandle"], s["tenantId"]) for s in listed()] == [
            (public.session.handle, "public")
        ]
        code, out, _ = cli(capsys, "sessions", "alice", "--tenant", "acme", *db.options)
        assert code == EXIT_OK
        assert [line.split()[1] for line in out.splitlines()[1:]] == ["acme", "acme"]
        code, out, err = cli(capsys, "sessions", "alice", "--tenant", "initech", *db.options)
        assert (code, out) == (EXIT_NOT_FOUND, "")
        assert "user 'alice' has no live sessions in tenant 'initech'" in err

        code, out, err = cli(capsys, "revoke-user", "alice", "--tenant", "acme", *db.options)
        assert (code, err) == (EXIT_OK, "")
        assert out.strip() == "revoked 2 session(s) of user 'alice' in tenant 'acme'"
        assert manager.get_all_session_handles_for_user("alice", tenant_id="acme") == []
        code, _, err = cli(capsys, "revoke-user", "alice", "--tenant", "acme", *db.options)
        assert code == EXIT_NOT_FOUND and "user 'alice' has no sessions in tenant 'acme'" in err
    # The other two alices still work, in a process that read the revocation (a fresh one).
    with db.manager() as fresh:
        for tokens, tenant in ((globex, "globex"), (public, "public")):
            assert fresh.get_session(tokens.access_token.value).session.tenant_id == tenant
            refreshed = fresh.refresh_session(tokens.refresh_token.value)
            assert refreshed.session.tenant_id == tenant and refreshed.session.user_id == "alice"
        for tokens in acme:
            with pytest.raises(UnauthorisedError):
                fresh.refresh_session(tokens.refresh_token.value)
    # revoke-user without --tenant: the default tenant's alice, not globex's.
    code, out, _ = cli(capsys, "revoke-user", "alice", *db.options)
    assert code == EXIT_OK and "revoked 1 session(s) of user 'alice' in tenant 'public'" in out
    with db.manager() as fresh:
        assert fresh.get_all_session_handles_for_user("alice", tenant_id="globex") == [
            globex.session.handle
        ]


def test_revoke_tenant_ends_every_session_of_that_tenant_only(db: Db, capsys: Any) -> None:
    """Offboarding acme: its users' sessions (an impersonation too) are refused by a process
    that was running all along, once its revocation interval is over; globex's and the default
    tenant's sessions, alice's of the same id among them, keep verifying and refreshing."""
    with db.manager(revocation_refresh_interval=0.05) as running:
        acme = [
            running.create_new_session("alice", tenant_id="acme"),
            running.create_new_session("bob", tenant_id="acme"),
            running.create_impersonation_session("support-7", "bob", tenant_id="acme"),
        ]
        others = [
            running.create_new_session("alice", tenant_id="globex"),
            running.create_new_session("alice"),
        ]
        for tokens in acme + others:  # known to this process, which has read the revocations
            assert running.get_session(tokens.access_token.value).session.user_id

        code, out, err = cli(capsys, "revoke-tenant", "acme", *db.options)
        assert (code, err) == (EXIT_OK, "")
        assert out.startswith("revoked 3 session(s) of tenant 'acme'; every process refuses")
        assert "revocation_refresh_interval (2 s by default) plus one read" in out

        time.sleep(0.2)  # past this process's interval: its next verify reads the revocation
        for tokens in acme:
            with pytest.raises(UnauthorisedError):
                running.get_session(tokens.access_token.value)
            with pytest.raises(UnauthorisedError):
                running.refresh_session(tokens.refresh_token.value)
        for tokens in others:
            tenant = tokens.session.tenant_id
            assert running.get_session(tokens.access_token.value).session.tenant_id == tenant
            refreshed = running.refresh_session(tokens.refresh_token.value)
            confirmed = running.get_session(refreshed.access_token.value)
            assert (confirmed.session.user_id, confirmed.session.tenant_id) == ("alice", tenant)
        assert running.get_all_session_handles_for_user("bob", tenant_id="acme") == []
        assert len(running.get_all_session_handles_for_user("alice", tenant_id="globex")) == 1

    code, out, err = cli(capsys, "revoke-tenant", "acme", *db.options)
    assert (code, out) == (EXIT_NOT_FOUND, "")
    assert "tenant 'acme' has no sessions" in err


def test_sessions_marks_an_impersonation(db: Db, capsys: Any) -> None:
    with db.manager() as manager:
        own = manager.create_new_session("bob", tenant_id="acme").session.handle
        time.sleep(0.01)
        support = manager.create_impersonation_session(
            "support-7", "bob", tenant_id="acme", ttl=600
        ).session.handle

    code, out, err = cli(capsys, "sessions", "bob", "--tenant", "acme", *db.options)
    assert (code, err) == (EXIT_OK, "")
    header, *rows = out.splitlines()
    assert header.split()[-2:] == ["IMPERSONATED", "BY"]
    by_handle = {row.split()[0]: row.split() for row in rows}
    assert set(by_handle) == {own, support}
    assert by_handle[support][1] == "acme" and by_handle[support][-1] == "support-7"
    assert by_handle[own][-1] == "-"

    code, out, _ = cli(capsys, "sessions", "bob", "--tenant", "acme", "--json", *db.options)
    listed = {s["sessionHandle"]: s for s in json.loads(out)}
    assert listed[support]["impersonatedBy"] == "support-7"
    assert listed[own]["impersonatedBy"] is None
    assert {s["tenantId"] for s in listed.values()} == {"acme"}
    # The web API's names (GET /devices, SessionSummary.as_json), plus whose session it is.
    assert set(listed[own]) == {"userId"} | set(manager_summary_keys()) - {"current"}
    # The impersonation ends at its ttl, whatever refreshes: its expiry is at most 600 s on.
    assert listed[support]["expiresAt"] - listed[support]["createdAt"] <= 600_000


def manager_summary_keys() -> list[str]:
    from sessionward import SessionSummary

    fields = {f: None for f in SessionSummary.__dataclass_fields__}
    return list(SessionSummary(**fields).as_json())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "tenant", ["", "acme corp", "acme/x", "t" * 65, "ünïcode", "acme\n", "x;DROP"]
)
def test_a_bad_tenant_is_a_usage_error_before_any_database_use(
    tenant: str, sqlite_db: Db, capsys: Any
) -> None:
    for argv in (
        ["sessions", "alice", "--tenant", tenant],
        ["revoke-user", "alice", "--tenant", tenant],
        ["revoke-tenant", tenant],
    ):
        with pytest.raises(SystemExit) as exited:
            run([*argv, *sqlite_db.options])
        assert exited.value.code == EXIT_USAGE, argv
        out, err = capsys.readouterr()
        assert out == "" and "Traceback" not in err
        assert "tenant_id must be 1 to 64 letters, digits, '-', '_' or '.'" in err, argv
        assert f"sessionward {argv[0]}: error: argument " in err  # the command's usage error
    # Refused by the parser: the SQLite file was never opened, so never created.
    assert not Path(sqlite_db.url.removeprefix("sqlite:///")).exists()


def test_the_longest_and_oddest_valid_tenants_work(sqlite_db: Db, capsys: Any) -> None:
    tenants = ["t" * 64, "A.b_c-9", "public"]
    with sqlite_db.manager() as manager:
        handles = {t: manager.create_new_session("u", tenant_id=t).session.handle for t in tenants}
    for tenant in tenants:
        code, out, _ = cli(
            capsys, "sessions", "u", "--tenant", tenant, "--json", *sqlite_db.options
        )
        assert code == EXIT_OK
        assert [s["sessionHandle"] for s in json.loads(out)] == [handles[tenant]]
    code, out, _ = cli(capsys, "revoke-tenant", "t" * 64, *sqlite_db.options)
    assert code == EXIT_OK and out.startswith("revoked 1 session(s)")


def _previous_version_tables(tables: dict[str, str]) -> Any:
    """The tables as the version before tenants created them: no tenant_id and no actor_id on
    the session table, no tenant_id on the revocation table, and the index on user_id alone
    instead of the one on (tenant_id, user_id)."""
    from sqlalchemy import Column, Index, MetaData, Table

    from sessionward._storage.schema import build_tables

    current = build_tables(
        tables["signing_key_table"], tables["refresh_token_table"], tables["revocation_table"]
    )
    new_index = f"{tables['refresh_token_table']}_tenant_user_idx"
    metadata = MetaData()
    for table in current.metadata.sorted_tables:
        old = Table(
            table.name,
            metadata,
            *(
                Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                for c in table.columns
                if c.name not in ("tenant_id", "actor_id")
            ),
        )
        for index in table.indexes:
            if index.name != new_index:
                Index(index.name, *(old.c[c.name] for c in index.columns))
    sessions = metadata.tables[tables["refresh_token_table"]]
    Index(f"{sessions.name}_user_id_idx", sessions.c.user_id)
    assert "tenant_id" not in sessions.c and "tenant_id" not in (
        metadata.tables[tables["revocation_table"]].c
    )
    return metadata


def test_create_tables_upgrades_a_table_of_the_version_before_tenants(db: Db, capsys: Any) -> None:
    """check names the missing tenant_id and actor_id; create-tables adds them and the
    (tenant_id, user_id) index; the row written before is the default tenant's, listed and
    revoked as such, and never another tenant's."""
    import uuid

    from sqlalchemy import create_engine, inspect

    from sessionward._storage.engines import resolve_url

    sessions, revocations = db.tables["refresh_token_table"], db.tables["revocation_table"]
    metadata = _previous_version_tables(db.tables)
    handle = str(uuid.uuid4())
    now = int(time.time() * 1000)
    engine = create_engine(resolve_url(db.url, asynchronous=False))
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(
                metadata.tables[sessions].insert(),
                {
                    "session_handle": handle,
                    "user_id": "olduser",
                    "refresh_token_hash_2": "0" * 64,
                    "session_info": "null",
                    "expires_at": now + 86_400_000,
                    "jwt_user_payload": "{}",
                    "created_at": now - 1000,
                },
            )

        code, out, err = cli(capsys, "check", *db.options)
        assert (code, out) == (EXIT_DATABASE, "")
        assert f"table {sessions!r} lacks column(s) tenant_id, actor_id" in err
        assert f"table {revocations!r} lacks column(s) tenant_id" in err
        assert "sessionward create-tables" in err
        # The other commands refuse the old table too, rather than fail on a missing column.
        code, _, err = cli(capsys, "sessions", "olduser", *db.options)
        assert code == EXIT_DATABASE and "lacks column(s) tenant_id, actor_id" in err

        code, out, _ = cli(capsys, "create-tables", *db.options)
        assert code == EXIT_OK
        assert out.splitlines()[:-1] == [
            f"added column {sessions}.tenant_id",
            f"added column {sessions}.actor_id",
            f"added column {revocations}.tenant_id",
            f"added index {sessions}_tenant_user_idx",
        ]
        code, out, err = cli(capsys, "check", *db.options)
        assert (code, err) == (EXIT_OK, "") and out.startswith("ok:")
        inspector = inspect(engine)
        columns = {c["name"] for c in inspector.get_columns(sessions)}
        assert {"tenant_id", "actor_id"} <= columns
        assert "tenant_id" in {c["name"] for c in inspector.get_columns(revocations)}
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes(sessions)}
        assert indexes[f"{sessions}_tenant_user_idx"] == ["tenant_id", "user_id"]
    finally:
        engine.dispose()

    code, out, err = cli(capsys, "sessions", "olduser", "--json", *db.options)
    assert (code, err) == (EXIT_OK, "")
    assert [(s["sessionHandle"], s["tenantId"], s["impersonatedBy"]) for s in json.loads(out)] == [
        (handle, "public", None)
    ]
    code, out, _ = cli(capsys, "sessions", "olduser", *db.options)
    assert code == EXIT_OK and out.splitlines()[1].split()[:2] == [handle, "public"]
    assert cli(capsys, "sessions", "olduser", "--tenant", "acme", *db.options)[0] == EXIT_NOT_FOUND
    with db.manager() as manager:
        assert manager.revoke_all_sessions_for_user("olduser", tenant_id="acme") == 0
        assert manager.get_all_session_handles_for_user("olduser") == [handle]
        assert manager.revoke_all_sessions_for_user("olduser") == 1
        assert manager.get_all_session_handles_for_user("olduser") == []
        # The upgraded tables take the new sessions, tenants and impersonations.
        new = manager.create_impersonation_session("support-7", "olduser", tenant_id="acme")
        assert manager.get_session(new.access_token.value).session.actor == "support-7"
    assert cli(capsys, "sessions", "olduser", *db.options)[0] == EXIT_NOT_FOUND
    code, out, _ = cli(capsys, "revoke-tenant", "acme", *db.options)
    assert code == EXIT_OK and out.startswith("revoked 1 session(s) of tenant 'acme'")


def test_purge_keeps_the_keys_of_a_deployment_with_long_access_tokens(db: Db, capsys: Any) -> None:
    """The command knows nothing of the deployment's access-token validity (a day here): each
    key recorded how long it must verify, so purge keeps the key its tokens need."""
    clock = [_before_publish_ahead(time.time() - 3 * 3600)]
    with SessionManager(
        refresh_path="/refresh",
        database_url=db.url,
        access_token_validity=86400,
        clock=lambda: clock[0],
        **db.tables,
    ) as manager:
        old = manager.create_new_session("alice")
        clock[0] += 2
        manager.rotate_signing_key()  # the first key stopped signing three hours ago
    assert cli(capsys, "purge", *db.options)[0] == EXIT_OK
    keys = json.loads(cli(capsys, "keys", "--json", *db.options)[1])
    assert [k["state"] for k in keys] == ["verifying only", "signing"]
    with SessionManager(
        refresh_path="/refresh", database_url=db.url, access_token_validity=86400, **db.tables
    ) as manager:
        assert manager.get_session(old.access_token.value).session.user_id == "alice"


def test_purge_deletes_expired_sessions(db: Db, capsys: Any) -> None:
    with db.manager() as manager:  # first: its first login purges, with the real clock
        manager.create_new_session("alice")
    clock = [time.time() - 10 * 86400]  # ten days ago: its one-hour session is long over
    with SessionManager(
        refresh_path="/refresh",
        database_url=db.url,
        refresh_token_validity=3600,
        clock=lambda: clock[0],
        **db.tables,
    ) as manager:
        manager.create_new_session("old")
    code, out, _ = cli(capsys, "purge", *db.options)
    assert code == EXIT_OK and out.strip() == "purged 1 expired session(s)"
    assert cli(capsys, "purge", *db.options)[1].strip() == "purged 0 expired session(s)"
    with db.manager() as manager:
        assert len(manager.get_all_session_handles_for_user("alice")) == 1


def _before_publish_ahead(seconds: float) -> float:
    """``seconds``, or 2.4 h earlier when it falls in the last tenth of its day: a first start
    then publishes the next day's key too, and by now that key would sign (the CI of 02:00 UTC
    found three keys where this test expected two)."""
    day = 86_400
    return seconds - day / 10 if seconds % day >= day - day / 10 else seconds


def _successor_published() -> bool:
    """Whether it is the last tenth of the daily key interval (from 21:36 UTC), when the next
    key is published ahead: the key listings then hold one more key, in state "next"."""
    day_ms = 86_400_000
    return time.time() * 1000 % day_ms >= day_ms - day_ms // 10


def test_keys_lists_ids_and_times_never_secrets(db: Db, capsys: Any) -> None:
    with db.manager() as manager:
        manager.create_tables()
        secrets = [k.secret.hex() for k in manager.signing_keys()]
    code, out, _ = cli(capsys, "keys", *db.options)
    assert code == EXIT_OK
    header, *rows = out.splitlines()
    ahead = _successor_published()  # then two rows: SIGNS UNTIL is the successor's start
    assert header.split()[:2] == ["KID", "ALG"] and len(rows) == 1 + ahead
    assert rows[0].endswith("signing") and (not ahead or rows[1].endswith("next"))
    until = rows[0].split()[4]  # SIGNS UNTIL (after a date and a time)
    assert until == "-" if not ahead else until == rows[1].split()[2]  # the successor's start
    code, out, _ = cli(capsys, "keys", "--json", *db.options)
    keys = json.loads(out)
    assert [set(k) for k in keys] == [{"kid", "alg", "signsFrom", "signsUntil", "state"}] * (
        1 + ahead
    )
    assert keys[0]["alg"] == "HS256" and keys[0]["signsFrom"] <= time.time() * 1000
    # The current key signs until a successor exists: null, not the ring's 2**62 sentinel.
    if ahead:
        assert keys[0]["signsUntil"] == keys[1]["signsFrom"]
    else:
        assert keys[0]["signsUntil"] is None
    for secret in secrets:
        assert secret not in out


def test_admin_commands_act_with_the_deployments_algorithm(db: Db, capsys: Any) -> None:
    """An EdDSA deployment: the tools, run without --signing-algorithm, list and rotate EdDSA
    keys and never schedule a switch back to HS256; no private key is ever printed."""
    with db.manager(signing_algorithm="EdDSA") as manager:
        before = manager.create_new_session("alice")
        materials = [k.jwk() for k in manager.signing_keys()]
    assert all(m is not None and "d" not in m for m in materials)
    code, out, _ = cli(capsys, "keys", *db.options)
    assert code == EXIT_OK and out.splitlines()[1].split()[1] == "EdDSA"
    assert "PRIVATE KEY" not in out
    code, out, _ = cli(capsys, "rotate-key", *db.options)
    assert code == EXIT_OK
    keys = json.loads(cli(capsys, "keys", "--json", *db.options)[1])
    ahead = _successor_published()
    assert [k["alg"] for k in keys] == ["EdDSA"] * (2 + ahead)  # no HS256 key scheduled
    assert [k["state"] for k in keys] == ["verifying only", "signing"] + ["next"] * ahead
    with db.manager(signing_algorithm="EdDSA") as manager:
        assert manager.get_session(before.access_token.value, before.anti_csrf_token)


def test_rotate_key_starts_a_new_key_and_old_tokens_still_verify(db: Db, capsys: Any) -> None:
    with db.manager() as manager:
        before = manager.create_new_session("alice")
    code, out, _ = cli(capsys, "rotate-key", *db.options)
    assert code == EXIT_OK
    kid = out.split()[3]
    keys = json.loads(cli(capsys, "keys", "--json", *db.options)[1])
    # The rotated key signs now, even when a successor is published ahead (it then signs until
    # the successor starts).
    old, rotated, *successor = keys
    assert rotated["kid"] == kid and rotated["state"] == "signing"
    assert old["state"] == "verifying only" and old["signsUntil"] == rotated["signsFrom"]
    assert len(successor) == _successor_published()
    assert rotated["signsUntil"] == (successor[0]["signsFrom"] if successor else None)
    with db.manager() as manager:  # a fresh process: signs with the new key, verifies the old
        assert manager.get_session(before.access_token.value, before.anti_csrf_token)
        after = manager.create_new_session("alice")
        assert f'"kid":"{kid}"' in _jwt_header(after.access_token.value)


def _jwt_header(token: str) -> str:
    import base64

    segment = token.split(".")[0]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()


def test_rotate_key_says_when_the_new_key_starts(sqlite_db: Db, capsys: Any) -> None:
    """Kids are whole seconds: a rotation within the second of the previous one starts a second
    later, and the message says so instead of "from now on"."""
    cli(capsys, "create-tables", *sqlite_db.options)
    outputs = []
    for _ in range(2):
        code, out, _ = cli(capsys, "rotate-key", *sqlite_db.options)
        assert code == EXIT_OK
        outputs.append(out)
    first, second = (int(out.split()[3]) for out in outputs)
    assert second >= first + 1
    for out, kid in zip(outputs, (first, second), strict=True):
        start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(kid))
        assert f"signs from {start} UTC (" in out
    assert "(now)" in outputs[0] or "(in 1 s)" in outputs[0]
    if second * 1000 > time.time() * 1000:  # still ahead: the message must not say "now"
        assert "(in 1 s)" in outputs[1] or "(in 2 s)" in outputs[1]


def test_check_and_create_tables_name_the_missing_file_or_folder(
    tmp_path: Path, capsys: Any
) -> None:
    missing_file = f"sqlite:///{tmp_path}/new.sqlite3"
    code, out, err = cli(capsys, "check", "--database-url", missing_file)
    assert code == EXIT_DATABASE and out == ""
    assert f"the SQLite file '{tmp_path}/new.sqlite3' does not exist" in err
    assert "to create the file and its tables" in err and "them" not in err

    missing_folder = f"sqlite:///{tmp_path}/no/such/folder/app.sqlite3"
    code, _, err = cli(capsys, "check", "--database-url", missing_folder)
    assert code == EXIT_DATABASE
    assert f"the folder '{tmp_path}/no/such/folder' of the SQLite file" in err
    assert "create the folder" in err
    code, out, err = cli(capsys, "create-tables", "--database-url", missing_folder)
    assert code == EXIT_DATABASE and out == ""
    assert f"the folder '{tmp_path}/no/such/folder' does not exist" in err
    assert "OperationalError" not in err and "Traceback" not in err
    assert not (tmp_path / "no").exists()
    assert cli(capsys, "create-tables", "--database-url", missing_file)[0] == EXIT_OK


def test_read_commands_refuse_a_database_without_tables_and_create_nothing(
    sqlite_db: Db, capsys: Any
) -> None:
    for argv in (
        ["sessions", "alice"],
        ["revoke-user", "alice"],
        ["revoke-tenant", "acme"],
        ["keys"],
        ["purge"],
    ):
        code, out, err = cli(capsys, *argv, *sqlite_db.options)
        assert code == EXIT_DATABASE, argv
        assert "does not exist" in err and "sessionward create-tables" in err
        assert out == ""
    assert not Path(sqlite_db.url.removeprefix("sqlite:///")).exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "not a valid database URL"),
        ("oracle://scott@db/x", "must name sqlite, mysql, mariadb or postgresql"),
        ("", "not a valid database URL"),
    ],
)
def test_bad_database_url_is_a_usage_error(url: str, expected: str, capsys: Any) -> None:
    for command in ("check", "sessions", "create-tables"):
        argv = [command, "--database-url", url] + (["alice"] if command == "sessions" else [])
        code, out, err = cli(capsys, *argv)
        assert code == EXIT_USAGE, command
        assert expected in err and "Traceback" not in err and out == ""


@pytest.mark.parametrize("backend", ["mysql", "postgres"])
def test_database_down_is_exit_1_with_a_clear_message_and_no_password(
    backend: str, capsys: Any
) -> None:
    for argv in (["check"], ["create-tables"], ["sessions", "alice"], ["rotate-key"]):
        code, _, err = cli(capsys, *argv, "--database-url", DOWN_URLS[backend])
        assert code == EXIT_DATABASE, argv
        assert "cannot use the database at" in err and "127.0.0.1" in err
        assert "refused" in err.lower() or "can't connect" in err.lower()  # libpq, mysqlclient
        assert "hunter2secret" not in err and "***" in err


def test_bad_table_name_and_user_id_are_usage_errors(sqlite_db: Db, capsys: Any) -> None:
    code, _, err = cli(capsys, "check", "--refresh-token-table", "x; DROP TABLE y")
    assert code == EXIT_USAGE and "refresh_token_table must be an SQL identifier" in err
    cli(capsys, "create-tables", *sqlite_db.options)
    code, _, err = cli(capsys, "sessions", "u" * 129, *sqlite_db.options)
    assert code == EXIT_USAGE and "user_id" in err


def test_database_url_from_the_environment(
    sqlite_db: Db, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSIONWARD_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("SESSIONWARD_SIGNING_KEY_TABLE", sqlite_db.tables["signing_key_table"])
    monkeypatch.setenv("SESSIONWARD_REFRESH_TOKEN_TABLE", sqlite_db.tables["refresh_token_table"])
    assert cli(capsys, "create-tables")[0] == EXIT_OK
    with sqlite_db.manager() as manager:
        manager.create_new_session("envuser")
    code, out, _ = cli(capsys, "sessions", "envuser")
    assert code == EXIT_OK and len(out.splitlines()) == 2


def test_usage_errors_exit_2(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        run([])
    assert exited.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as exited:
        run(["sessions"])  # USER_ID missing
    assert exited.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as exited:
        run(["revoke-tenant"])  # TENANT missing: never "every tenant"
    assert exited.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as exited:
        run(["demo", "--port", "70000"])
    assert exited.value.code == EXIT_USAGE
    assert "not a TCP port" in capsys.readouterr().err


def _command(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sessionward", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )


def test_help_reads_well(tmp_path: Path) -> None:
    result = _command("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in (
        "demo",
        "create-tables",
        "check",
        "purge",
        "sessions",
        "revoke",
        "revoke-user",
        "revoke-tenant",
        "keys",
        "rotate-key",
    ):
        assert f"\n    {command} " in result.stdout or f"\n    {command}\n" in result.stdout
    assert "exit codes:" in result.stdout and "SESSIONWARD_DATABASE_URL" in result.stdout
    assert "4 (demo) cannot listen" in result.stdout
    demo_help = _command("demo", "--help", cwd=tmp_path).stdout
    for option in ("--host", "--port", "--database-url", "--access-token-validity",
                   "--blacklisting", "--cookie-domain", "--refresh-path",
                   "--refresh-grace-window"):  # fmt: skip
        assert option in demo_help


def test_the_real_command_end_to_end_on_the_default_database(tmp_path: Path) -> None:
    """No --database-url: the embedded SQLite default in the current folder, as the demo uses."""
    check = _command("check", cwd=tmp_path)
    assert check.returncode == EXIT_DATABASE and "Traceback" not in check.stderr
    assert _command("create-tables", cwd=tmp_path).returncode == EXIT_OK
    assert (tmp_path / "sessionward.sqlite3").is_file()
    with SessionManager(
        refresh_path="/refresh", database_url=f"sqlite:///{tmp_path}/sessionward.sqlite3"
    ) as manager:
        handle = manager.create_new_session("carol").session.handle
    listed = _command("sessions", "carol", cwd=tmp_path)
    assert listed.returncode == EXIT_OK and handle in listed.stdout
    revoked = _command("revoke", handle, cwd=tmp_path)
    assert revoked.returncode == EXIT_OK
    gone = _command("sessions", "carol", cwd=tmp_path)
    assert gone.returncode == EXIT_NOT_FOUND and gone.stdout == ""
    assert gone.stderr.startswith("sessionward: ")


def test_demo_refuses_bad_settings_a_down_database_and_a_taken_port(tmp_path: Path) -> None:
    bad_url = _command("demo", "--database-url", "nonsense", cwd=tmp_path)
    assert bad_url.returncode == EXIT_USAGE and "not a valid database URL" in bad_url.stderr
    down = _command("demo", "--database-url", DOWN_URLS["mysql"], cwd=tmp_path)
    assert down.returncode == EXIT_DATABASE and "cannot use the database" in down.stderr
    assert "hunter2secret" not in down.stderr
    bad_path = _command("demo", "--refresh-path", "no-slash", cwd=tmp_path)
    assert bad_path.returncode == EXIT_USAGE and "refresh_path" in bad_path.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = _command("demo", "--port", port, cwd=tmp_path)
    assert busy.returncode == EXIT_LISTEN == 4 and "cannot listen on 127.0.0.1:" in busy.stderr
    assert "--port" in busy.stderr
    for result in (bad_url, down, bad_path, busy):
        assert "Traceback" not in result.stderr


def test_arguments_that_are_not_utf8_exit_2_with_a_message(tmp_path: Path) -> None:
    """The real command with raw bytes in argv (a Latin-1 terminal, a broken script)."""
    result = subprocess.run(
        [sys.executable.encode(), b"-m", b"sessionward", b"revoke-user", b"caf\xe9"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "LC_ALL": "C.UTF-8"},
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == EXIT_USAGE, stderr
    assert "argument 2" in stderr and "not valid UTF-8" in stderr
    assert "Traceback" not in stderr
