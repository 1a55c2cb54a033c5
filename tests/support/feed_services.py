"""The processes of the revocation-feed tests, each started by its own command (see
``tests/test_revocation_feed_processes.py``): an issuer (Flask, sync manager, serving the JWKS
and the revocation feed) and a sync resource service (Flask, ``RemoteVerifier``); the async
resource service is ``examples/resource_service.py`` itself, started with only ``--jwks-url``.

``python feed_services.py issuer --port P --host H --settings '<Config settings as JSON>'``
``python feed_services.py flask-resource --port P --host H --jwks-url URL``
"""

from __future__ import annotations

import argparse
import json

from flask import Flask, g
from werkzeug.serving import make_server

from sessionward import Config, RemoteVerifier, SessionManager
from sessionward.integrations.flask import RemoteSessions, Sessionward


def issuer_app(settings: dict[str, object]) -> Flask:
    app = Flask("issuer")
    Sessionward(app, SessionManager(Config(**settings)))  # type: ignore[arg-type]
    return app


def resource_app(jwks_url: str) -> Flask:
    app = Flask("resource")
    remote = RemoteSessions(RemoteVerifier(jwks_url))
    remote.install(app)

    @app.get("/reports")
    @remote.verify_session()
    def reports() -> dict[str, object]:
        return {"user": g.session.user_id}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["issuer", "flask-resource"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--settings", default="{}")
    parser.add_argument("--jwks-url")
    args = parser.parse_args()
    if args.role == "issuer":
        app = issuer_app(json.loads(args.settings))
    else:
        app = resource_app(args.jwks_url)
    make_server(args.host, args.port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
