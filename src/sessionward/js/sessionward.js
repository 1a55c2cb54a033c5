// sessionward browser client: plain modern JavaScript (an ES module), no build step.
//
// Speaks the cookie mode of docs/protocol.md#on-the-wire, like the original frontend SDK `supertokens-website`:
// - requests go out with `credentials: "include"` and the stored `anti-csrf` header;
// - the `anti-csrf` and `id-refresh-token` response headers are kept (in localStorage, so every
//   tab of the site sees the latest ones);
// - on the session-expired status the refresh endpoint is called once and the request retried;
// - refreshes are serialised across tabs with the Web Locks API: a tab that waited for the lock
//   and finds that the id-refresh token changed meanwhile (another tab refreshed) just retries,
//   so two tabs never present the same refresh token concurrently.
//
// - proof of possession (docs/protocol.md#proof-of-possession, DPoP-style): by default the client holds an ECDSA P-256
//   key pair made with WebCrypto, its private half non-extractable and kept in IndexedDB, shared
//   by the tabs. While there is no session every request carries a `DPoP` proof, so the login
//   binds the session to the key; every refresh then carries a proof over the id-refresh token
//   (the refresh-token cookie is HttpOnly, and the id-refresh token is derived from it). A copy of
//   the cookies is then useless without this browser's key. Where WebCrypto or IndexedDB is
//   missing (or with `proofOfPossession: false`) sessions are simply unbound.
//
//   import { createClient } from "/sessionward.js";
//   const session = createClient({ refreshPath: "/refresh" });
//   const response = await session.fetch("/me");
//   session.doesSessionExist(); await session.signOut();

const ID_COOKIE = "sIdRefreshToken";
const ANTI_CSRF_HEADER = "anti-csrf";
const ID_HEADER = "id-refresh-token";
const THEFT_MESSAGE = "token theft detected";
const PROOF_HEADER = "DPoP";
const KEY_DB = "sessionward";
const KEY_STORE = "keys";

const utf8 = (text) => new TextEncoder().encode(text);

function base64url(bytes) {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function proofsPossible() {
  return Boolean(globalThis.crypto && crypto.subtle && globalThis.indexedDB && globalThis.isSecureContext);
}

// IndexedDB: one object store of key pairs by origin. CryptoKey objects are stored as they are
// (structured clone), so a non-extractable private key stays non-extractable.
function keyStore(mode, action) {
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

function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return value === "" ? undefined : decodeURIComponent(value);
    }
  }
  return undefined;
}

export class SessionwardClient {
  /**
   * @param {object} [options]
   * @param {string} [options.apiBase] origin (and path prefix) of the API; default: this page's
   * @param {string} [options.refreshPath] the refresh endpoint (the backend's `refresh_path`)
   * @param {string} [options.signOutPath] the logout endpoint, called by signOut()
   * @param {number} [options.sessionExpiredStatus] the backend's session-expired status (440)
   * @param {typeof fetch} [options.fetch] the fetch to wrap (default: the page's)
   * @param {(event: object) => void} [options.onEvent] told of refreshes, expiry, theft, sign-out
   * @param {boolean} [options.proofOfPossession] bind sessions to this browser's key (default true)
   */
  constructor(options = {}) {
    const base = new URL(options.apiBase || "/", location.href);
    this.apiBase = base.href.replace(/\/$/, "");
    this.refreshPath = options.refreshPath || "/refresh";
    this.signOutPath = options.signOutPath || "/logout";
    this.sessionExpiredStatus = options.sessionExpiredStatus || 440;
    this.onEvent = options.onEvent || (() => {});
    this.refreshCount = 0;
    this._fetch = options.fetch || globalThis.fetch.bind(globalThis);
    this._sameOrigin = base.origin === location.origin;
    this._storageKey = `sessionward:${base.origin}`;
    this._lockName = `sessionward-refresh:${base.origin}`;
    this._queue = Promise.resolve(); // the fallback lock where Web Locks are missing
    this.proofOfPossession = options.proofOfPossession !== false;
    this._keyName = `key:${base.origin}`;
    this._keyLockName = `sessionward-key:${base.origin}`;
    this._clockSkewMs = 0; // the server's clock minus ours, from Date headers
  }

  // --- proof of possession -------------------------------------------------------------------

  /** This browser's key pair (made on first login; shared by the tabs), or undefined. */
  async _keyPair(create) {
    if (!this.proofOfPossession || !proofsPossible()) return undefined;
    const load = () => keyStore("readonly", (store) => store.get(this._keyName));
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

  /** A DPoP proof for one request; `token`: the id-refresh token presented (at refresh). */
  async _proof(method, url, token) {
    const pair = await this._keyPair(token === undefined);
    if (!pair) return undefined;
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
    const header = { typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } };
    const claims = {
      jti: base64url(crypto.getRandomValues(new Uint8Array(16))),
      htm: method.toUpperCase(),
      htu: new URL(url, location.href).href,
      iat: Math.floor((Date.now() + this._clockSkewMs) / 1000),
    };
    if (token !== undefined) claims.ath = base64url(await crypto.subtle.digest("SHA-256", utf8(token)));
    const input = `${base64url(utf8(JSON.stringify(header)))}.${base64url(utf8(JSON.stringify(claims)))}`;
    const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, utf8(input));
    return `${input}.${base64url(signature)}`; // WebCrypto signs as r || s: what JWS wants
  }

  // --- state ---------------------------------------------------------------------------------

  _stored() {
    try {
      return JSON.parse(localStorage.getItem(this._storageKey)) || {};
    } catch {
      return {};
    }
  }

  _store(state) {
    if (state === null) localStorage.removeItem(this._storageKey);
    else localStorage.setItem(this._storageKey, JSON.stringify(state));
  }

  /** The current id-refresh token, or undefined when there is no session. */
  idRefreshToken() {
    if (this._sameOrigin) return readCookie(ID_COOKIE);
    // Another origin's cookies are invisible here: use the value from the response header.
    const { id, expires } = this._stored();
    return id !== undefined && (!expires || expires > Date.now()) ? id : undefined;
  }

  /** The anti-CSRF token that belongs to the current id-refresh token, if any. */
  antiCsrfToken() {
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
  async _settledAntiCsrfToken() {
    for (let waited = 0; ; waited += 10) {
      const csrf = this.antiCsrfToken();
      const usesCsrf = this._stored().csrf !== undefined;
      if (csrf !== undefined || !usesCsrf || !this.doesSessionExist() || waited >= 1000) return csrf;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** True while the browser holds a session (it may still need a refresh). */
  doesSessionExist() {
    return this.idRefreshToken() !== undefined;
  }

  _absorb(response) {
    const date = Date.parse(response.headers.get("date") || "");
    if (!Number.isNaN(date)) {
      const skew = date - Date.now();
      this._clockSkewMs = Math.abs(skew) > 5000 ? skew : 0; // Date has one-second resolution
    }
    const idHeader = response.headers.get(ID_HEADER);
    const csrf = response.headers.get(ANTI_CSRF_HEADER);
    if (idHeader === null && csrf === null) return;
    const state = this._stored();
    if (idHeader === "remove") {
      this._store(null);
      return;
    }
    if (idHeader !== null) {
      const [id, expires] = idHeader.split(";");
      state.id = id;
      state.expires = Number(expires) || 0;
    }
    if (csrf !== null) {
      state.csrf = csrf;
      state.csrfFor = idHeader !== null ? state.id : this.idRefreshToken();
    }
    this._store(state);
  }

  _emit(event) {
    try {
      this.onEvent(event);
    } catch (error) {
      console.error("sessionward onEvent handler failed", error);
    }
  }

  _url(path) {
    return /^[a-z][a-z0-9+.-]*:/i.test(path) ? path : this.apiBase + (path.startsWith("/") ? path : `/${path}`);
  }

  // --- requests ------------------------------------------------------------------------------

  /**
   * fetch() with the session: adds credentials and the anti-CSRF header; on the
   * session-expired status refreshes once (unless another tab just did) and retries once.
   * Returns the final Response; a session that is over comes back as the expired status.
   */
  async fetch(input, init = {}) {
    const original =
      input instanceof Request ? new Request(input, init) : new Request(this._url(String(input)), init);
    for (let attempt = 0; ; attempt++) {
      const before = this.idRefreshToken();
      const headers = new Headers(original.headers);
      const csrf = await this._settledAntiCsrfToken();
      if (csrf !== undefined) headers.set(ANTI_CSRF_HEADER, csrf);
      if (before === undefined) {
        // No session yet: whatever this request is (a login, typically), offer the key.
        const proof = await this._proof(original.method, original.url);
        if (proof !== undefined) headers.set(PROOF_HEADER, proof);
      }
      const request = new Request(original.clone(), { headers, credentials: "include" });
      const response = await this._fetch(request);
      this._absorb(response);
      if (response.status !== this.sessionExpiredStatus) return response;
      if (attempt > 0 || before === undefined) {
        if (!this.doesSessionExist()) this._emit({ type: "session-expired" });
        return response;
      }
      const outcome = await this._refresh(before);
      if (outcome !== "refreshed" && outcome !== "refreshed-elsewhere") return response;
    }
  }

  /**
   * Call the refresh endpoint now (serialised with every other tab). Resolves to
   * "refreshed", "expired" (the session is over), "theft" (the backend detected token theft),
   * "no-session", or "error" (the backend failed; the session is kept).
   */
  refresh() {
    return this._refresh(undefined);
  }

  _withLock(task) {
    return this._withNamedLock(this._lockName, task);
  }

  _withNamedLock(name, task) {
    if (globalThis.navigator && navigator.locks && navigator.locks.request) {
      return navigator.locks.request(name, { mode: "exclusive" }, task);
    }
    const run = this._queue.then(task, task);
    this._queue = run.catch(() => {});
    return run;
  }

  _refresh(before) {
    return this._withLock(async () => {
      const now = this.idRefreshToken();
      if (now === undefined) {
        this._emit({ type: "session-expired" });
        return "no-session";
      }
      if (before !== undefined && now !== before) return "refreshed-elsewhere";
      const url = this._url(this.refreshPath);
      const headers = new Headers();
      const proof = await this._proof("POST", url, now);
      if (proof !== undefined) headers.set(PROOF_HEADER, proof);
      const response = await this._fetch(url, { method: "POST", credentials: "include", headers });
      this._absorb(response);
      if (response.ok) {
        this.refreshCount += 1;
        this._emit({ type: "refresh", ok: true });
        return "refreshed";
      }
      if (response.status === this.sessionExpiredStatus) {
        let body = {};
        try {
          body = await response.clone().json();
        } catch {
          // not JSON: an unauthorised answer all the same
        }
        this._store(null);
        const theft = body && body.message === THEFT_MESSAGE;
        this._emit({ type: theft ? "token-theft" : "session-expired" });
        return theft ? "theft" : "expired";
      }
      this._emit({ type: "refresh", ok: false, status: response.status });
      return "error";
    });
  }

  /** Log out: POST the sign-out path (the backend revokes the session and clears the cookies). */
  async signOut() {
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
export function createClient(options = {}) {
  return new SessionwardClient(options);
}

export default createClient;
