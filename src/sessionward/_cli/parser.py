"""The argument parser of the ``sessionward`` command: its subcommands, options and help.

The command's interface (names, defaults, environment variables, the help text) is all here, so
that it can be read in one place; each subcommand is bound to its handler in
:mod:`sessionward._cli.admin` or :mod:`sessionward._cli.demo`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from sessionward._cli.admin import (
    cmd_check,
    cmd_create_tables,
    cmd_keys,
    cmd_purge,
    cmd_revoke,
    cmd_revoke_tenant,
    cmd_revoke_user,
    cmd_rotate_key,
    cmd_sessions,
)
from sessionward._cli.demo import cmd_demo
from sessionward._config import ALGORITHMS, DEFAULT_DATABASE_URL
from sessionward._errors import InvalidArgumentError
from sessionward._models import DEFAULT_TENANT
from sessionward._validation import check_tenant_id

ENV_DATABASE_URL = "SESSIONWARD_DATABASE_URL"
ENV_SIGNING_KEY_TABLE = "SESSIONWARD_SIGNING_KEY_TABLE"
ENV_REFRESH_TOKEN_TABLE = "SESSIONWARD_REFRESH_TOKEN_TABLE"
ENV_REVOCATION_TABLE = "SESSIONWARD_REVOCATION_TABLE"
ENV_SIGNING_ALGORITHM = "SESSIONWARD_SIGNING_ALGORITHM"

_EPILOG = """\
database:
  --database-url, or the environment variable SESSIONWARD_DATABASE_URL, names the database:
  sqlite:///path/file.sqlite3, mysql://user:password@host:3306/db or
  postgresql://user:password@host:5432/db (default: sqlite:///sessionward.sqlite3, the file the
  library and the demo use in the current folder).

exit codes:
  0 done   1 the database could not be used   2 bad usage or setting   3 nothing matched
  4 (demo) cannot listen on --host/--port, e.g. the port is in use

examples:
  sessionward demo --access-token-validity 5
  sessionward create-tables --database-url postgresql://app@db/app
  sessionward sessions alice
  sessionward sessions alice --tenant acme
  sessionward revoke-user alice --tenant acme
  sessionward revoke-tenant acme
  sessionward rotate-key
  SESSIONWARD_KEY_ENCRYPTION_KEY=NEW,OLD sessionward keys rewrap
  sessionward keys retire 1796169600
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _tenant(text: str) -> str:
    """A tenant id, checked here so that a bad one is a usage error before any database use."""
    try:
        return check_tenant_id(text)
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_tenant_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--tenant",
        metavar="TENANT",
        type=_tenant,
        default=DEFAULT_TENANT,
        help=f"the user's tenant; a user id is unique within its tenant only, and the command "
        f"never touches another tenant's user of the same id (default: {DEFAULT_TENANT})",
    )


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return value


def _add_database_options(group: Any, *, tables: bool) -> None:
    env = os.environ
    group.add_argument(
        "--database-url",
        metavar="URL",
        default=env.get(ENV_DATABASE_URL) or DEFAULT_DATABASE_URL,
        help=f"the database (default: ${ENV_DATABASE_URL} or {DEFAULT_DATABASE_URL})",
    )
    if not tables:
        return
    for flag, env_name, default, what in (
        ("--signing-key-table", ENV_SIGNING_KEY_TABLE, "signing_key", "key"),
        ("--refresh-token-table", ENV_REFRESH_TOKEN_TABLE, "refresh_token", "session"),
        ("--revocation-table", ENV_REVOCATION_TABLE, "session_revocation", "revocation"),
    ):
        group.add_argument(
            flag,
            metavar="NAME",
            default=env.get(env_name) or default,
            help=f"the {what} table (default: ${env_name} or {default})",
        )
    group.add_argument(
        "--signing-key-rotation-interval",
        metavar="SECONDS",
        type=_positive_int,
        default=None,
        help="the deployment's signing_key_rotation_interval (default: 86400, a day)",
    )
    group.add_argument(
        "--signing-key-interval",
        metavar="HOURS",
        type=_positive_int,
        default=None,
        help="deprecated: --signing-key-rotation-interval in hours",
    )
    group.add_argument(
        "--signing-algorithm",
        choices=ALGORITHMS,
        default=env.get(ENV_SIGNING_ALGORITHM) or None,
        help=f"the deployment's signing_algorithm (default: ${ENV_SIGNING_ALGORITHM}, else the "
        "algorithm of the key that signs now, else HS256)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sessionward`` command."""
    database = argparse.ArgumentParser(add_help=False)
    _add_database_options(database.add_argument_group("database"), tables=False)
    tables = argparse.ArgumentParser(add_help=False)
    _add_database_options(tables.add_argument_group("database"), tables=True)
    json_output = argparse.ArgumentParser(add_help=False)
    json_output.add_argument("--json", action="store_true", help="print JSON instead of a table")

    parser = argparse.ArgumentParser(
        prog="sessionward",
        description="Secure user sessions for Python web backends: run the demo, or administer "
        "a deployment's sessions and signing keys.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from sessionward import __version__

    parser.add_argument("--version", action="version", version=f"sessionward {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str, help_text: str, handler: Callable[[argparse.Namespace], int], **kw: Any
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, **kw)
        sub.set_defaults(handler=handler)
        return sub

    demo = add(
        "demo",
        "run the demo web app: log in, watch tokens refresh, revoke sessions, see theft caught",
        cmd_demo,
        parents=[database],
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    demo.add_argument("--port", type=_port, default=8000, help="port to listen on (8000)")
    demo.add_argument(
        "--access-token-validity",
        metavar="SECONDS",
        type=_positive_int,
        default=10,
        help="access-token lifetime; short values (from 1 s) are allowed here so that "
        "expiry and refresh can be watched (default: 10)",
    )
    demo.add_argument(
        "--blacklisting",
        action="store_true",
        help="check the session row on every request, so revocation is immediate "
        "(without it, a revoked session is refused within 2 s)",
    )
    demo.add_argument(
        "--cookie-domain", metavar="DOMAIN", help="the cookies' Domain (default: host-only)"
    )
    demo.add_argument(
        "--refresh-path",
        metavar="PATH",
        default="/refresh",
        help="the refresh endpoint (default: /refresh; supertokens-website 5.x needs "
        "/session/refresh)",
    )
    demo.add_argument(
        "--refresh-grace-window",
        type=int,
        default=0,
        metavar="SECONDS",
        help="how long a replayed refresh token still gets the same new tokens instead of a "
        "theft report (default here: 0, so the theft demonstration is immediate; the library's "
        "default is 30)",
    )

    demo.add_argument(
        "--signing-algorithm",
        choices=ALGORITHMS,
        default="HS256",
        help="how access tokens are signed: HS256 (a shared secret, the default), or EdDSA, "
        "ES256, RS256 (a private key; the public keys are served at /.well-known/jwks.json)",
    )

    add("create-tables", "create the tables and keys if they are missing", cmd_create_tables,
        parents=[tables])  # fmt: skip
    add("check", "check that the database answers and has the tables (creates nothing)",
        cmd_check, parents=[tables])  # fmt: skip
    add("purge", "delete expired sessions and signing keys that verify nothing any more",
        cmd_purge, parents=[tables])  # fmt: skip
    sessions = add("sessions", "list a user's live sessions in a tenant (impersonations "
                   "marked)", cmd_sessions, parents=[tables, json_output])  # fmt: skip
    sessions.add_argument("user_id", metavar="USER_ID")
    _add_tenant_option(sessions)
    revoke = add("revoke", "revoke one session by its handle", cmd_revoke, parents=[tables])
    revoke.add_argument("handle", metavar="SESSION_HANDLE")
    revoke_user = add("revoke-user", "revoke all of a user's sessions in a tenant",
                      cmd_revoke_user, parents=[tables])  # fmt: skip
    revoke_user.add_argument("user_id", metavar="USER_ID")
    _add_tenant_option(revoke_user)
    revoke_tenant = add("revoke-tenant", "revoke every session of a tenant (offboarding a "
                        "customer): refused everywhere within revocation_refresh_interval "
                        "(2 s by default) plus one read", cmd_revoke_tenant,
                        parents=[tables])  # fmt: skip
    revoke_tenant.add_argument("tenant", metavar="TENANT", type=_tenant)
    keys = add("keys", "list the signing keys (ids and times, never the secrets); "
               "'keys rewrap': seal every stored key with the key-encryption key that seals "
               "now; 'keys retire KID': stop a leaked key verifying everywhere within 2 s",
               cmd_keys, parents=[tables, json_output])  # fmt: skip
    keys.add_argument("action", nargs="?", default="list",
                      choices=("list", "rewrap", "retire", "rotate-refresh-key"),
                      help="list (the default), rewrap, retire KID, or rotate-refresh-key "
                      "(a new refresh-token key; old refresh tokens keep opening)")  # fmt: skip
    keys.add_argument("kid", nargs="?", metavar="KID", help="the key to retire")
    keys.add_argument("--retire-now", action="store_true",
                      help="with rotate-refresh-key, after a leak of that key: no refresh token "
                      "issued so far opens, so EVERY SESSION MUST LOG IN AGAIN")  # fmt: skip
    add("rotate-key", "start signing with a new key now (running processes within their "
        "revocation_refresh_interval, 2 s by default); old tokens keep verifying",
        cmd_rotate_key, parents=[tables])  # fmt: skip
    return parser
