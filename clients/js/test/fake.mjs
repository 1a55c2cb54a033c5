// Browser globals for Node (location, localStorage, document.cookie) and a fake sessionward
// API that speaks the protocol's headers: enough to test the compiled client without a browser.
export const jar = new Map();

class MemoryStorage {
  #items = new Map();
  getItem(key) {
    return this.#items.has(key) ? this.#items.get(key) : null;
  }
  setItem(key, value) {
    this.#items.set(key, String(value));
  }
  removeItem(key) {
    this.#items.delete(key);
  }
  clear() {
    this.#items.clear();
  }
}

globalThis.location = new URL("http://app.test/page");
globalThis.localStorage = new MemoryStorage();
globalThis.document = {
  get cookie() {
    return [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  },
};

export function resetBrowser() {
  jar.clear();
  localStorage.clear();
}

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A fake API on `origin`: /login, /me, /like, /refresh, /logout; `mode`: cookie or header. */
export function fakeServer({ origin = "http://app.test", protocol = "1", front = true } = {}) {
  const server = {
    calls: [], // [method, path, status]
    requests: [], // the Request objects as received
    generation: 0,
    current: null, // { access, refresh, id, csrf, mode, user }
    accessExpired: false,
    theftAtNextRefresh: false,
    holdRefresh: null, // a Promise the refresh waits for
    payload: { role: "tester" },
    async fetch(input, init) {
      const request = input instanceof Request ? input : new Request(input, init);
      server.requests.push(request);
      const url = new URL(request.url);
      const response = await server.answer(request, url);
      server.calls.push([request.method, url.pathname, response.status]);
      return response;
    },
    issue(headers, user, mode) {
      const n = ++server.generation;
      const tokens = { access: `access-${n}`, refresh: `refresh-${n}`, id: `id-${n}`, csrf: `csrf-${n}`, mode, user };
      server.current = tokens;
      server.accessExpired = false;
      if (protocol !== null) headers.set("sessionward-protocol", protocol);
      if (front) headers.set("front-token", b64({ uid: user, ate: Date.now() + 3_600_000, up: server.payload, tId: "public" }));
      if (mode === "header") {
        headers.set("st-access-token", tokens.access);
        headers.set("st-refresh-token", tokens.refresh);
      } else {
        if (new URL(origin).origin === location.origin) jar.set("sIdRefreshToken", tokens.id);
        headers.set("id-refresh-token", `${tokens.id};${Date.now() + 86_400_000}`);
        headers.set("anti-csrf", tokens.csrf);
      }
    },
    clear(headers, mode) {
      server.current = null;
      jar.delete("sIdRefreshToken");
      if (protocol !== null) headers.set("sessionward-protocol", protocol);
      headers.set("front-token", "remove");
      if (mode === "header") {
        headers.set("st-access-token", "remove");
        headers.set("st-refresh-token", "remove");
      } else headers.set("id-refresh-token", "remove");
    },
    async answer(request, url) {
      const headers = new Headers({ "content-type": "application/json" });
      const mode = request.headers.get("st-auth-mode") === "header" ? "header" : "cookie";
      const json = (status, body) => new Response(JSON.stringify(body), { status, headers });
      const bearer = (request.headers.get("authorization") || "").replace(/^Bearer /, "");
      const session = server.current;
      if (url.pathname === "/login") {
        const { userId } = await request.json();
        server.issue(headers, userId, mode);
        return json(200, { userId });
      }
      if (url.pathname === "/refresh") {
        if (server.holdRefresh) await server.holdRefresh;
        const presented = mode === "header" ? bearer : jar.get("sIdRefreshToken");
        if (!session || presented !== (mode === "header" ? session.refresh : session.id)) {
          server.clear(headers, mode);
          return json(440, { message: "unauthorised" });
        }
        if (server.theftAtNextRefresh) {
          server.clear(headers, mode);
          return json(440, { message: "token theft detected" });
        }
        server.issue(headers, session.user, mode);
        return json(200, { status: "OK" });
      }
      // a protected route
      if (!session) return json(440, { message: "unauthorised" });
      if (mode === "header" ? bearer !== session.access : false) return json(440, { message: "try refresh token" });
      if (mode === "cookie" && request.method !== "GET" && request.headers.get("anti-csrf") !== session.csrf) {
        return json(440, { message: "try refresh token", reason: "anti_csrf_missing" });
      }
      if (server.accessExpired) return json(440, { message: "try refresh token" });
      if (url.pathname === "/logout") {
        server.clear(headers, mode);
        return json(200, { status: "OK" });
      }
      const body = request.method === "GET" ? null : await request.text();
      return json(200, { userId: session.user, path: url.pathname, body });
    },
  };
  return server;
}
