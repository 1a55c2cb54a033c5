"""Log a user in, verify, refresh, and catch a replayed refresh token as theft, step by step.

Runs on the embedded SQLite default (a file in the working directory, or --database-url).
"""

from __future__ import annotations

import argparse

from sessionward import SessionManager, TokenTheftDetectedError, UnauthorisedError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="sqlite:///sessionward-quickstart.sqlite3")
    args = parser.parse_args()

    # refresh_grace_window=0: a replay is theft at once. By default a replay within 30 s is
    # answered with the same new tokens (a second tab, a retried request), and theft after that.
    with SessionManager(
        refresh_path="/session/refresh", database_url=args.database_url, refresh_grace_window=0
    ) as sm:
        login = sm.create_new_session("alice", jwt_payload={"role": "admin"}, session_data={"n": 0})
        print(f"1. logged in: user {login.session.user_id}, session {login.session.handle}")

        verified = sm.get_session(login.access_token.value, login.anti_csrf_token)
        print(f"2. verified without a database call: payload {verified.session.jwt_payload}")

        stolen = login.refresh_token.value  # an attacker copies the refresh token
        refreshed = sm.refresh_session(login.refresh_token.value)
        print("3. refreshed: every token rotated, same session handle")

        promoted = sm.get_session(refreshed.access_token.value, refreshed.anti_csrf_token)
        print(
            f"4. first use of the new access token confirmed it: new token issued = "
            f"{promoted.new_access_token is not None}"
        )

        try:
            sm.refresh_session(stolen)
        except TokenTheftDetectedError as theft:
            print(
                f"5. replayed refresh token caught: theft in session {theft.session_handle} "
                f"of user {theft.user_id}"
            )
            sm.revoke_session(theft.session_handle)
            print("6. the session is revoked")

        try:
            sm.refresh_session(refreshed.refresh_token.value)
        except UnauthorisedError:
            print("7. the legitimate client must log in again: its refresh is refused")


if __name__ == "__main__":
    main()
