"""Run the Django example under uvicorn (ASGI):
``python examples/django_app --port 8000 [--host H] ...``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv: list[str] | None = None) -> None:
    from sessionward import ALGORITHMS, FORWARDED_HEADERS

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--access-token-validity", type=int, default=3600, metavar="SECONDS")
    parser.add_argument("--blacklisting", action="store_true")
    parser.add_argument("--database-url", default="sqlite:///sessionward-example.sqlite3")
    parser.add_argument("--signing-algorithm", choices=ALGORITHMS, default="HS256")
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="CIDR",
        help="a reverse proxy whose forwarding header names the client (repeatable)",
    )
    parser.add_argument("--forwarded-header", choices=FORWARDED_HEADERS, default="x-forwarded-for")
    args = parser.parse_args(argv)

    import uvicorn
    from django.conf import settings

    from django_app.settings import build_settings

    settings.configure(
        **build_settings(
            database_url=args.database_url,
            access_token_validity=args.access_token_validity,
            blacklisting=args.blacklisting,
            signing_algorithm=args.signing_algorithm,
            trusted_proxies=tuple(args.trusted_proxy),
            forwarded_header=args.forwarded_header,
            allowed_hosts=(args.host, "127.0.0.1", "localhost"),
        )
    )
    from django_app.asgi import application  # django.setup(), with the settings above

    shown = f"[{args.host}]" if ":" in args.host else args.host
    # uvicorn at log level "warning" says nothing at start-up, so say where to go.
    print(
        f"django example: the API is at http://{shown}:{args.port}/ "
        "(POST /login, GET /me, POST /refresh, POST /logout; Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    # A production server, as the other examples have: ASGI through uvicorn (a real listen
    # backlog; sync views run in worker threads, async views on the event loop). Behind
    # --trusted-proxy the library reads the forwarding header itself; uvicorn must not rewrite
    # the peer from it first (it does so for 127.0.0.1 by default), or the library would never
    # see the proxy.
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop without a traceback
        uvicorn.run(
            application,
            host=args.host,
            port=args.port,
            log_level="warning",
            proxy_headers=not args.trusted_proxy,
        )


if __name__ == "__main__":
    main()
