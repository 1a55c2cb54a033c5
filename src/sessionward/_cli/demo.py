"""The ``demo`` subcommand: run the demo web app (sessionward.demo) from the command line.

Apart from the admin commands because it needs none of their database machinery (the demo
builds its own manager) and has its own failures: the optional ``[demo]`` dependencies may be
missing, and the address may be taken (exit 4).
"""

from __future__ import annotations

import argparse

from sessionward._cli.exits import EXIT_LISTEN, EXIT_OK, EXIT_USAGE, CliError
from sessionward._cli.output import cannot_use
from sessionward._errors import ConfigError, InvalidArgumentError, SessionError


def _not_installed(exc: ImportError) -> CliError:
    return CliError(
        f"the demo needs {exc.name}, which is not installed: pip install 'sessionward[demo]'",
        EXIT_USAGE,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        from sessionward.demo import CannotListenError, DemoOptions, serve
    except ImportError as exc:
        raise _not_installed(exc) from None

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
        raise _not_installed(exc) from None
    except CannotListenError as exc:
        raise CliError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror} (choose another --port, "
            "or stop what is using it)",
            EXIT_LISTEN,
        ) from None
    except SessionError as exc:
        raise cannot_use(args.database_url, exc) from None
    return EXIT_OK
