// sessionward-client/react: the session as React state. A separate entry point, so that apps
// without React never load it; react is a peer dependency, never bundled.
//
//   const client = createClient({ refreshPath: "/refresh" });
//   function Header() {
//     const session = useSession(client);
//     if (session.status === "loading") return null;
//     return session.status === "signedIn" ? <p>{session.userId}</p> : <Login />;
//   }
import { useEffect, useState } from "react";

import type { AccessTokenPayload, SessionEventName, SessionwardClient } from "./index.js";

/** Why the last session ended, as far as this tab saw it. */
export type SessionEndReason = "sessionExpired" | "theftDetected" | "signedOut";

/** What {@link useSession} returns. */
export type UseSessionResult =
  | { status: "loading"; userId: undefined; accessTokenPayload: undefined; endReason: undefined }
  | {
      status: "signedIn";
      userId: string | undefined;
      accessTokenPayload: AccessTokenPayload | undefined;
      endReason: undefined;
    }
  | {
      status: "signedOut";
      userId: undefined;
      accessTokenPayload: undefined;
      endReason: SessionEndReason | undefined;
    };

const LOADING: UseSessionResult = {
  status: "loading",
  userId: undefined,
  accessTokenPayload: undefined,
  endReason: undefined,
};

function current(client: SessionwardClient, endReason: SessionEndReason | undefined): UseSessionResult {
  const snapshot = client.snapshot();
  if (!snapshot.exists) return { status: "signedOut", userId: undefined, accessTokenPayload: undefined, endReason };
  return {
    status: "signedIn",
    userId: snapshot.userId,
    accessTokenPayload: snapshot.accessTokenPayload,
    endReason: undefined,
  };
}

const WATCHED: readonly SessionEventName[] = ["changed", "refreshed", "sessionExpired", "theftDetected", "signedOut"];

/**
 * The session of `client` as state: "loading" until the first check (so server rendering and the
 * first client render agree), then "signedIn" with the user id and payload (from the front
 * token; an expired one is refreshed first) or "signedOut" with why. Re-renders on login,
 * refresh, expiry, theft and sign-out, in this tab and (through storage events) in others.
 */
export function useSession(client: SessionwardClient): UseSessionResult {
  const [state, setState] = useState<UseSessionResult>(LOADING);
  useEffect(() => {
    let live = true;
    let endReason: SessionEndReason | undefined;
    const update = () => {
      if (live) setState(current(client, endReason));
    };
    const stops = WATCHED.map((name) =>
      client.on(name, () => {
        if (name === "sessionExpired" || name === "theftDetected" || name === "signedOut") endReason = name;
        else if (client.doesSessionExist()) endReason = undefined;
        update();
      }),
    );
    // Another tab logged in, refreshed or out: its localStorage write arrives as an event.
    const onStorage = (event: StorageEvent) => {
      if (event.key === null || event.key.startsWith("sessionward:")) update();
    };
    globalThis.addEventListener?.("storage", onStorage);
    // The first check: the front token, refreshed first if its access token expired.
    client
      .getAccessTokenPayload()
      .catch(() => undefined)
      .then(update);
    return () => {
      live = false;
      for (const stop of stops) stop();
      globalThis.removeEventListener?.("storage", onStorage);
    };
  }, [client]);
  return state;
}
