// A consumer of the published package, type-checked by `npm run typecheck` (tsc --strict):
// it imports by the package's name (through its "exports") and uses every exported type.
import axios from "axios";
import createDefault, {
  addAxiosInterceptors,
  CLIENT_VERSION,
  createClient,
  MINIMUM_SERVER_VERSION,
  PROTOCOL_VERSION,
  SessionwardClient,
  SUPPORTED_PROTOCOLS,
} from "sessionward-client";
import type {
  AccessTokenPayload,
  AxiosInstanceLike,
  AxiosRequestConfigLike,
  AxiosResponseLike,
  ClientOptions,
  JSONValue,
  RefreshOutcome,
  SessionEvent,
  SessionEventMap,
  SessionEventName,
  SessionListener,
  SessionSnapshot,
  TokenTransfer,
} from "sessionward-client";
import { useSession } from "sessionward-client/react";
import type { SessionEndReason, UseSessionResult } from "sessionward-client/react";

const transfer: TokenTransfer = "header";
const options: ClientOptions = {
  apiBase: "https://api.example.com",
  refreshPath: "/refresh",
  signOutPath: "/logout",
  sessionExpiredStatus: 440,
  proofOfPossession: true,
  tokenTransfer: transfer,
  fetch: (input, init) => globalThis.fetch(input, init),
  onEvent(event: SessionEvent) {
    if (event.type === "refresh" && !event.ok) console.log(event.status);
  },
};
const client: SessionwardClient = createClient(options);
const other: SessionwardClient = createDefault();
void other;

const listener: SessionListener<"refreshFailed"> = (event) => console.log(event.status);
const stop: () => void = client.on("refreshFailed", listener);
stop();
const names: SessionEventName[] = ["refreshed", "sessionExpired", "theftDetected", "signedOut", "changed"];
const theft: SessionEventMap["theftDetected"] = { type: "theftDetected" };
void names;
void theft;

async function use(): Promise<void> {
  const response: Response = await client.fetch("/me", { method: "GET" });
  const exists: boolean = client.doesSessionExist();
  const userId: string | undefined = await client.getUserId();
  const payload: AccessTokenPayload | undefined = await client.getAccessTokenPayload();
  const role: JSONValue | undefined = payload?.["role"];
  const snapshot: SessionSnapshot = client.snapshot();
  const outcome: RefreshOutcome = await client.refresh();
  const ok: boolean = await client.signOut();
  const protocol: number | undefined = client.serverProtocol;
  console.log(response.status, exists, userId, role, snapshot.accessTokenExpiry, outcome, ok, protocol);
}
void use;

// Real axios instances fit the structural types: axios stays a peer, never imported by the core.
const instance = axios.create({ baseURL: "https://api.example.com" });
const eject: () => void = addAxiosInterceptors(instance, client);
eject();
addAxiosInterceptors(axios, client)();
const like: AxiosInstanceLike = instance;
const config: AxiosRequestConfigLike = { url: "/me", method: "get" };
const reply: AxiosResponseLike = { status: 200, headers: {}, config };
void like;
void reply;

const versions: [number, readonly number[], string, string] = [
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOLS,
  MINIMUM_SERVER_VERSION,
  CLIENT_VERSION,
];
void versions;

// The hook, called as a component would (no JSX needed for the type check).
export function Header(): string {
  const session: UseSessionResult = useSession(client);
  const reason: SessionEndReason | undefined = session.status === "signedOut" ? session.endReason : undefined;
  if (session.status === "signedIn") return `signed in as ${session.userId ?? "?"}`;
  return session.status === "loading" ? "..." : `signed out (${reason ?? "never signed in"})`;
}
