"""The ``sessionward`` command: the demo app, and the administration of a deployment.

Every administrative subcommand works on the database named by ``--database-url`` (or the
environment variable ``SESSIONWARD_DATABASE_URL``; default: the embedded SQLite file that the
library and the demo use). Exit codes are part of the interface, so scripts can rely on them:

- 0: done;
- 1: the database could not be used (unreachable, tables missing, a driver error);
- 2: bad usage or an invalid setting (including an unusable database URL);
- 3: nothing matched (a user without live sessions in the tenant, an unknown session handle,
  a tenant without sessions);
- 4: ``demo`` only: it cannot listen on ``--host``/``--port`` (the port is taken, the address is
  not this machine's).

Messages go to stderr and never contain a token, a key or a password.

This package is the entry point (``sessionward._cli:main``, ``python -m sessionward``) and
:func:`run`, which turns every failure into its exit code; its modules are the parser
(``parser``), the admin commands (``admin``), the demo command (``demo``), the database they
check and use (``database``), what they print (``output``) and the exit codes (``exits``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from sessionward._cli.database import table_problems
from sessionward._cli.exits import (
    EXIT_DATABASE,
    EXIT_LISTEN,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
)
from sessionward._cli.output import safe_url
from sessionward._cli.parser import build_parser

__all__ = [
    "EXIT_DATABASE",
    "EXIT_LISTEN",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "build_parser",
    "main",
    "run",
    "safe_url",
    "table_problems",
]


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
