import type { AxiosInstance } from "axios";
import { useState } from "react";
import type { SessionwardClient } from "sessionward-client";
import { useSession } from "sessionward-client/react";

interface Props {
  client: SessionwardClient;
  api: AxiosInstance;
}

export function App({ client, api }: Props) {
  const session = useSession(client);
  const [user, setUser] = useState("alice");
  const [result, setResultState] = useState({ text: "", seq: 0 });
  const setResult = (text: string) => setResultState((last) => ({ text, seq: last.seq + 1 }));
  window.app.renders += 1;

  async function logIn() {
    const response = await client.fetch("/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: user }),
    });
    setResult(`login ${response.status}`);
  }

  async function likeWithFetch() {
    const response = await client.fetch("/like", { method: "POST" });
    setResult(`fetch ${response.status} ${await response.text()}`);
  }

  async function likeWithAxios() {
    try {
      const response = await api.post("/like");
      setResult(`axios ${response.status} ${JSON.stringify(response.data)}`);
    } catch (error) {
      const status = (error as { response?: { status?: number } }).response?.status;
      setResult(`axios ${status ?? "failed"}`);
    }
  }

  return (
    <main>
      <h1>sessionward-client</h1>
      <p id="status" data-status={session.status}>
        {session.status}
      </p>
      <p id="user">{session.userId ?? ""}</p>
      <pre id="payload">{session.accessTokenPayload ? JSON.stringify(session.accessTokenPayload) : ""}</pre>
      <p id="end-reason">{session.status === "signedOut" ? (session.endReason ?? "") : ""}</p>
      {session.status === "signedOut" && (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void logIn();
          }}
        >
          <input id="user-input" value={user} onChange={(event) => setUser(event.target.value)} />
          <button id="login">Log in</button>
        </form>
      )}
      {session.status === "signedIn" && (
        <div>
          <button id="like-fetch" onClick={() => void likeWithFetch()}>
            Like (fetch)
          </button>
          <button id="like-axios" onClick={() => void likeWithAxios()}>
            Like (axios)
          </button>
          <button id="sign-out" onClick={() => void client.signOut()}>
            Sign out
          </button>
        </div>
      )}
      <p id="result" data-seq={result.seq}>
        {result.text}
      </p>
    </main>
  );
}
