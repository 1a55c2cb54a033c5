"""The example JSON API on Flask: ``python examples/flask_app.py --port 8000``."""

from __future__ import annotations

import argparse
import sys

from flask import Flask, g, jsonify, request
from flask.typing import ResponseReturnValue

from sessionward import (
    ALGORITHMS,
    DEFAULT_TENANT,
    FORWARDED_HEADERS,
    SessionManager,
    fresh_login,
    has_role,
    not_impersonated,
)
from sessionward.integrations import RequestSession, parse_json_body
from sessionward.integrations.flask import (
    Sessionward,
    create_impersonation_session,
    create_new_session,
    verify_session,
)

MAX_USER_ID_LENGTH = 128
BAD_USER_ID = "userId must be a non-empty string of at most 128 characters"


def who(session: RequestSession) -> dict[str, object]:
    """Who the session is: what a frontend shows (a banner when ``impersonatedBy`` is set)."""
    return {
        "userId": session.user_id,
        "tenantId": session.tenant_id,
        "persistent": session.persistent,
        "impersonatedBy": session.actor,
        "sessionHandle": session.handle,
    }


def create_app(manager: SessionManager) -> Flask:
    """The example app around ``manager``."""
    app = Flask(__name__)
    sessions = Sessionward(app, manager)

    @app.post("/login")
    def login() -> ResponseReturnValue:
        if not request.is_json:  # a cross-site form cannot send JSON: no login CSRF
            return jsonify({"message": "the body must be Content-Type: application/json"}), 415
        body = parse_json_body(request.get_data())
        fields = body if isinstance(body, dict) else {}
        user_id = fields.get("userId")
        if not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_USER_ID_LENGTH:
            return jsonify({"message": BAD_USER_ID}), 400
        remember = fields.get("rememberMe", True)  # false: cookies that end with the browser
        if not isinstance(remember, bool):
            return jsonify({"message": "rememberMe must be true or false"}), 400
        session = create_new_session(
            user_id,
            {"userId": user_id, "role": "tester"},
            {"visits": 0},
            tenant_id=fields.get("tenantId", DEFAULT_TENANT),  # a bad one: 400
            persistent=remember,
        )
        return jsonify(who(session))

    # Claims mid-session and claim checks. /role is for trying it out: in a real application
    # an administrator changes roles, and /reauth checks a password first.
    @app.post("/role")
    @verify_session()
    def set_role() -> ResponseReturnValue:
        body = parse_json_body(request.get_data())
        role = body.get("role") if isinstance(body, dict) else None
        if role is not None and not isinstance(role, str):
            return jsonify({"message": "role must be a string or null"}), 400
        g.session.merge_into_jwt_payload({"role": role}, every_session=True)
        return jsonify({"jwtPayload": g.session.jwt_payload})

    @app.get("/admin")
    @verify_session(claims=[has_role("admin")])
    def admin() -> ResponseReturnValue:
        return jsonify({"admin": True, "userId": g.session.user_id})

    # Impersonation: support staff (here, by the demo's rule, anyone with the role "admin")
    # act as a user; the answer carries the impersonation's tokens, so this client becomes
    # that user. An impersonation session may not start another one, nor change a password.
    @app.post("/admin/impersonate")
    @verify_session(claims=[has_role("admin"), not_impersonated()])
    def impersonate() -> ResponseReturnValue:
        body = parse_json_body(request.get_data())
        fields = body if isinstance(body, dict) else {}
        user_id = fields.get("userId")
        if not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_USER_ID_LENGTH:
            return jsonify({"message": BAD_USER_ID}), 400
        acting = create_impersonation_session(  # a bad tenantId or ttl: 400
            g.session.user_id,
            user_id,
            {"userId": user_id, "role": "tester"},
            {"visits": 0},
            tenant_id=fields.get("tenantId", g.session.tenant_id),
            ttl=fields.get("ttl", 3600),
        )
        return jsonify(who(acting))

    @app.post("/change-password")
    @verify_session(claims=[not_impersonated()])
    def change_password() -> ResponseReturnValue:
        return "", 204  # a stub: the check that matters is not_impersonated()

    @app.get("/t/<tenant>/whoami")
    @verify_session(tenant_param="tenant")
    def whoami_in_tenant(tenant: str) -> ResponseReturnValue:
        return jsonify({"userId": g.session.user_id, "tenantId": g.session.tenant_id})

    @app.post("/reauth")
    @verify_session()
    def reauth() -> ResponseReturnValue:
        g.session.mark_fresh()
        return jsonify({"status": "OK"})

    @app.post("/sensitive")
    @verify_session(claims=[fresh_login(300)])
    def sensitive() -> ResponseReturnValue:
        return jsonify({"done": True})

    @app.get("/me")
    @verify_session()
    def me() -> ResponseReturnValue:
        return jsonify({**who(g.session), "jwtPayload": g.session.jwt_payload})

    @app.post("/like")
    @verify_session()
    def like() -> ResponseReturnValue:
        return jsonify({"liked": True, "userId": g.session.user_id})

    @app.post("/logout")
    @verify_session()
    def logout() -> ResponseReturnValue:
        g.session.revoke()
        return jsonify({"status": "OK"})

    @app.get("/session-data")
    @verify_session()
    def get_data() -> ResponseReturnValue:
        return jsonify({"data": g.session.get_session_data()})

    @app.put("/session-data")
    @verify_session()
    def put_data() -> ResponseReturnValue:
        body = parse_json_body(request.get_data())  # InvalidArgumentError: 400 or 413
        g.session.update_session_data(body)
        return jsonify({"data": body})

    @app.get("/sessions")
    @verify_session()
    def sessions_of_user() -> ResponseReturnValue:
        handles = sessions.manager.get_all_session_handles_for_user(
            g.session.user_id, tenant_id=g.session.tenant_id
        )
        return jsonify({"sessions": handles})

    @app.get("/devices")
    @verify_session()
    def devices() -> ResponseReturnValue:
        return jsonify({"devices": [s.as_json() for s in g.session.list_sessions()]})

    @app.post("/devices/revoke-others")
    @verify_session()
    def revoke_others() -> ResponseReturnValue:
        return jsonify({"revoked": g.session.revoke_other_sessions()})

    @app.post("/devices/revoke")
    @verify_session()
    def revoke_device() -> ResponseReturnValue:
        body = parse_json_body(request.get_data())
        handle = body.get("sessionHandle") if isinstance(body, dict) else None
        if not isinstance(handle, str) or not handle:
            return jsonify({"message": "sessionHandle must be a non-empty string"}), 400
        current = handle == g.session.handle
        return jsonify({"revoked": g.session.revoke_session(handle), "current": current})

    @app.post("/revoke-all")
    @verify_session()
    def revoke_all() -> ResponseReturnValue:
        count = sessions.manager.revoke_all_sessions_for_user(
            g.session.user_id, tenant_id=g.session.tenant_id
        )
        g.session.revoke()  # already gone; this clears the caller's cookies
        return jsonify({"revoked": count})

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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    manager = SessionManager(
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
    print(
        f"flask example: the API is at http://{shown}:{args.port}/ "
        "(POST /login, GET /me, POST /refresh, POST /logout; Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    create_app(manager).run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
