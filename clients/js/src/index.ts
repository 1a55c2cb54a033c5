// sessionward browser client: one ES module without imports (the core of the npm package
// `sessionward-client`, and the file the Python wheel ships as sessionward/js/sessionward.js).
//
// Speaks docs/protocol.md#on-the-wire. In cookie mode (the default), like the original frontend
// SDK `supertokens-website`:
// - requests go out with `credentials: "include"` and the stored `anti-csrf` header;
// - the `anti-csrf` and `id-refresh-token` response headers are kept (in localStorage, so every
//   tab of the site sees the latest ones);
// - on the session-expired status the refresh endpoint is called once and the request retried;
// - refreshes are serialised across tabs with the Web Locks API: a tab that waited for the lock
//   and finds that the id-refresh token changed meanwhile (another tab refreshed) just retries,
//   so two tabs never present the same refresh token concurrently.
// In header mode (`tokenTransfer: "header"`, for a frontend on another site, where third-party
// cookies are blocked) the tokens come in the `st-access-token` and `st-refresh-token` response
// headers, are kept in localStorage, and go out as `Authorization: Bearer`.
//
// - proof of possession (docs/protocol.md#proof-of-possession, DPoP-style): by default the client holds an ECDSA P-256
//   key pair made with WebCrypto, its private half non-extractable and kept in IndexedDB, shared
//   by the tabs. While there is no session every request carries a `DPoP` proof, so the login
//   binds the session to the key; every refresh then carries a proof over the id-refresh token
//   (the refresh-token cookie is HttpOnly, and the id-refresh token is derived from it), or over
//   the refresh token itself in header mode. A copy of the tokens is then useless without this
//   browser's key. Where WebCrypto or IndexedDB is missing (or with `proofOfPossession: false`)
//   sessions are simply unbound.
// - the user id and the access token's payload come from the front token: the `front-token`
//   response header of every login and refresh (base64url JSON {uid, ate, up}), kept beside the
//   other tokens. In header mode, with a server that sends none, the access token is read.
//
//   import { createClient } from "/sessionward.js";
//   const session = createClient({ refreshPath: "/refresh" });
//   const response = await session.fetch("/me");
//   session.doesSessionExist(); await session.signOut();

/** The wire protocol this client speaks (the server's `sessionward-protocol` header). */
export const PROTOCOL_VERSION = 1;
/** The server protocols this client works with; any other makes it warn in the console. */
export const SUPPORTED_PROTOCOLS: readonly number[] = [1];
/** The oldest sessionward server (Python package) that sends what this client needs. */
export const MINIMUM_SERVER_VERSION = "0.1.0";
/** This client's version (the npm package's). */
export const CLIENT_VERSION = "0.1.0";

const ID_COOKIE = "sIdRefreshToken";
const ANTI_CSRF_HEADER = "anti-csrf";
const ID_HEADER = "id-refresh-token";
const ACCESS_HEADER = "st-access-token";
const REFRESH_HEADER = "st-refresh-token";
const AUTH_MODE_HEADER = "st-auth-mode";
const FRONT_TOKEN_HEADER = "front-token";
const PROTOCOL_HEADER = "sessionward-protocol";
const REMOVE = "remove";
const THEFT_MESSAGE = "token theft detected";
const PROOF_HEADER = "DPoP";
const KEY_DB = "sessionward";
const KEY_STORE = "keys";

// --- the types ---------------------------------------------------------------------------------

/** How tokens travel (docs/protocol.md#on-the-wire). */
export type TokenTransfer = "cookie" | "header";

/** What `onEvent` is told, with the type strings the client has always used. */
export type SessionEvent =
  | { type: "refresh"; ok: true }
  | { type: "refresh"; ok: false; status: number }
  | { type: "session-expired" }
  | { type: "token-theft" }
  | { type: "signed-out" };

/** The named events of {@link SessionwardClient.on}. */
export interface SessionEventMap {
  /** A refresh succeeded: new tokens (and a new front token). */
  refreshed: { type: "refreshed" };
  /** The refresh endpoint failed (not a session end): the session is kept. */
  refreshFailed: { type: "refreshFailed"; status: number };
  /** The session is over (revoked, expired): log in again. */
  sessionExpired: { type: "sessionExpired" };
  /** The server detected token theft and ended the session. */
  theftDetected: { type: "theftDetected" };
  /** signOut() finished. */
  signedOut: { type: "signedOut" };
  /** The stored tokens changed in any way (a login, a refresh, a clear). */
  changed: { type: "changed" };
}

export type SessionEventName = keyof SessionEventMap;
export type SessionListener<K extends SessionEventName> = (event: SessionEventMap[K]) => void;

/** What {@link SessionwardClient.refresh} resolves to. */
export type RefreshOutcome = "refreshed" | "refreshed-elsewhere" | "expired" | "theft" | "no-session" | "error";

/** A JSON value, as the access token's payload holds. */
export type JSONValue = string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };
/** The access token's payload: the server's `jwt_payload`. */
export type AccessTokenPayload = { [key: string]: JSONValue };

/** What the client knows now, without a request. */
export interface SessionSnapshot {
  /** A session is held (it may still need a refresh). */
  exists: boolean;
  /** The user id, from the front token (undefined without a session, or from an older server). */
  userId: string | undefined;
  /** The access token's payload, from the front token. */
  accessTokenPayload: AccessTokenPayload | undefined;
  /** When the current access token expires (ms since the epoch), if known. */
  accessTokenExpiry: number | undefined;
}

/** Every option of {@link createClient}. */
export interface ClientOptions {
  /** Origin (and path prefix) of the API; default: this page's. */
  apiBase?: string;
  /** The refresh endpoint, the backend's `refresh_path` (default "/refresh"). */
  refreshPath?: string;
  /** The logout endpoint, called by signOut() (default "/logout"). */
  signOutPath?: string;
  /** The backend's `session_expired_status` (default 440). */
  sessionExpiredStatus?: number;
  /** Bind sessions to this browser's key (DPoP-style proofs; default true). */
  proofOfPossession?: boolean;
  /** Told of refreshes, expiry, theft, sign-out. */
  onEvent?: (event: SessionEvent) => void;
  /** The fetch to wrap (default: the page's). */
  fetch?: typeof globalThis.fetch;
  /** "cookie" (default; same site) or "header" (Bearer tokens, for an API on another site). */
  tokenTransfer?: TokenTransfer;
}

/** The parts of an axios request config the interceptors use (axios's own type fits). */
export interface AxiosRequestConfigLike {
  url?: string | undefined;
  baseURL?: string | undefined;
  method?: string | undefined;
  headers?: unknown;
  withCredentials?: boolean | undefined;
}

/** The parts of an axios response the interceptors use. */
export interface AxiosResponseLike {
  status: number;
  headers: unknown;
  config: AxiosRequestConfigLike;
  data?: unknown;
}

/** The parts of an axios instance the interceptors use: `axios.create()` fits. */
export interface AxiosInstanceLike {
  interceptors: {
    request: {
      use(
        onFulfilled: (config: any) => any,
        onRejected?: ((error: any) => any) | null,
      ): number;
      eject(id: number): void;
    };
    response: {
      use(
        onFulfilled: (response: any) => any,
        onRejected?: ((error: any) => any) | null,
      ): number;
      eject(id: number): void;
    };
  };
  request(config: any): Promise<any>;
  getUri?(config?: any): string;
}

// --- helpers -----------------------------------------------------------------------------------

interface Stored {
  id?: string;
  expires?: number;
  csrf?: string;
  csrfFor?: string;
  access?: string;
  refresh?: string;
  front?: string;
}

interface Front {
  uid?: unknown;
  ate?: unknown;
  up?: unknown;
}

type HeaderReader = (name: string) => string | null;
type HeaderWriter = (name: string, value: string) => void;

const utf8 = (text: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(text);

function base64url(bytes: ArrayBuffer | Uint8Array): string {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): string {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function proofsPossible(): boolean {
  return Boolean(globalThis.crypto && crypto.subtle && globalThis.indexedDB && globalThis.isSecureContext);
}

// IndexedDB: one object store of key pairs by origin. CryptoKey objects are stored as they are
// (structured clone), so a non-extractable private key stays non-extractable.
function keyStore<T>(mode: IDBTransactionMode, action: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(KEY_DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(KEY_STORE);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const transaction = db.transaction(KEY_STORE, mode);
      const request = action(transaction.objectStore(KEY_STORE));
      transaction.oncomplete = () => {
        db.close();
        resolve(request.result);
      };
      transaction.onerror = transaction.onabort = () => {
        db.close();
        reject(transaction.error);
      };
    };
  });
}

function readCookie(name: string): string | undefined {
  if (typeof document === "undefined") return undefined;
  for (const part of document.cookie.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return value === "" ? undefined : decodeURIComponent(value);
    }
  }
  return undefined;
}

/** A reader over axios's headers: an AxiosHeaders (with get) or a plain object. */
function axiosHeaderReader(headers: unknown): HeaderReader {
  return (name) => {
    if (!isObject(headers)) return null;
    const get = headers["get"];
    if (typeof get === "function") {
      const value: unknown = get.call(headers, name);
      return value === undefined || value === null || value === false ? null : String(value);
    }
    const wanted = name.toLowerCase();
    for (const [key, value] of Object.entries(headers)) {
      if (key.toLowerCase() === wanted && value !== undefined && value !== null) return String(value);
    }
    return null;
  };
}

// --- the client --------------------------------------------------------------------------------

export class SessionwardClient {
  /** The API's origin and path prefix, without a trailing slash. */
  readonly apiBase: string;
  readonly refreshPath: string;
  readonly signOutPath: string;
  readonly sessionExpiredStatus: number;
  readonly tokenTransfer: TokenTransfer;
  /** Bind new sessions to this browser's key (may be changed before a login). */
  proofOfPossession: boolean;
  onEvent: (event: SessionEvent) => void;
  /** Refreshes this client (this tab) made. */
  refreshCount = 0;
  /** The protocol the server last stated (its `sessionward-protocol` header), if any. */
  serverProtocol: number | undefined;

  private readonly _fetch: typeof globalThis.fetch;
  private readonly _sameOrigin: boolean;
  private readonly _storageKey: string;
  private readonly _lockName: string;
  private readonly _keyName: string;
  private readonly _keyLockName: string;
  private _queue: Promise<unknown> = Promise.resolve(); // the fallback lock where Web Locks are missing
  private _clockSkewMs = 0; // the server's clock minus ours, from Date headers
  private _noFrontToken = false; // a token response came without a front token (an older server)
  private _warnedProtocol = false; // the console was told of a protocol mismatch (once a client)
  private readonly _listeners = new Map<SessionEventName, Set<(event: never) => void>>();

  constructor(options: ClientOptions = {}) {
    const base = new URL(options.apiBase || "/", location.href);
    this.apiBase = base.href.replace(/\/$/, "");
    this.refreshPath = options.refreshPath || "/refresh";
    this.signOutPath = options.signOutPath || "/logout";
    this.sessionExpiredStatus = options.sessionExpiredStatus || 440;
    this.tokenTransfer = options.tokenTransfer === "header" ? "header" : "cookie";
    this.onEvent = options.onEvent || (() => {});
    this._fetch = options.fetch || globalThis.fetch.bind(globalThis);
    this._sameOrigin = base.origin === location.origin;
    this._storageKey = `sessionward:${this.tokenTransfer === "header" ? "header:" : ""}${base.origin}`;
    this._lockName = `sessionward-refresh:${base.origin}`;
    this.proofOfPossession = options.proofOfPossession !== false;
    this._keyName = `key:${base.origin}`;
    this._keyLockName = `sessionward-key:${base.origin}`;
  }

  // --- events ----------------------------------------------------------------------------------

  /** Listen to one kind of event; returns the function that stops listening. */
  on<K extends SessionEventName>(name: K, listener: SessionListener<K>): () => void {
    let set = this._listeners.get(name);
    if (!set) this._listeners.set(name, (set = new Set()));
    set.add(listener as (event: never) => void);
    return () => {
      set.delete(listener as (event: never) => void);
    };
  }

  private _notify<K extends SessionEventName>(event: SessionEventMap[K] & { type: K }): void {
    for (const listener of this._listeners.get(event.type) || []) {
      try {
        (listener as SessionListener<K>)(event);
      } catch (error) {
        console.error("sessionward event listener failed", error);
      }
    }
  }

  private _emit(event: SessionEvent): void {
    try {
      this.onEvent(event);
    } catch (error) {
      console.error("sessionward onEvent handler failed", error);
    }
    if (event.type === "refresh") {
      if (event.ok) this._notify({ type: "refreshed" });
      else this._notify({ type: "refreshFailed", status: event.status });
    } else if (event.type === "session-expired") this._notify({ type: "sessionExpired" });
    else if (event.type === "token-theft") this._notify({ type: "theftDetected" });
    else this._notify({ type: "signedOut" });
  }

  // --- proof of possession ---------------------------------------------------------------------

  /** This browser's key pair (made on first login; shared by the tabs), or undefined. */
  private async _keyPair(create: boolean): Promise<CryptoKeyPair | undefined> {
    if (!this.proofOfPossession || !proofsPossible()) return undefined;
    const load = () => keyStore<CryptoKeyPair | undefined>("readonly", (store) => store.get(this._keyName));
    try {
      const found = await load();
      if (found || !create) return found || undefined;
      // One key per browser: two tabs logging in at once must not each make their own.
      return await this._withNamedLock(this._keyLockName, async () => {
        const again = await load();
        if (again) return again;
        const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
          "sign",
          "verify",
        ]);
        await keyStore("readwrite", (store) => store.put(pair, this._keyName));
        return pair;
      });
    } catch (error) {
      console.warn("sessionward: no key for proof of possession; the session is unbound", error);
      return undefined;
    }
  }

  /** A DPoP proof for one request; `token`: the token presented (at refresh). */
  private async _proof(method: string, url: string, token?: string): Promise<string | undefined> {
    const pair = await this._keyPair(token === undefined);
    if (!pair) return undefined;
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
    const header = { typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } };
    const claims: { [key: string]: string | number } = {
      jti: base64url(crypto.getRandomValues(new Uint8Array(16))),
      htm: method.toUpperCase(),
      htu: new URL(url, location.href).href,
      iat: Math.floor((Date.now() + this._clockSkewMs) / 1000),
    };
    if (token !== undefined) claims["ath"] = base64url(await crypto.subtle.digest("SHA-256", utf8(token)));
    const input = `${base64url(utf8(JSON.stringify(header)))}.${base64url(utf8(JSON.stringify(claims)))}`;
    const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, utf8(input));
    return `${input}.${base64url(signature)}`; // WebCrypto signs as r || s: what JWS wants
  }

  // --- state -----------------------------------------------------------------------------------

  private _stored(): Stored {
    try {
      const value: unknown = JSON.parse(localStorage.getItem(this._storageKey) || "{}");
      return isObject(value) ? (value as Stored) : {};
    } catch {
      return {};
    }
  }

  private _store(state: Stored | null): void {
    const before = localStorage.getItem(this._storageKey);
    if (state === null) localStorage.removeItem(this._storageKey);
    else localStorage.setItem(this._storageKey, JSON.stringify(state));
    if (localStorage.getItem(this._storageKey) !== before) this._notify({ type: "changed" });
  }

  /** The current id-refresh token (the refresh token in header mode), or undefined without a session. */
  idRefreshToken(): string | undefined {
    if (this.tokenTransfer === "header") return this._stored().refresh;
    if (this._sameOrigin) return readCookie(ID_COOKIE);
    // Another origin's cookies are invisible here: use the value from the response header.
    const { id, expires } = this._stored();
    return id !== undefined && (!expires || expires > Date.now()) ? id : undefined;
  }

  /** The anti-CSRF token that belongs to the current id-refresh token, if any. */
  antiCsrfToken(): string | undefined {
    if (this.tokenTransfer === "header") return undefined;
    const { csrf, csrfFor } = this._stored();
    const id = this.idRefreshToken();
    return id !== undefined && csrfFor === id ? csrf : undefined;
  }

  /**
   * The anti-CSRF token for the current id-refresh token, once this tab can see it. Right after
   * another tab refreshed, this tab already sees the new cookie but may, for a moment, still see
   * the old localStorage (Chromium propagates it between tabs asynchronously): a request sent
   * then would go without the header and fail. So wait for the stored token to catch up, briefly.
   */
  private async _settledAntiCsrfToken(): Promise<string | undefined> {
    for (let waited = 0; ; waited += 10) {
      const csrf = this.antiCsrfToken();
      const usesCsrf = this._stored().csrf !== undefined;
      if (csrf !== undefined || !usesCsrf || !this.doesSessionExist() || waited >= 1000) return csrf;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** True while the browser holds a session (it may still need a refresh). */
  doesSessionExist(): boolean {
    return this.idRefreshToken() !== undefined;
  }

  private _front(): Front | undefined {
    const { front, access } = this._stored();
    try {
      if (front !== undefined) {
        const value: unknown = JSON.parse(fromBase64url(front));
        return isObject(value) ? value : undefined;
      }
      // Header mode without a front token (an older server): the access token is at hand.
      const claims = access === undefined ? undefined : access.split(".")[1];
      if (claims === undefined) return undefined;
      const value: unknown = JSON.parse(fromBase64url(claims));
      if (!isObject(value)) return undefined;
      const exp = value["exp"];
      return { uid: value["sub"], up: value["pld"], ate: typeof exp === "number" ? exp * 1000 : undefined };
    } catch {
      return undefined;
    }
  }

  /** What the client knows now, from the stored front token, without a request. */
  snapshot(): SessionSnapshot {
    const exists = this.doesSessionExist();
    const front = exists ? this._front() : undefined;
    const uid = front?.uid;
    const up = front?.up;
    const ate = front?.ate;
    return {
      exists,
      userId: typeof uid === "string" ? uid : undefined,
      accessTokenPayload: isObject(up) ? (up as AccessTokenPayload) : undefined,
      accessTokenExpiry: typeof ate === "number" ? ate : undefined,
    };
  }

  /** The front token, refreshed first when its access token has expired or it is missing. */
  private async _freshSnapshot(): Promise<SessionSnapshot> {
    const snapshot = this.snapshot();
    if (!snapshot.exists) return snapshot;
    const expiry = snapshot.accessTokenExpiry;
    const expired = expiry !== undefined && expiry <= Date.now() + this._clockSkewMs;
    // Missing: a session from before this storage (or another client); a server that sends no
    // front token at all is not asked again and again.
    const missing = snapshot.accessTokenPayload === undefined && !this._noFrontToken;
    if (!expired && !missing) return snapshot;
    await this._refresh(this.idRefreshToken());
    return this.snapshot();
  }

  /** The session's user id, from the front token (refreshed first if its access token expired). */
  async getUserId(): Promise<string | undefined> {
    return (await this._freshSnapshot()).userId;
  }

  /**
   * The access token's payload (the server's `jwt_payload`), from the front token: no request
   * unless the access token has expired, when the client refreshes first. Undefined without a
   * session, or with a server too old to send a front token (then ask a `/me`-style route).
   */
  async getAccessTokenPayload(): Promise<AccessTokenPayload | undefined> {
    return (await this._freshSnapshot()).accessTokenPayload;
  }

  private _checkProtocol(read: HeaderReader): void {
    const stated = read(PROTOCOL_HEADER);
    const carriesTokens =
      read(ID_HEADER) !== null || read(ACCESS_HEADER) !== null || read(ANTI_CSRF_HEADER) !== null;
    if (stated === null) {
      if (carriesTokens && !this._warnedProtocol) {
        this._warnedProtocol = true;
        console.warn(
          `sessionward-client ${CLIENT_VERSION}: the server's token responses state no protocol ` +
            `(no readable ${PROTOCOL_HEADER} header). This client needs a sessionward server >= ` +
            `${MINIMUM_SERVER_VERSION} (protocol ${PROTOCOL_VERSION}); without it the user id and ` +
            `payload (the front token) are unknown. Cross-origin, the server's CORS set-up must ` +
            `expose the header.`,
        );
      }
      return;
    }
    const version = Number(stated);
    this.serverProtocol = Number.isInteger(version) ? version : undefined;
    if (!SUPPORTED_PROTOCOLS.includes(version) && !this._warnedProtocol) {
      this._warnedProtocol = true;
      console.warn(
        `sessionward-client ${CLIENT_VERSION} speaks protocol ${SUPPORTED_PROTOCOLS.join(", ")}, ` +
          `but the server states protocol ${stated}: upgrade the one that is older ` +
          `(the client needs a sessionward server >= ${MINIMUM_SERVER_VERSION}).`,
      );
    }
  }

  private _absorb(read: HeaderReader): void {
    const date = Date.parse(read("date") || "");
    if (!Number.isNaN(date)) {
      const skew = date - Date.now();
      this._clockSkewMs = Math.abs(skew) > 5000 ? skew : 0; // Date has one-second resolution
    }
    this._checkProtocol(read);
    const front = read(FRONT_TOKEN_HEADER);
    const issued = read(this.tokenTransfer === "header" ? ACCESS_HEADER : ID_HEADER);
    if (front === null && issued !== null && issued !== REMOVE) this._noFrontToken = true;
    if (this.tokenTransfer === "header") {
      const access = read(ACCESS_HEADER);
      const refresh = read(REFRESH_HEADER);
      if (access === null && refresh === null && front === null) return;
      if (access === REMOVE || refresh === REMOVE) {
        this._store(null);
        return;
      }
      const state = this._stored();
      if (access !== null) state.access = access;
      if (refresh !== null) state.refresh = refresh;
      if (front !== null) state.front = front;
      else if (access !== null) delete state.front; // an older server: read the access token
      this._store(state);
      return;
    }
    const idHeader = read(ID_HEADER);
    const csrf = read(ANTI_CSRF_HEADER);
    if (idHeader === null && csrf === null && front === null) return;
    if (idHeader === REMOVE || front === REMOVE) {
      this._store(null);
      return;
    }
    const state = this._stored();
    if (idHeader !== null) {
      const [id, expires] = idHeader.split(";");
      if (id !== undefined) state.id = id;
      state.expires = Number(expires) || 0;
      if (front === null) delete state.front;
    }
    if (csrf !== null) {
      state.csrf = csrf;
      const csrfFor = idHeader !== null ? state.id : this.idRefreshToken();
      if (csrfFor !== undefined) state.csrfFor = csrfFor;
    }
    if (front !== null) state.front = front;
    this._store(state);
  }

  private _url(path: string): string {
    return /^[a-z][a-z0-9+.-]*:/i.test(path) ? path : this.apiBase + (path.startsWith("/") ? path : `/${path}`);
  }

  // --- requests --------------------------------------------------------------------------------

  /**
   * The session's headers for one request (shared by fetch and the axios interceptors): the
   * anti-CSRF header or the Bearer access token, and a DPoP proof while there is no session.
   * @internal
   */
  async _prepare(method: string, url: string, set: HeaderWriter): Promise<string | undefined> {
    const before = this.idRefreshToken();
    if (this.tokenTransfer === "header") {
      set(AUTH_MODE_HEADER, "header");
      const { access } = this._stored();
      if (before !== undefined && access !== undefined) set("Authorization", `Bearer ${access}`);
    } else {
      const csrf = await this._settledAntiCsrfToken();
      if (csrf !== undefined) set(ANTI_CSRF_HEADER, csrf);
    }
    if (before === undefined) {
      // No session yet: whatever this request is (a login, typically), offer the key.
      const proof = await this._proof(method, url);
      if (proof !== undefined) set(PROOF_HEADER, proof);
    }
    return before;
  }

  /**
   * After a response of the session-expired status: refresh (once, under the lock) and say
   * whether to retry. `before`: the session the request was sent with.
   * @internal
   */
  async _shouldRetry(before: string | undefined, attempt: number): Promise<boolean> {
    if (attempt > 0 || before === undefined) {
      if (!this.doesSessionExist()) this._emit({ type: "session-expired" });
      return false;
    }
    const outcome = await this._refresh(before);
    return outcome === "refreshed" || outcome === "refreshed-elsewhere";
  }

  /** @internal */
  _absorbHeaders(read: HeaderReader): void {
    this._absorb(read);
  }

  /**
   * fetch() with the session: adds credentials and the anti-CSRF header (or the Bearer token in
   * header mode); on the session-expired status refreshes once (unless another tab just did) and
   * retries once. Returns the final Response; a session that is over comes back as the expired
   * status.
   */
  async fetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    const original =
      input instanceof Request ? new Request(input, init) : new Request(this._url(String(input)), init);
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(original.headers);
      const before = await this._prepare(original.method, original.url, (name, value) => headers.set(name, value));
      const credentials: RequestCredentials = this.tokenTransfer === "cookie" ? "include" : original.credentials;
      const request = new Request(original.clone(), { headers, credentials });
      const response = await this._fetch(request);
      this._absorb((name) => response.headers.get(name));
      if (response.status !== this.sessionExpiredStatus) return response;
      if (!(await this._shouldRetry(before, attempt))) return response;
    }
  }

  /**
   * Call the refresh endpoint now (serialised with every other tab). Resolves to
   * "refreshed", "expired" (the session is over), "theft" (the backend detected token theft),
   * "no-session", or "error" (the backend failed; the session is kept).
   */
  refresh(): Promise<RefreshOutcome> {
    return this._refresh(undefined);
  }

  private _withNamedLock<T>(name: string, task: () => Promise<T>): Promise<T> {
    if (globalThis.navigator && navigator.locks && navigator.locks.request) {
      return navigator.locks.request(name, { mode: "exclusive" }, task) as Promise<T>;
    }
    const run = this._queue.then(task, task);
    this._queue = run.catch(() => {});
    return run;
  }

  private _refresh(before: string | undefined): Promise<RefreshOutcome> {
    return this._withNamedLock(this._lockName, async (): Promise<RefreshOutcome> => {
      const now = this.idRefreshToken();
      if (now === undefined) {
        this._emit({ type: "session-expired" });
        return "no-session";
      }
      if (before !== undefined && now !== before) return "refreshed-elsewhere";
      const url = this._url(this.refreshPath);
      const headers = new Headers();
      if (this.tokenTransfer === "header") {
        headers.set(AUTH_MODE_HEADER, "header");
        headers.set("Authorization", `Bearer ${now}`);
      }
      const proof = await this._proof("POST", url, now);
      if (proof !== undefined) headers.set(PROOF_HEADER, proof);
      const credentials: RequestCredentials = this.tokenTransfer === "cookie" ? "include" : "same-origin";
      const response = await this._fetch(url, { method: "POST", credentials, headers });
      this._absorb((name) => response.headers.get(name));
      if (response.ok) {
        this.refreshCount += 1;
        this._emit({ type: "refresh", ok: true });
        return "refreshed";
      }
      if (response.status === this.sessionExpiredStatus) {
        let body: unknown = {};
        try {
          body = await response.clone().json();
        } catch {
          // not JSON: an unauthorised answer all the same
        }
        this._store(null);
        const theft = isObject(body) && body["message"] === THEFT_MESSAGE;
        this._emit({ type: theft ? "token-theft" : "session-expired" });
        return theft ? "theft" : "expired";
      }
      this._emit({ type: "refresh", ok: false, status: response.status });
      return "error";
    });
  }

  /** Log out: POST the sign-out path (the backend revokes the session and clears the tokens). */
  async signOut(): Promise<boolean> {
    let ok = true;
    if (this.doesSessionExist()) {
      const response = await this.fetch(this.signOutPath, { method: "POST" });
      ok = response.ok || response.status === this.sessionExpiredStatus;
    }
    this._store(null);
    this._emit({ type: "signed-out" });
    return ok;
  }
}

/** A client for the API at `options.apiBase` (default: this page's origin). */
export function createClient(options: ClientOptions = {}): SessionwardClient {
  return new SessionwardClient(options);
}

// --- axios ---------------------------------------------------------------------------------------

const RETRIED = "__sessionwardAttempt";
const BEFORE = "__sessionwardBefore";

/**
 * Give an axios instance the client's session: the same headers, proof of possession,
 * refresh-and-retry and cross-tab lock as {@link SessionwardClient.fetch}. axios is never
 * imported here: pass your instance (`axios` itself or `axios.create()`). Returns a function
 * that removes the interceptors again.
 */
export function addAxiosInterceptors(axiosInstance: AxiosInstanceLike, client: SessionwardClient): () => void {
  const fullUrl = (config: AxiosRequestConfigLike): string => {
    if (typeof axiosInstance.getUri === "function") {
      try {
        return new URL(axiosInstance.getUri(config), location.href).href;
      } catch {
        // fall through
      }
    }
    const url = config.url || "";
    if (/^[a-z][a-z0-9+.-]*:/i.test(url) || !config.baseURL) return new URL(url, location.href).href;
    return new URL(config.baseURL.replace(/\/+$/, "") + "/" + url.replace(/^\/+/, ""), location.href).href;
  };

  const requestId = axiosInstance.interceptors.request.use(async (config: AxiosRequestConfigLike) => {
    const headers = config.headers;
    const set: HeaderWriter = (name, value) => {
      if (isObject(headers) && typeof headers["set"] === "function") {
        (headers["set"] as (n: string, v: string) => void).call(headers, name, value);
      } else if (isObject(headers)) {
        headers[name] = value;
      } else {
        config.headers = { [name]: value };
      }
    };
    const before = await client._prepare(config.method || "get", fullUrl(config), set);
    (config as { [BEFORE]?: string | undefined })[BEFORE] = before;
    if (client.tokenTransfer === "cookie") config.withCredentials = true;
    return config;
  });

  const afterExpired = async (response: AxiosResponseLike): Promise<unknown> => {
    const config = response.config as AxiosRequestConfigLike & { [RETRIED]?: number; [BEFORE]?: string };
    const attempt = config[RETRIED] || 0;
    if (!(await client._shouldRetry(config[BEFORE], attempt))) return undefined;
    return axiosInstance.request({ ...config, [RETRIED]: attempt + 1 });
  };

  const responseId = axiosInstance.interceptors.response.use(
    async (response: AxiosResponseLike) => {
      client._absorbHeaders(axiosHeaderReader(response.headers));
      if (response.status !== client.sessionExpiredStatus) return response;
      // validateStatus let the expired status through: retry all the same.
      const retried = await afterExpired(response);
      return retried === undefined ? response : retried;
    },
    async (error: unknown) => {
      const response = isObject(error) ? (error["response"] as AxiosResponseLike | undefined) : undefined;
      if (response === undefined || !isObject(response)) throw error;
      client._absorbHeaders(axiosHeaderReader(response.headers));
      if (response.status !== client.sessionExpiredStatus) throw error;
      const retried = await afterExpired(response);
      if (retried === undefined) throw error;
      return retried;
    },
  );

  return () => {
    axiosInstance.interceptors.request.eject(requestId);
    axiosInstance.interceptors.response.eject(responseId);
  };
}

export default createClient;
