// The demo page: every call goes through the sessionward browser client, and every request that
// reaches the network is listed in "What went over the wire", so refreshes can be watched.
import { createClient } from "/sessionward.js";

const $ = (id) => document.getElementById(id);
const settings = await (await fetch("/demo/settings")).json();
const validityMs = settings.accessTokenValidity * 1000;
let accessExpiresAt = null; // estimated: the access-token cookie is HttpOnly
let attackerId = null;
let autoTimer = null;

// --- the wire log ----------------------------------------------------------------------------

// The body says what the status alone cannot: theft, or which anti-CSRF failure.
async function bodyOf(response) {
  try {
    return await response.clone().json();
  } catch {
    return null;
  }
}

async function explain(path, response) {
  const status = response.status;
  const expired = status === settings.sessionExpiredStatus;
  if (path === settings.refreshPath) {
    if (status === 200) return "refresh token rotated: new access, refresh and anti-CSRF tokens";
    if (expired) {
      const body = await bodyOf(response);
      return body && body.message === "token theft detected"
        ? "token theft detected: the session is revoked"
        : "refresh refused: the session is over";
    }
  }
  if (path === "/demo/attacker/refresh" && status === 200) {
    const body = await bodyOf(response);
    if (body && body.outcome === "theft") return "token theft detected: the session is revoked";
  }
  if (expired) {
    const body = await bodyOf(response);
    if (body && body.message === "unauthorised") return "no session: log in again";
    if (body && body.reason === "anti_csrf_missing") return "no anti-CSRF header: refresh, then retry";
    if (body && body.reason === "anti_csrf_mismatch") return "wrong anti-CSRF token: refresh, then retry";
    return "access token expired or missing: refresh, then retry";
  }
  return "";
}

function logLine(text, cls) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  if (cls) li.className = cls;
  $("log").prepend(li);
  while ($("log").children.length > 200) $("log").lastChild.remove();
}

async function loggingFetch(input, init) {
  const method = (input instanceof Request ? input.method : init?.method) || "GET";
  const path = new URL(input instanceof Request ? input.url : String(input), location.href).pathname;
  try {
    const response = await fetch(input, init);
    const note = await explain(path, response);
    const cls = response.ok ? "s2xx" : response.status === settings.sessionExpiredStatus ? "s440" : "bad";
    logLine(`${method} ${path} → ${response.status}${note ? `  (${note})` : ""}`, cls);
    return response;
  } catch (error) {
    logLine(`${method} ${path} → network error`, "bad");
    throw error;
  }
}

// --- the client ------------------------------------------------------------------------------

const client = createClient({
  refreshPath: settings.refreshPath,
  sessionExpiredStatus: settings.sessionExpiredStatus,
  fetch: loggingFetch,
  onEvent(event) {
    if (event.type === "refresh" && event.ok) {
      accessExpiresAt = Date.now() + validityMs;
      $("refresh-count").textContent = String(client.refreshCount);
    } else if (event.type === "token-theft") {
      showLoggedOut("logged out: the backend detected token theft and revoked the session");
    } else if (event.type === "session-expired") {
      showLoggedOut("logged out: the session is over");
    }
  },
});

async function call(path, init = {}) {
  const response = await client.fetch(path, init);
  let body = null;
  try {
    body = await response.json();
  } catch {
    // an empty or non-JSON body
  }
  if (response.status === settings.sessionExpiredStatus && !client.doesSessionExist()) {
    showLoggedOut(body && body.message === "token theft detected"
      ? "logged out: the backend detected token theft and revoked the session"
      : "logged out: the session is over");
  }
  return { status: response.status, body };
}

const jsonInit = (method, value) => ({
  method,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(value),
});

// --- the views -------------------------------------------------------------------------------

function setStatus(text, loggedIn) {
  $("status").textContent = text;
  $("status").className = `status ${loggedIn ? "in" : "out"}`;
}

// The theft demonstration needs a session of mine: its first step and my refresh wait for one.
function setSessionButtons(loggedIn) {
  for (const id of ["attacker-copy", "victim-refresh"]) {
    $(id).disabled = !loggedIn;
    $(id).title = loggedIn ? "" : "log in first";
  }
}

function showLoggedOut(reason) {
  setStatus(reason || "not logged in", false);
  setSessionButtons(false);
  $("login-panel").hidden = false;
  $("session-panel").hidden = true;
  accessExpiresAt = null;
  setAuto(false);
}

async function loadSession() {
  if (!client.doesSessionExist()) return showLoggedOut();
  const me = await call("/me");
  if (me.status !== 200) return showLoggedOut(me.status === settings.sessionExpiredStatus ? undefined : `error ${me.status}`);
  $("user-id").textContent = me.body.userId;
  $("tenant-id").textContent = me.body.tenantId;
  const actor = me.body.impersonatedBy;
  $("impersonation-banner").hidden = !actor;
  $("impersonation-banner").textContent = actor ? `${actor} is acting as ${me.body.userId} (support session)` : "";
  $("session-handle").textContent = me.body.sessionHandle;
  $("jwt-payload").textContent = JSON.stringify(me.body.jwtPayload, null, 2);
  setStatus(`logged in as ${me.body.userId}`, true);
  setSessionButtons(true);
  $("login-panel").hidden = true;
  $("session-panel").hidden = false;
  const data = await call("/session-data");
  if (data.status === 200) $("session-data").value = JSON.stringify(data.body.data);
  await refreshPanels();
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

const when = (ms) => (ms ? new Date(ms).toLocaleString() : "-");

async function loadSessions() {
  const result = await call("/devices");
  const body = $("sessions-body");
  body.replaceChildren();
  if (result.status !== 200) return;
  for (const d of result.body.devices) {
    const row = document.createElement("tr");
    row.dataset.handle = d.sessionHandle;
    if (d.current) row.className = "current";
    const device = d.device || "unknown device";
    cell(row, d.impersonatedBy ? `${device} (support: ${d.impersonatedBy})` : device).title = d.userAgent || "";
    cell(row, d.clientIp || "-", "mono");
    cell(row, when(d.createdAt));
    cell(row, when(d.lastActiveAt));
    cell(row, d.current ? "this device" : "", "marker");
    const button = document.createElement("button");
    button.className = "danger revoke";
    button.dataset.handle = d.sessionHandle;
    button.textContent = d.current ? "Sign out this device" : "Sign out";
    button.addEventListener("click", () => revoke(d.sessionHandle));
    row.append(document.createElement("td"));
    row.lastChild.append(button);
    body.append(row);
  }
}

function describe(event) {
  const where = [event.device, event.clientIp].filter(Boolean).join(", ");
  const handle = event.sessionHandle.slice(0, 8);
  const text = {
    created: `session ${handle}… created`,
    refreshed: `session ${handle}… refreshed${event.repeated ? " (the same tokens again)" : ""}`,
    revoked: `session ${handle}… revoked: ${event.reason}`,
    theft: `token theft on session ${handle}…: ${event.reason}`,
  }[event.type] || event.type;
  return where ? `${text} (${where})` : text;
}

async function loadEvents() {
  const result = await call("/demo/events");
  if (result.status !== 200) return;
  const list = $("events");
  list.replaceChildren();
  for (const event of result.body.events) {
    const li = document.createElement("li");
    li.dataset.type = event.type;
    if (event.reason) li.dataset.reason = event.reason;
    li.className = event.type === "theft" ? "bad" : event.type === "revoked" ? "s440" : "";
    li.textContent = `${new Date(event.at).toLocaleTimeString()}  ${describe(event)}`;
    list.append(li);
  }
}

// --- actions ---------------------------------------------------------------------------------

async function login(userId, bind = $("bind-key").checked, rememberMe = $("remember-me").checked) {
  client.proofOfPossession = bind;
  const result = await call("/login", jsonInit("POST", { userId, rememberMe }));
  if (result.status !== 200) {
    setStatus(`login failed: ${result.body ? result.body.message : result.status}`, false);
    return result;
  }
  accessExpiresAt = Date.now() + validityMs;
  await loadSession();
  return result;
}

async function callApi() {
  const result = await call("/like", { method: "POST" });
  $("api-result").textContent = `${result.status} ${JSON.stringify(result.body)}`;
  return result;
}

async function saveData() {
  let value;
  try {
    value = JSON.parse($("session-data").value);
  } catch {
    $("data-result").textContent = "not JSON";
    return null;
  }
  const result = await call("/session-data", jsonInit("PUT", value));
  $("data-result").textContent = result.status === 200 ? "saved" : `error ${result.status}`;
  return result;
}

async function revoke(handle) {
  const result = await call("/devices/revoke", jsonInit("POST", { sessionHandle: handle }));
  if (result.status === 200 && result.body.current) showLoggedOut("logged out: you signed out this device");
  else await refreshPanels();
  return result;
}

async function revokeOthers() {
  const result = await call("/devices/revoke-others", { method: "POST" });
  await refreshPanels();
  return result;
}

async function refreshPanels() {
  if (!client.doesSessionExist() || $("session-panel").hidden) return;
  await loadSessions();
  await loadEvents();
}

async function revokeAll() {
  const result = await call("/revoke-all", { method: "POST" });
  if (result.status === 200) showLoggedOut(`logged out: revoked ${result.body.revoked} session(s)`);
  return result;
}

async function logout() {
  await client.signOut();
  showLoggedOut("logged out");
}

async function attackerCopy() {
  const response = await loggingFetch(settings.attackerCopyPath, { method: "POST", credentials: "include" });
  const body = await response.json();
  if (response.status !== 200) {
    $("theft-status").textContent = body.message;
    return body;
  }
  attackerId = body.attackerId;
  $("attacker-use").disabled = false;
  $("attacker-again").disabled = false;
  $("theft-status").className = "";
  $("theft-status").textContent = `the attacker holds a copy of refresh token #${body.fingerprint}`;
  return body;
}

async function attackerUse() {
  const response = await loggingFetch("/demo/attacker/refresh", jsonInit("POST", { attackerId }));
  const body = await response.json();
  $("theft-status").textContent = body.message;
  $("theft-status").className = body.outcome === "theft" ? "theft" : "";
  return body;
}

async function victimRefresh() {
  if (!client.doesSessionExist()) {
    $("theft-status").textContent = "log in first";
    return "no-session";
  }
  const outcome = await client.refresh();
  if (outcome === "theft") {
    $("theft-status").textContent =
      "token theft detected on my refresh: my refresh token had been rotated by somebody else. " +
      "The session is revoked; the attacker is out too.";
    $("theft-status").className = "theft";
  } else if (outcome === "refreshed") {
    $("theft-status").textContent = "my refresh worked: my token was still the current one";
  } else {
    $("theft-status").textContent = `refresh: ${outcome}`;
  }
  return outcome;
}

function setAuto(on) {
  $("auto-call").checked = on;
  clearInterval(autoTimer);
  autoTimer = on ? setInterval(callApi, 2000) : null;
}

function tick() {
  if (accessExpiresAt === null) {
    $("token-clock").textContent = "unknown until the next login or refresh";
    return;
  }
  const left = Math.ceil((accessExpiresAt - Date.now()) / 1000);
  $("token-clock").textContent =
    left > 0 ? `expires in about ${left} s` : "expired: the next call refreshes it transparently";
}

// --- wiring ----------------------------------------------------------------------------------

$("validity").textContent = String(settings.accessTokenValidity);
$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  login($("user-id-input").value.trim(), $("bind-key").checked, $("remember-me").checked);
});
$("call-api").addEventListener("click", callApi);
$("auto-call").addEventListener("change", (e) => setAuto(e.target.checked));
$("logout").addEventListener("click", logout);
$("save-data").addEventListener("click", saveData);
$("reload-sessions").addEventListener("click", refreshPanels);
$("revoke-others").addEventListener("click", revokeOthers);
$("revoke-all").addEventListener("click", revokeAll);
$("attacker-copy").addEventListener("click", attackerCopy);
$("attacker-use").addEventListener("click", attackerUse);
$("attacker-again").addEventListener("click", attackerUse);
$("victim-refresh").addEventListener("click", victimRefresh);
setInterval(tick, 250);
window.addEventListener("storage", () => {
  // Another tab logged in, refreshed or out: follow it.
  if (client.doesSessionExist() === $("session-panel").hidden) loadSession();
});

window.demo = { client, settings, login, callApi, saveData, loadSession, loadSessions, loadEvents,
  refreshPanels, revoke, revokeOthers, revokeAll, logout, attackerCopy, attackerUse, victimRefresh };
await loadSession();
document.body.dataset.ready = "true";
