"""The exit codes of the ``sessionward`` command, and the error that carries one.

They are part of the interface (scripts rely on them), so they are named once, here, and every
module of the command reports a failure by raising :class:`CliError` with one of them; only
:func:`sessionward._cli.run` turns it into a message on stderr and a return code.
"""

from __future__ import annotations

from sessionward._errors import _InternalError

EXIT_OK = 0
EXIT_DATABASE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_LISTEN = 4


class CliError(_InternalError):
    """A failure to report on stderr and turn into an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code
