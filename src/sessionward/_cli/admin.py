"""The administrative subcommands: create-tables, check, purge, sessions, revoke, revoke-user,
revoke-tenant, keys, rotate-key.

Each is what it does and what it prints, nothing else: the settings, the table check and the
translation of database errors are :mod:`sessionward._cli.database`'s, the formatting
:mod:`sessionward._cli.output`'s. Each takes the parsed options and returns an exit code.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import datetime, timezone
from typing import Any

from sessionward._cli.database import (
    admin_config,
    missing_sqlite_folder,
    schema_gaps,
    setup_hint,
    table_problems,
    with_manager,
)
from sessionward._cli.exits import EXIT_DATABASE, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, CliError
from sessionward._cli.output import print_table, safe_url, utc

# Times beyond any calendar date mean "no end yet": the current key signs until a successor
# exists (the key ring marks that with a huge sentinel, not with a time).
_NO_END_MS = int(datetime(9999, 12, 31, tzinfo=timezone.utc).timestamp() * 1000)


def cmd_create_tables(args: argparse.Namespace) -> int:
    folder = missing_sqlite_folder(admin_config(args))
    if folder is not None:
        raise CliError(
            f"the folder {str(folder)!r} does not exist, so the SQLite file cannot be created "
            "there: create the folder first, or check --database-url",
            EXIT_DATABASE,
        )

    gaps = schema_gaps(admin_config(args))  # before the manager: it may create what lacks

    def run(manager: Any) -> int:
        config = manager.config
        manager.create_tables()
        # A new SQLite file: every table is new (the gaps could not look inside).
        changes = gaps.changes() if gaps.missing_file is None else ["created the SQLite file"]
        for change in changes:
            print(change)
        print(
            f"tables {config.signing_key_table!r}, {config.refresh_token_table!r} and "
            f"{config.revocation_table!r} are ready in {safe_url(config.database_url)}"
            + ("" if changes else " (nothing to change)")
        )
        return EXIT_OK

    return with_manager(args, run)


def cmd_check(args: argparse.Namespace) -> int:
    config = admin_config(args)
    problems = table_problems(config)
    if problems:
        for problem in problems:
            print(f"sessionward: {problem}", file=sys.stderr)
        print(
            f"sessionward: {setup_hint(config)} (or check --database-url and the table names)",
            file=sys.stderr,
        )
        return EXIT_DATABASE
    print(
        f"ok: {safe_url(config.database_url)} has the tables "
        f"{config.signing_key_table!r}, {config.refresh_token_table!r} and "
        f"{config.revocation_table!r}"
    )
    return EXIT_OK


def cmd_purge(args: argparse.Namespace) -> int:
    def run(manager: Any) -> int:
        count = manager.purge_expired_sessions()
        print(f"purged {count} expired session(s)")
        return EXIT_OK

    return with_manager(args, run)


def _without_current(fields: dict[str, Any]) -> dict[str, Any]:
    fields.pop("current", None)
    return fields


def cmd_sessions(args: argparse.Namespace) -> int:
    def run(manager: Any) -> int:
        sessions = manager.list_sessions_for_user(args.user_id, tenant_id=args.tenant)
        if args.json:
            # The web API's vocabulary (SessionSummary.as_json, GET /devices), plus whose it is;
            # not "current": a command has no session of its own.
            listed = [{"userId": s.user_id, **_without_current(s.as_json())} for s in sessions]
            print(json.dumps(listed, indent=2))
        elif sessions:
            rows = [["HANDLE", "TENANT", "DEVICE", "ADDRESS", "SIGNED IN (UTC)",
                     "LAST ACTIVE (UTC)", "EXPIRES (UTC)", "IMPERSONATED BY"]]  # fmt: skip
            rows += [
                [
                    s.handle,
                    s.tenant_id,
                    s.device or "-",
                    s.client_ip or "-",
                    utc(s.created_at),
                    utc(s.last_refreshed_at),
                    utc(s.expires_at),
                    s.impersonated_by or "-",
                ]
                for s in sessions
            ]
            print_table(rows, sys.stdout)
        if not sessions:
            print(
                f"sessionward: user {args.user_id!r} has no live sessions in tenant "
                f"{args.tenant!r}",
                file=sys.stderr,
            )
            return EXIT_NOT_FOUND
        return EXIT_OK

    return with_manager(args, run)


def cmd_revoke(args: argparse.Namespace) -> int:
    def run(manager: Any) -> int:
        if manager.revoke_session(args.handle):
            print(f"revoked session {args.handle}")
            return EXIT_OK
        print(f"sessionward: no session with handle {args.handle!r}", file=sys.stderr)
        return EXIT_NOT_FOUND

    return with_manager(args, run)


def cmd_revoke_user(args: argparse.Namespace) -> int:
    def run(manager: Any) -> int:
        count = manager.revoke_all_sessions_for_user(args.user_id, tenant_id=args.tenant)
        if count:
            print(f"revoked {count} session(s) of user {args.user_id!r} in tenant {args.tenant!r}")
            return EXIT_OK
        print(
            f"sessionward: user {args.user_id!r} has no sessions in tenant {args.tenant!r}",
            file=sys.stderr,
        )
        return EXIT_NOT_FOUND

    return with_manager(args, run)


def cmd_revoke_tenant(args: argparse.Namespace) -> int:
    def run(manager: Any) -> int:
        count = manager.revoke_all_sessions_for_tenant(args.tenant)
        if count:
            print(
                f"revoked {count} session(s) of tenant {args.tenant!r}; every process refuses "
                "their tokens within its revocation_refresh_interval (2 s by default) plus one "
                "read of the revocation table"
            )
            return EXIT_OK
        print(f"sessionward: tenant {args.tenant!r} has no sessions", file=sys.stderr)
        return EXIT_NOT_FOUND

    return with_manager(args, run)


def _signs_until(key: Any) -> int | None:
    """When ``key`` stops signing (ms), or None while no successor exists."""
    until: int = key.signs_until_ms
    return None if until >= _NO_END_MS else until


def _key_state(key: Any, now_ms: int) -> str:
    if key.signs_from_ms > now_ms:
        return "next"
    if now_ms < key.signs_until_ms:
        return "signing"
    return "verifying only"


def cmd_keys(args: argparse.Namespace) -> int:
    if args.action == "rewrap":
        return _rewrap(args)
    if args.action == "retire":
        return _retire(args)
    if args.action == "rotate-refresh-key":
        return _rotate_refresh_key(args)
    if args.retire_now:
        raise CliError("--retire-now goes with 'keys rotate-refresh-key'", EXIT_USAGE)
    if args.kid is not None:
        raise CliError(
            f"'keys {args.action}' takes no KID (only 'keys retire KID' does)", EXIT_USAGE
        )

    def run(manager: Any) -> int:
        keys = manager.signing_keys()
        now = int(time.time() * 1000)
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "kid": k.kid,
                            "alg": k.algorithm,
                            "signsFrom": k.signs_from_ms,
                            "signsUntil": _signs_until(k),
                            "state": _key_state(k, now),
                        }
                        for k in keys
                    ],
                    indent=2,
                )
            )
            return EXIT_OK
        rows = [["KID", "ALG", "SIGNS FROM (UTC)", "SIGNS UNTIL (UTC)", "STATE"]]
        rows += [
            [k.kid, k.algorithm, utc(k.signs_from_ms), utc(_signs_until(k)), _key_state(k, now)]
            for k in keys
        ]
        print_table(rows, sys.stdout)
        return EXIT_OK

    return with_manager(args, run)


def _rewrap(args: argparse.Namespace) -> int:
    def run(manager: Any) -> int:
        wrapper = manager.config.key_wrapper
        count: int = manager.rewrap_keys()
        print(
            f"sealed {count} key row(s) with key-encryption key {wrapper.key_id}; every key "
            "is now sealed with it (older key-encryption keys may be removed from the "
            "configuration once every process runs without them)"
        )
        return EXIT_OK

    return with_manager(args, run)


def _rotate_refresh_key(args: argparse.Namespace) -> int:
    def run(manager: Any) -> int:
        manager.rotate_refresh_key(retire_now=args.retire_now)
        if args.retire_now:
            print(
                "every refresh-token key replaced: no refresh token issued before opens, so "
                "every session must log in again (access tokens verify until they expire)"
            )
        else:
            print(
                "new refresh-token key written: it seals new refresh tokens from 65 s from now "
                "(every process learns it first); older keys open the tokens they sealed until "
                "those rotate or expire, and 'sessionward purge' deletes them after that"
            )
        return EXIT_OK

    return with_manager(args, run)


def _retire(args: argparse.Namespace) -> int:
    if not args.kid:
        raise CliError(
            "'keys retire' needs the KID to retire ('sessionward keys' lists them)", EXIT_USAGE
        )
    kid = args.kid

    def run(manager: Any) -> int:
        signing: str = manager.retire_signing_key(kid)
        print(
            f"signing key {kid} retired: running processes refuse the tokens it signed within "
            "their revocation_refresh_interval (2 s by default), and their clients refresh "
            f"to tokens of key {signing}, which signs now; the JWKS no longer lists it"
        )
        return EXIT_OK

    return with_manager(args, run)


def cmd_rotate_key(args: argparse.Namespace) -> int:
    def run(manager: Any) -> int:
        kid = manager.rotate_signing_key()
        # The kid is the second the key starts signing: a second rotation within the same
        # second starts a second later, so say when rather than "from now on".
        when = ""
        if kid.isdigit():
            wait_s = math.ceil((int(kid) * 1000 - time.time() * 1000) / 1000)
            start = utc(int(kid) * 1000)
            when = f" from {start} UTC" + (" (now)" if wait_s <= 0 else f" (in {wait_s} s)")
        print(
            f"new signing key {kid} signs{when}; running processes sign with it within their "
            "revocation_refresh_interval (2 s by default); older keys keep verifying the "
            "tokens they signed until those expire"
        )
        return EXIT_OK

    return with_manager(args, run)
