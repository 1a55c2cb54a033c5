"""The ``sessionward`` command: the demo app, and the administration of a deployment.

Every administrative subcommand works on the database named by ``--database-url`` (or the
environment variable ``SESSIONWARD_DATABASE_URL``; default: the embedded SQLite file that the
library and the demo use). Exit codes are part of the interface, so scripts can rely on them:

- 0: done;
- 1: the database could not be used (unreachable, tables missing, a driver error);
- 2: bad usage or an invalid setting (including an unusable database URL);
- 3: nothing matched (a user without live sessions, an unknown session handle);
- 4: ``demo`` only: it cannot listen on ``--host``/``--port`` (the port is taken, the address is
  not this machine's).

Messages go to stderr and never contain a token, a key or a password.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn, TextIO

from sessionward._config import ALGORITHMS, DAY, DEFAULT_DATABASE_URL, HOUR, Algorithm, Config
from sessionward._errors import (
    ConfigError,
    GeneralError,
    InvalidArgumentError,
    SessionError,
    _InternalError,
)

EXIT_OK = 0
EXIT_DATABASE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_LISTEN = 4

# Times beyond any calendar date mean "no end yet": the current key signs until a successor
# exists (the key ring marks that with a huge sentinel, not with a time).
_NO_END_MS = int(datetime(9999, 12, 31, tzinfo=timezone.utc).timestamp() * 1000)

ENV_DATABASE_URL = "SESSIONWARD_DATABASE_URL"
ENV_SIGNING_KEY_TABLE = "SESSIONWARD_SIGNING_KEY_TABLE"
ENV_REFRESH_TOKEN_TABLE = "SESSIONWARD_REFRESH_TOKEN_TABLE"
ENV_REVOCATION_TABLE = "SESSIONWARD_REVOCATION_TABLE"
ENV_SIGNING_ALGORITHM = "SESSIONWARD_SIGNING_ALGORITHM"

# The admin commands never serve a refresh endpoint; Config only needs a valid path.
_ADMIN_REFRESH_PATH = "/refresh"


class CliError(_InternalError):
    """A failure to report on stderr and turn into an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# --- formatting ------------------------------------------------------------------------------


def _utc(ms: int | None) -> str:
    if ms is None:
        return "-"
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return "never"


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )


def safe_url(database_url: str) -> str:
    """The URL for messages: any password replaced by ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<not a URL>"


def _database_problem(exc: BaseException) -> str:
    """A one-line reason for a database failure, from the driver's own message when it has one.

    Only connection-level errors are detailed: their text names the server, never a parameter.
    """
    cause: BaseException | None = exc
    while cause is not None:
        orig = getattr(cause, "orig", None)
        if orig is not None and type(cause).__name__ == "OperationalError":
            first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
            return f"{type(orig).__name__}: {first[:200]}" if first else type(orig).__name__
        cause = cause.__cause__
    return str(exc)


# --- the database behind the admin commands --------------------------------------------------


def _config(args: argparse.Namespace, algorithm: Algorithm | None = None) -> Config:
    from sessionward._storage.engines import resolve_url

    try:
        resolve_url(args.database_url, asynchronous=False)  # a clear error for a non-URL
        return Config(
            refresh_path=_ADMIN_REFRESH_PATH,
            database_url=args.database_url,
            signing_key_table=args.signing_key_table,
            refresh_token_table=args.refresh_token_table,
            revocation_table=args.revocation_table,
            signing_key_rotation_interval=_rotation_interval(args),
            # Config checks the name (it may come from the environment).
            signing_algorithm=algorithm or args.signing_algorithm or "HS256",
        )
    except ConfigError as exc:
        raise CliError(f"invalid setting: {exc}", EXIT_USAGE) from None


def _rotation_interval(args: argparse.Namespace) -> int:
    """The signing-key rotation interval in seconds, from the flag or its deprecated form in
    hours (which still works, with a note on stderr)."""
    seconds: int | None = args.signing_key_rotation_interval
    hours: int | None = args.signing_key_interval
    if hours is None:
        return DAY if seconds is None else seconds
    print(
        "sessionward: --signing-key-interval HOURS is deprecated; use "
        f"--signing-key-rotation-interval {hours * HOUR}",
        file=sys.stderr,
    )
    if seconds is not None and seconds != hours * HOUR:
        raise CliError(
            "--signing-key-interval and --signing-key-rotation-interval disagree; "
            "pass only --signing-key-rotation-interval SECONDS",
            EXIT_USAGE,
        )
    return hours * HOUR


def _engine(config: Config) -> Any:
    from sessionward._storage.engines import make_sync_engine

    try:
        return make_sync_engine(config.database_url)
    except ConfigError as exc:
        raise CliError(f"invalid setting: {exc}", EXIT_USAGE) from None
    except ImportError as exc:
        raise CliError(
            f"the database driver is not installed ({exc.name}); install "
            "'sessionward[mysql]' or 'sessionward[postgres]'",
            EXIT_USAGE,
        ) from None


def _sqlite_file(config: Config) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    from sqlalchemy.engine import make_url

    url = make_url(config.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _missing_sqlite_folder(config: Config) -> Path | None:
    """The folder of a SQLite URL's file, if that folder does not exist (SQLite creates the
    file, never its folder, and then says only "unable to open database file")."""
    sqlite_file = _sqlite_file(config)
    if sqlite_file is None or sqlite_file.parent.is_dir():
        return None
    return sqlite_file.parent


def table_problems(config: Config) -> list[str]:
    """What is missing for sessionward in the database: tables or columns (empty: all there).

    Read-only: never creates a table, and never creates a SQLite file that is not there.
    """
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from sessionward._storage.schema import build_tables, missing_columns

    sqlite_file = _sqlite_file(config)
    folder = _missing_sqlite_folder(config)
    if sqlite_file is not None and folder is not None:
        return [
            f"the folder {str(folder)!r} of the SQLite file {str(sqlite_file)!r} does not exist"
        ]
    if sqlite_file is not None and not sqlite_file.is_file():
        return [f"the SQLite file {str(sqlite_file)!r} does not exist"]
    engine = _engine(config)
    problems: list[str] = []
    try:
        inspector = inspect(engine)
        present = set(inspector.get_table_names())
        tables = build_tables(
            config.signing_key_table, config.refresh_token_table, config.revocation_table
        )[1:]
        for table in tables:
            if table.name not in present:
                problems.append(f"table {table.name!r} is missing")
                continue
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            missing = [c.name for c in missing_columns(columns, table)]
            if missing:
                problems.append(f"table {table.name!r} lacks column(s) {', '.join(missing)}")
    except SQLAlchemyError as exc:
        raise CliError(
            f"cannot use the database at {safe_url(config.database_url)}: {_database_problem(exc)}",
            EXIT_DATABASE,
        ) from None
    finally:
        engine.dispose()
    return problems


def _setup_hint(config: Config) -> str:
    """What to do about the problems of :func:`table_problems`, in words that fit them."""
    if _missing_sqlite_folder(config) is not None:
        return "create the folder, then run `sessionward create-tables`"
    if _sqlite_file(config) is not None and not _sqlite_file_exists(config):
        return "run `sessionward create-tables` to create the file and its tables"
    return "run `sessionward create-tables` to add what is missing"


def _require_tables(config: Config) -> None:
    problems = table_problems(config)
    if problems:
        raise CliError(
            f"{safe_url(config.database_url)} is not set up for sessionward: "
            f"{'; '.join(problems)}; {_setup_hint(config)} "
            "(or check --database-url and the table names).",
            EXIT_DATABASE,
        )


def _with_manager(args: argparse.Namespace, action: Callable[[Any], int]) -> int:
    """Run ``action(manager)`` on a checked database; engine errors become CLI errors."""
    from sessionward._manager import SessionManager

    config = _config(args)
    if args.command != "create-tables":
        _require_tables(config)
    manager = SessionManager(config, engine=_engine(config))
    try:
        if args.signing_algorithm is None:
            # Act as the deployment does: a tool configured with another algorithm than the
            # keys' would schedule a switch of algorithm.
            deployed = manager.deployed_signing_algorithm()
            if deployed is not None and deployed != config.signing_algorithm:
                manager.close()
                config = _config(args, deployed)
                manager = SessionManager(config, engine=_engine(config))
        return action(manager)
    except (ConfigError, InvalidArgumentError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except GeneralError as exc:
        raise CliError(
            f"cannot use the database at {safe_url(config.database_url)}: {_database_problem(exc)}",
            EXIT_DATABASE,
        ) from None
    finally:
        manager.close()


# --- the subcommands -------------------------------------------------------------------------


def cmd_create_tables(args: argparse.Namespace) -> int:
    folder = _missing_sqlite_folder(_config(args))
    if folder is not None:
        raise CliError(
            f"the folder {str(folder)!r} does not exist, so the SQLite file cannot be created "
            "there: create the folder first, or check --database-url",
            EXIT_DATABASE,
        )

    def run(manager: Any) -> int:
        manager.create_tables()
        config = manager.config
        print(
            f"tables {config.signing_key_table!r}, {config.refresh_token_table!r} and "
            f"{config.revocation_table!r} are ready "
            f"in {safe_url(config.database_url)}"
        )
        return EXIT_OK

    return _with_manager(args, run)


def cmd_check(args: argparse.Namespace) -> int:
    config = _config(args)
    problems = table_problems(config)
    if problems:
        for problem in problems:
            print(f"sessionward: {problem}", file=sys.stderr)
        print(
            f"sessionward: {_setup_hint(config)} (or check --database-url and the table names)",
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

    return _with_manager(args, run)


def cmd_sessions(args: argparse.Namespace) -> int:
    def run(manager: Any) -> int:
        sessions = manager.list_sessions_for_user(args.user_id)
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "handle": s.handle,
                            "userId": s.user_id,
                            "createdAt": s.created_at,
                            "lastRefreshedAt": s.last_refreshed_at,
                            "expiresAt": s.expires_at,
                            "clientIp": s.client_ip,
                            "userAgent": s.user_agent,
                            "device": s.device,
                        }
                        for s in sessions
                    ],
                    indent=2,
                )
            )
        elif sessions:
            rows = [["HANDLE", "DEVICE", "ADDRESS", "SIGNED IN (UTC)", "LAST ACTIVE (UTC)",
                     "EXPIRES (UTC)"]]  # fmt: skip
            rows += [
                [
                    s.handle,
                    s.device or "-",
                    s.client_ip or "-",
                    _utc(s.created_at),
                    _utc(s.last_refreshed_at),
                    _utc(s.expires_at),
                ]
                for s in sessions
            ]
            _table(rows, sys.stdout)
        if not sessions:
            print(f"sessionward: user {args.user_id!r} has no live sessions", file=sys.stderr)
            return EXIT_NOT_FOUND
        return EXIT_OK

    return _with_manager(args, run)


def cmd_revoke(args: argparse.Namespace) -> int:
    def run(manager: Any) -> int:
        if manager.revoke_session(args.handle):
            print(f"revoked session {args.handle}")
            return EXIT_OK
        print(f"sessionward: no session with handle {args.handle!r}", file=sys.stderr)
        return EXIT_NOT_FOUND

    return _with_manager(args, run)


def cmd_revoke_user(args: argparse.Namespace) -> int:
    def run(manager: Any) -> int:
        count = manager.revoke_all_sessions_for_user(args.user_id)
        if count:
            print(f"revoked {count} session(s) of user {args.user_id!r}")
            return EXIT_OK
        print(f"sessionward: user {args.user_id!r} has no sessions", file=sys.stderr)
        return EXIT_NOT_FOUND

    return _with_manager(args, run)


def _sqlite_file_exists(config: Config) -> bool:
    sqlite_file = _sqlite_file(config)
    return sqlite_file is not None and sqlite_file.is_file()


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
            [k.kid, k.algorithm, _utc(k.signs_from_ms), _utc(_signs_until(k)), _key_state(k, now)]
            for k in keys
        ]
        _table(rows, sys.stdout)
        return EXIT_OK

    return _with_manager(args, run)


def cmd_rotate_key(args: argparse.Namespace) -> int:
    def run(manager: Any) -> int:
        kid = manager.rotate_signing_key()
        # The kid is the second the key starts signing: a second rotation within the same
        # second starts a second later, so say when rather than "from now on".
        when = ""
        if kid.isdigit():
            wait_s = math.ceil((int(kid) * 1000 - time.time() * 1000) / 1000)
            start = _utc(int(kid) * 1000)
            when = f" from {start} UTC" + (" (now)" if wait_s <= 0 else f" (in {wait_s} s)")
        print(
            f"new signing key {kid} signs{when}; running processes sign with it within their "
            "revocation_refresh_interval (2 s by default); older keys keep verifying the "
            "tokens they signed until those expire"
        )
        return EXIT_OK

    return _with_manager(args, run)


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        from sessionward.demo import CannotListenError, DemoOptions, serve
    except ImportError as exc:
        raise CliError(
            f"the demo needs {exc.name}, which is not installed: pip install 'sessionward[demo]'",
            EXIT_USAGE,
        ) from None

    options = DemoOptions(
        host=args.host,
        port=args.port,
        database_url=args.database_url,
        access_token_validity=args.access_token_validity,
        blacklisting=args.blacklisting,
        cookie_domain=args.cookie_domain,
        refresh_path=args.refresh_path,
        refresh_grace_window=args.refresh_grace_window,
        signing_algorithm=args.signing_algorithm,
    )
    try:
        serve(options)
    except (ConfigError, InvalidArgumentError) as exc:
        raise CliError(f"invalid setting: {exc}", EXIT_USAGE) from None
    except ImportError as exc:
        raise CliError(
            f"the demo needs {exc.name}, which is not installed: pip install 'sessionward[demo]'",
            EXIT_USAGE,
        ) from None
    except CannotListenError as exc:
        raise CliError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror} (choose another --port, "
            "or stop what is using it)",
            EXIT_LISTEN,
        ) from None
    except SessionError as exc:
        raise CliError(
            f"cannot use the database at {safe_url(args.database_url)}: {_database_problem(exc)}",
            EXIT_DATABASE,
        ) from None
    return EXIT_OK


# --- the parser ------------------------------------------------------------------------------

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
  sessionward revoke-user alice
  sessionward rotate-key
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


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
    group.add_argument(
        "--signing-key-table",
        metavar="NAME",
        default=env.get(ENV_SIGNING_KEY_TABLE) or "signing_key",
        help=f"the key table (default: ${ENV_SIGNING_KEY_TABLE} or signing_key)",
    )
    group.add_argument(
        "--refresh-token-table",
        metavar="NAME",
        default=env.get(ENV_REFRESH_TOKEN_TABLE) or "refresh_token",
        help=f"the session table (default: ${ENV_REFRESH_TOKEN_TABLE} or refresh_token)",
    )
    group.add_argument(
        "--revocation-table",
        metavar="NAME",
        default=env.get(ENV_REVOCATION_TABLE) or "session_revocation",
        help=f"the revocation table (default: ${ENV_REVOCATION_TABLE} or session_revocation)",
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
    sessions = add("sessions", "list a user's live sessions", cmd_sessions,
                   parents=[tables, json_output])  # fmt: skip
    sessions.add_argument("user_id", metavar="USER_ID")
    revoke = add("revoke", "revoke one session by its handle", cmd_revoke, parents=[tables])
    revoke.add_argument("handle", metavar="SESSION_HANDLE")
    revoke_user = add("revoke-user", "revoke all of a user's sessions", cmd_revoke_user,
                      parents=[tables])  # fmt: skip
    revoke_user.add_argument("user_id", metavar="USER_ID")
    add("keys", "list the signing keys (ids and times, never the secrets)", cmd_keys,
        parents=[tables, json_output])  # fmt: skip
    add("rotate-key", "start signing with a new key now (running processes within their "
        "revocation_refresh_interval, 2 s by default); old tokens keep verifying",
        cmd_rotate_key, parents=[tables])  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the ``sessionward`` command."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the subcommand, and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for position, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:  # the OS handed over bytes that are not UTF-8
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            print(
                f"sessionward: argument {position} ({shown!r}) is not valid UTF-8; user ids, "
                "handles and URLs must be UTF-8 text",
                file=sys.stderr,
            )
            return EXIT_USAGE
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CliError as exc:
        print(f"sessionward: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`sessionward sessions alice | head -1`)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
