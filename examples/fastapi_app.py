"""The example JSON API on FastAPI: ``python examples/fastapi_app.py --port 8000``.

The routes are :func:`sessionward.demo.api.demo_router` (shared with the demo); the one-line
protection idiom there is ``session: Annotated[AsyncRequestSession, Depends(verify_session())]``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from sessionward import ALGORITHMS, FORWARDED_HEADERS, AsyncSessionManager
from sessionward.demo.api import SessionDep, demo_router
from sessionward.integrations.starlette import Sessionward


async def nothing(request: Request) -> None:
    """A dependency that does nothing (the HTTP benchmark's floor for any dependency)."""


def create_app(manager: AsyncSessionManager) -> FastAPI:
    """The example app around ``manager``."""
    app = FastAPI(title="sessionward example")
    Sessionward(manager).install(app)
    app.include_router(demo_router())

    # The same GET without and with protection: the HTTP benchmark's pair (docs/benchmarks.md).
    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"pong": True}

    @app.get("/ping/protected")
    async def ping_protected(session: SessionDep) -> dict[str, bool]:
        return {"pong": True}

    # ...and behind a dependency that does nothing: FastAPI's own cost for any dependency.
    @app.get("/ping/dependency")
    async def ping_dependency(_: Annotated[None, Depends(nothing)]) -> dict[str, bool]:
        return {"pong": True}

    return app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve sessionward's metrics for Prometheus at http://HOST:PORT/metrics "
        "(needs sessionward[otel], opentelemetry-sdk and opentelemetry-exporter-prometheus)",
    )
    return parser.parse_args(argv)


def serve_metrics(host: str, port: int) -> None:
    """OpenTelemetry's SDK with a Prometheus reader, scraped at ``/metrics`` on ``port``: the
    recipe of docs/operations.md#metrics-and-traces."""
    from opentelemetry import metrics
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import start_http_server

    start_http_server(port, addr=host)
    metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = parse_args(argv)
    if args.metrics_port is not None:
        serve_metrics(args.host, args.metrics_port)
    manager = AsyncSessionManager(
        refresh_path="/refresh",
        database_url=args.database_url,
        access_token_validity=args.access_token_validity,
        allow_short_access_tokens=True,
        revocation_check="exact" if args.blacklisting else None,
        signing_algorithm=args.signing_algorithm,
        # Resource services (examples/resource_service.py) read revocations here; the feed is
        # signed with the asymmetric key, so HS256 cannot serve it.
        revocation_feed_path=None
        if args.signing_algorithm == "HS256" or args.blacklisting
        else "/.well-known/revocations",
        cookie_secure=False,  # plain http on a development machine
        cookie_same_site="lax",
        trusted_proxies=tuple(args.trusted_proxy),
        forwarded_header=args.forwarded_header,
    )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    # uvicorn at log level "warning" says nothing at start-up, so say where to go.
    print(
        f"fastapi example: the API is at http://{shown}:{args.port}/ "
        "(POST /login, GET /me, POST /refresh, POST /logout; Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    # Behind --trusted-proxy the library reads the forwarding header itself; uvicorn must not
    # rewrite the peer from it first (it does so for 127.0.0.1 by default), or the library would
    # never see the proxy.
    uvicorn.run(
        create_app(manager),
        host=args.host,
        port=args.port,
        log_level="warning",
        proxy_headers=not args.trusted_proxy,
    )


if __name__ == "__main__":
    main()
