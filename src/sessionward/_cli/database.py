"""The database behind the admin commands: its config, its engine, and whether it is set up.

Every admin command needs the same three things before it acts: a :class:`Config` built from the
options (a bad setting is a usage error, exit 2), the tables checked without creating anything
(:func:`table_problems`, exit 1 with a hint that fits what is missing), and a manager whose
database errors become messages rather than tracebacks (:func:`with_manager`). They live here
so that each command is only what it does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessionward._cli.exits import EXIT_DATABASE, EXIT_USAGE, CliError
from sessionward._cli.output import cannot_use, safe_url
from sessionward._config import DAY, HOUR, Algorithm, Config
from sessionward._errors import ConfigError, GeneralError, InvalidArgumentError

# The admin commands never serve a refresh endpoint; Config only needs a valid path.
_ADMIN_REFRESH_PATH = "/refresh"


def admin_config(args: argparse.Namespace, algorithm: Algorithm | None = None) -> Config:
    """The deployment's config as the options give them (``algorithm`` overrides theirs)."""
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


def missing_sqlite_folder(config: Config) -> Path | None:
    """The folder of a SQLite URL's file, if that folder does not exist (SQLite creates the
    file, never its folder, and then says only "unable to open database file")."""
    sqlite_file = _sqlite_file(config)
    if sqlite_file is None or sqlite_file.parent.is_dir():
        return None
    return sqlite_file.parent


def _sqlite_file_exists(config: Config) -> bool:
    sqlite_file = _sqlite_file(config)
    return sqlite_file is not None and sqlite_file.is_file()


@dataclass(frozen=True)
class SchemaGaps:
    """What the database lacks of this version's schema: the one reading behind ``check``
    (the problems) and ``create-tables`` (the report of what it changed)."""

    missing_file: str | None = None  # the SQLite file or its folder is not there
    tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()  # "table.column"
    indexes: tuple[str, ...] = ()  # on tables that exist; not a problem, create-tables adds them

    def problems(self) -> list[str]:
        if self.missing_file is not None:
            return [self.missing_file]
        found = [f"table {name!r} is missing" for name in self.tables]
        by_table: dict[str, list[str]] = {}
        for qualified in self.columns:
            table, column = qualified.rsplit(".", 1)
            by_table.setdefault(table, []).append(column)
        found += [f"table {t!r} lacks column(s) {', '.join(c)}" for t, c in by_table.items()]
        return found

    def changes(self) -> list[str]:
        """What ``create-tables`` does about them, one line each."""
        done = [f"created table {name!r}" for name in self.tables]
        done += [f"added column {name}" for name in self.columns]
        done += [f"added index {name}" for name in self.indexes]
        return done


def schema_gaps(config: Config) -> SchemaGaps:
    """What is missing for sessionward in the database: tables, columns, indexes.

    Read-only: never creates a table, and never creates a SQLite file that is not there.
    """
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from sessionward._storage.schema import build_tables
    from sessionward._storage.upgrade import missing_columns

    sqlite_file = _sqlite_file(config)
    folder = missing_sqlite_folder(config)
    if sqlite_file is not None and folder is not None:
        return SchemaGaps(
            f"the folder {str(folder)!r} of the SQLite file {str(sqlite_file)!r} does not exist"
        )
    if sqlite_file is not None and not sqlite_file.is_file():
        return SchemaGaps(f"the SQLite file {str(sqlite_file)!r} does not exist")
    engine = _engine(config)
    tables, columns, indexes = [], [], []
    try:
        inspector = inspect(engine)
        present = set(inspector.get_table_names())
        schema = build_tables(
            config.signing_key_table, config.refresh_token_table, config.revocation_table
        )[1:]
        for table in schema:
            if table.name not in present:
                tables.append(table.name)
                continue
            names = {c["name"] for c in inspector.get_columns(table.name)}
            columns += [f"{table.name}.{c.name}" for c in missing_columns(names, table)]
            found = {index["name"] for index in inspector.get_indexes(table.name)}
            indexes += [str(i.name) for i in table.indexes if i.name not in found]
    except SQLAlchemyError as exc:
        raise cannot_use(config.database_url, exc) from None
    finally:
        engine.dispose()
    return SchemaGaps(None, tuple(tables), tuple(columns), tuple(indexes))


def table_problems(config: Config) -> list[str]:
    """What is missing for sessionward in the database: tables or columns (empty: all there)."""
    return schema_gaps(config).problems()


def setup_hint(config: Config) -> str:
    """What to do about the problems of :func:`table_problems`, in words that fit them."""
    if missing_sqlite_folder(config) is not None:
        return "create the folder, then run `sessionward create-tables`"
    if _sqlite_file(config) is not None and not _sqlite_file_exists(config):
        return "run `sessionward create-tables` to create the file and its tables"
    return "run `sessionward create-tables` to add what is missing"


def _require_tables(config: Config) -> None:
    problems = table_problems(config)
    if problems:
        raise CliError(
            f"{safe_url(config.database_url)} is not set up for sessionward: "
            f"{'; '.join(problems)}; {setup_hint(config)} "
            "(or check --database-url and the table names).",
            EXIT_DATABASE,
        )


def with_manager(args: argparse.Namespace, action: Callable[[Any], int]) -> int:
    """Run ``action(manager)`` on a checked database; engine errors become CLI errors."""
    from sessionward._manager import SessionManager

    config = admin_config(args)
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
                config = admin_config(args, deployed)
                manager = SessionManager(config, engine=_engine(config))
        return action(manager)
    except (ConfigError, InvalidArgumentError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except GeneralError as exc:
        raise cannot_use(config.database_url, exc) from None
    finally:
        manager.close()
