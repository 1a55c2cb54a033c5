// The test app: sessionward-client as an npm dependency, bundled by Vite, with React.
// The query string chooses the set-up: ?mode=header&api=<origin> (header mode, an API on
// another origin) or the default cookie mode on this origin; ?pop=0 turns proof of possession off.
import axios from "axios";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { addAxiosInterceptors, createClient } from "sessionward-client";
import type { SessionEventName, TokenTransfer } from "sessionward-client";

import { App } from "./App";

const params = new URLSearchParams(location.search);
const tokenTransfer: TokenTransfer = params.get("mode") === "header" ? "header" : "cookie";
const apiBase = params.get("api") ?? location.origin;

const client = createClient({
  apiBase,
  refreshPath: "/refresh",
  tokenTransfer,
  proofOfPossession: params.get("pop") !== "0",
});
const api = axios.create({ baseURL: apiBase });
addAxiosInterceptors(api, client);

const events: SessionEventName[] = [];
for (const name of ["refreshed", "sessionExpired", "theftDetected", "signedOut"] as const) {
  client.on(name, () => events.push(name));
}

declare global {
  interface Window {
    app: { client: typeof client; api: typeof api; events: SessionEventName[]; renders: number };
  }
}
window.app = { client, api, events, renders: 0 };

const root = document.getElementById("root");
if (root === null) throw new Error("no #root");
createRoot(root).render(
  <StrictMode>
    <App client={client} api={api} />
  </StrictMode>,
);
