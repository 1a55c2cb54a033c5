"""What the command prints: times, aligned tables, and database failures in words.

Kept apart from the commands so that every message about a database goes through the same
two rules: a URL is shown with its password replaced (:func:`safe_url`), and a driver's error is
reduced to one line that names the server, never a parameter (:func:`database_problem`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TextIO

from sessionward._cli.exits import EXIT_DATABASE, CliError


def utc(ms: int | None) -> str:
    """A time in milliseconds since the epoch as UTC text ("-" for none, "never" past 9999)."""
    if ms is None:
        return "-"
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return "never"


def print_table(rows: list[list[str]], out: TextIO) -> None:
    """``rows`` (the first one the header) in columns as wide as their widest cell."""
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


def database_problem(exc: BaseException) -> str:
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


def cannot_use(database_url: str, exc: BaseException) -> CliError:
    """The exit-1 error for a database that failed while in use."""
    return CliError(
        f"cannot use the database at {safe_url(database_url)}: {database_problem(exc)}",
        EXIT_DATABASE,
    )
