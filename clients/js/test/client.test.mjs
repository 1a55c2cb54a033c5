// Unit tests of the compiled client (dist/index.js) under Node's test runner: `npm test`.
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import axios from "axios";

import { fakeServer, jar, resetBrowser } from "./fake.mjs";

const { addAxiosInterceptors, createClient, PROTOCOL_VERSION } = await import("../dist/index.js");

function setUp(options = {}, serverOptions = {}) {
  const server = fakeServer(serverOptions);
  const events = [];
  const client = createClient({ fetch: server.fetch, onEvent: (e) => events.push(e), ...options });
  const named = [];
  for (const name of ["refreshed", "refreshFailed", "sessionExpired", "theftDetected", "signedOut"]) {
    client.on(name, (event) => named.push(event.type));
  }
  return { server, client, events, named };
}

const login = (client, user = "alice") =>
  client.fetch("/login", {
    method: "POST",
    body: JSON.stringify({ userId: user }),
    headers: { "content-type": "application/json" },
  });

describe("cookie mode", () => {
  beforeEach(resetBrowser);

  it("logs in, sends the anti-CSRF header, refreshes once on expiry and retries", async () => {
    const { server, client, events, named } = setUp();
    assert.equal(client.doesSessionExist(), false);
    assert.equal((await login(client)).status, 200);
    assert.equal(client.doesSessionExist(), true);
    assert.equal((await client.fetch("/like", { method: "POST", body: "x" })).status, 200);
    assert.equal(server.requests.at(-1).headers.get("anti-csrf"), "csrf-1");

    server.accessExpired = true;
    const response = await client.fetch("/like", { method: "POST", body: "again" });
    assert.equal(response.status, 200);
    assert.equal((await response.json()).body, "again"); // the body is sent again on the retry
    assert.deepEqual(server.calls.slice(-3), [
      ["POST", "/like", 440],
      ["POST", "/refresh", 200],
      ["POST", "/like", 200],
    ]);
    assert.equal(server.requests.at(-1).headers.get("anti-csrf"), "csrf-2"); // the new one
    assert.equal(client.refreshCount, 1);
    assert.deepEqual(events, [{ type: "refresh", ok: true }]);
    assert.deepEqual(named, ["refreshed"]);
    assert.equal(client.serverProtocol, PROTOCOL_VERSION);
  });

  it("shares one refresh between concurrent requests", async () => {
    const { server, client } = setUp();
    await login(client);
    server.accessExpired = true;
    let release;
    server.holdRefresh = new Promise((resolve) => (release = resolve));
    const pending = [client.fetch("/me"), client.fetch("/me"), client.fetch("/like", { method: "POST" })];
    await new Promise((resolve) => setTimeout(resolve, 30));
    server.holdRefresh = null;
    release();
    const statuses = (await Promise.all(pending)).map((r) => r.status);
    assert.deepEqual(statuses, [200, 200, 200]);
    assert.equal(server.calls.filter(([, path]) => path === "/refresh").length, 1);
    assert.equal(client.refreshCount, 1);
  });

  it("does not refresh without a session, and says the session expired", async () => {
    const { server, client, named } = setUp();
    assert.equal((await client.fetch("/me")).status, 440);
    assert.equal(server.calls.filter(([, path]) => path === "/refresh").length, 0);
    assert.deepEqual(named, ["sessionExpired"]);
  });

  it("reports theft and ends the session", async () => {
    const { server, client, events, named } = setUp();
    await login(client);
    server.accessExpired = true;
    server.theftAtNextRefresh = true;
    assert.equal((await client.fetch("/me")).status, 440);
    assert.deepEqual(events, [{ type: "token-theft" }]);
    assert.deepEqual(named, ["theftDetected"]);
    assert.equal(client.doesSessionExist(), false);
    assert.equal(await client.refresh(), "no-session");
  });

  it("signs out", async () => {
    const { server, client, named } = setUp();
    await login(client);
    assert.equal(await client.signOut(), true);
    assert.deepEqual(server.calls.at(-1), ["POST", "/logout", 200]);
    assert.equal(client.doesSessionExist(), false);
    assert.deepEqual(named, ["signedOut"]);
    assert.equal(await client.getUserId(), undefined);
  });

  it("reads the user id and payload from the front token, refreshing first when it expired", async () => {
    const { server, client } = setUp();
    await login(client, "carol");
    const calls = server.calls.length;
    assert.equal(await client.getUserId(), "carol");
    assert.deepEqual(await client.getAccessTokenPayload(), { role: "tester" });
    assert.equal(server.calls.length, calls); // no request
    assert.equal(client.snapshot().userId, "carol");

    // An access token past its expiry: the payload may be stale, so refresh first.
    const stored = JSON.parse(localStorage.getItem("sessionward:http://app.test"));
    stored.front = Buffer.from(JSON.stringify({ uid: "carol", ate: Date.now() - 1000, up: {} })).toString("base64url");
    localStorage.setItem("sessionward:http://app.test", JSON.stringify(stored));
    server.payload = { role: "admin" };
    assert.deepEqual(await client.getAccessTokenPayload(), { role: "admin" });
    assert.deepEqual(server.calls.at(-1), ["POST", "/refresh", 200]);
  });

  it("tells listeners of every change of the stored tokens", async () => {
    const { client } = setUp();
    let changes = 0;
    const stop = client.on("changed", () => changes++);
    await login(client);
    assert.equal(changes, 1);
    await client.signOut();
    assert.equal(changes, 2);
    stop();
    await login(client);
    assert.equal(changes, 2);
  });
});

describe("header mode", () => {
  beforeEach(resetBrowser);

  it("sends Bearer tokens to an API on another origin and refreshes with the refresh token", async () => {
    const options = { tokenTransfer: "header", apiBase: "https://api.other.test" };
    const { server, client } = setUp(options, { origin: "https://api.other.test" });
    await login(client, "dave");
    const first = server.requests.at(-1);
    assert.equal(first.url, "https://api.other.test/login");
    assert.equal(first.headers.get("st-auth-mode"), "header");
    assert.equal(first.headers.get("authorization"), null);
    assert.equal(jar.size, 0); // no cookie at all
    assert.equal(client.doesSessionExist(), true);
    assert.equal((await client.fetch("/me")).status, 200);
    assert.equal(server.requests.at(-1).headers.get("authorization"), "Bearer access-1");
    assert.equal(server.requests.at(-1).headers.get("anti-csrf"), null);

    server.accessExpired = true;
    assert.equal((await client.fetch("/me")).status, 200);
    const refresh = server.requests.find((r) => new URL(r.url).pathname === "/refresh");
    assert.equal(refresh.headers.get("authorization"), "Bearer refresh-1");
    assert.equal(server.requests.at(-1).headers.get("authorization"), "Bearer access-2");
    assert.equal(await client.getUserId(), "dave");

    await client.signOut();
    assert.equal(client.doesSessionExist(), false);
  });

  it("reads the access token's claims when the server sends no front token", async () => {
    const { server, client } = setUp({ tokenTransfer: "header" }, { front: false });
    server.issue = ((issue) => (headers, user, mode) => {
      issue(headers, user, mode);
      const claims = Buffer.from(JSON.stringify({ sub: user, pld: { a: 1 }, exp: 4_000_000_000 })).toString("base64url");
      headers.set("st-access-token", `e30.${claims}.sig`);
      server.current.access = `e30.${claims}.sig`;
    })(server.issue);
    await login(client, "erin");
    assert.equal(await client.getUserId(), "erin");
    assert.deepEqual(await client.getAccessTokenPayload(), { a: 1 });
  });
});

describe("protocol check", () => {
  beforeEach(resetBrowser);

  it("warns once when the server states another protocol", async (t) => {
    const warn = t.mock.method(console, "warn", () => {});
    const { client } = setUp({}, { protocol: "2" });
    await login(client);
    await login(client);
    assert.equal(warn.mock.callCount(), 1);
    assert.match(warn.mock.calls[0].arguments[0], /server states protocol 2/);
    assert.equal(client.serverProtocol, 2);
  });

  it("warns when token responses state no protocol (an older server, or CORS hides it)", async (t) => {
    const warn = t.mock.method(console, "warn", () => {});
    const { client } = setUp({}, { protocol: null });
    await login(client);
    assert.equal(warn.mock.callCount(), 1);
    assert.match(warn.mock.calls[0].arguments[0], /state no protocol/);
  });

  it("stays quiet with a matching server", async (t) => {
    const warn = t.mock.method(console, "warn", () => {});
    const { client } = setUp();
    await login(client);
    assert.equal(warn.mock.callCount(), 0);
  });
});

describe("axios", () => {
  beforeEach(resetBrowser);

  function axiosOver(server, options = {}) {
    const adapter = async (config) => {
      const url = axios.getUri(config);
      const method = (config.method || "get").toUpperCase();
      const headers = {};
      for (const [name, value] of Object.entries(config.headers.toJSON())) headers[name] = String(value);
      const body = config.data === undefined || method === "GET" ? undefined : config.data;
      const response = await server.fetch(new URL(url, location.href).href, { method, headers, body });
      const text = await response.text();
      const reply = {
        data: text ? JSON.parse(text) : null,
        status: response.status,
        statusText: "",
        headers: axios.AxiosHeaders.from(Object.fromEntries(response.headers)),
        config,
        request: {},
      };
      if (config.validateStatus(response.status)) return reply;
      throw new axios.AxiosError("status " + response.status, "ERR_BAD_RESPONSE", config, {}, reply);
    };
    return axios.create({ adapter, ...options });
  }

  it("adds the session, refreshes once on expiry and retries, sharing the client's state", async () => {
    const { server, client, named } = setUp();
    const api = axiosOver(server);
    const eject = addAxiosInterceptors(api, client);
    assert.equal((await api.post("/login", { userId: "frank" })).status, 200);
    assert.equal(client.doesSessionExist(), true);
    assert.equal((await api.post("/like", { n: 1 })).data.userId, "frank");
    assert.equal(server.requests.at(-1).headers.get("anti-csrf"), "csrf-1");

    server.accessExpired = true;
    const reply = await api.post("/like", { n: 2 });
    assert.equal(reply.status, 200);
    assert.equal(reply.data.body, JSON.stringify({ n: 2 }));
    assert.deepEqual(server.calls.slice(-3), [
      ["POST", "/like", 440],
      ["POST", "/refresh", 200],
      ["POST", "/like", 200],
    ]);
    assert.deepEqual(named, ["refreshed"]);
    // fetch and axios share one session: fetch uses what axios's refresh brought.
    assert.equal((await client.fetch("/like", { method: "POST" })).status, 200);
    assert.equal(server.requests.at(-1).headers.get("anti-csrf"), "csrf-2");

    server.accessExpired = true;
    server.theftAtNextRefresh = true;
    await assert.rejects(api.get("/me"), (error) => error.response.status === 440);
    assert.deepEqual(named, ["refreshed", "theftDetected"]);
    assert.equal(client.doesSessionExist(), false);
    eject();
  });

  it("retries once only, and not at all without a session", async () => {
    const { server, client } = setUp();
    const api = axiosOver(server);
    addAxiosInterceptors(api, client);
    await assert.rejects(api.get("/me"), (error) => error.response.status === 440);
    assert.equal(server.calls.filter(([, path]) => path === "/refresh").length, 0);
    await api.post("/login", { userId: "gina" });
    server.accessExpired = true;
    // The refresh succeeds but the server keeps answering expired: one retry, then the 440.
    const originalIssue = server.issue;
    server.issue = (headers, user, mode) => {
      originalIssue(headers, user, mode);
      server.accessExpired = true;
    };
    await assert.rejects(api.get("/me"), (error) => error.response.status === 440);
    assert.equal(server.calls.filter(([, path]) => path === "/refresh").length, 1);
    assert.equal(server.calls.filter(([, path]) => path === "/me").length, 3); // first try, then 1 + 1
  });

  it("uses Bearer tokens in header mode", async () => {
    const { server, client } = setUp({ tokenTransfer: "header" });
    const api = axiosOver(server);
    addAxiosInterceptors(api, client);
    await api.post("/login", { userId: "hal" });
    await api.get("/me");
    assert.equal(server.requests.at(-1).headers.get("authorization"), "Bearer access-1");
    server.accessExpired = true;
    await api.get("/me");
    assert.equal(server.requests.at(-1).headers.get("authorization"), "Bearer access-2");
  });
});

