// Measures the original (npm supertokens-node-mysql-ref-jwt@5.0.4) the same way run.py measures
// sessionward: same operations, same MariaDB, median of repetitions. Prints one JSON object.
//
// Usage (run.py does this): ORIG_MODULE=/tmp/orig-bench/node_modules/supertokens-node-mysql-ref-jwt \
//   node original.js '{"blacklisting":false,"seconds":1,"reps":5,"database":"...","ops":[...]}'
"use strict";

const opts = JSON.parse(process.argv[2] || "{}");
const lib = require(process.env.ORIG_MODULE);

const seconds = opts.seconds || 1;
const reps = opts.reps || 5;
const inflight = opts.inflight || 32;

function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const now = () => Number(process.hrtime.bigint()) / 1e9;
const sleep = ms => new Promise(r => setTimeout(r, ms));

// A CPU-bound async op, run back to back: calibrate n so one repetition lasts `seconds`.
async function loop(fn) {
    let n = 1;
    let dt = 0;
    for (;;) {
        const t = now();
        for (let i = 0; i < n; i++) await fn();
        dt = now() - t;
        if (dt > seconds / 5) break;
        n *= 4;
    }
    n = Math.max(1, Math.round((n * seconds) / dt));
    const rates = [];
    for (let r = 0; r < reps; r++) {
        const t = now();
        for (let i = 0; i < n; i++) await fn();
        rates.push(n / (now() - t));
    }
    return rates;
}

// k workers each repeating their own op; the rate is sampled over `seconds` per repetition.
async function workers(k, makeWorker) {
    const fns = [];
    for (let i = 0; i < k; i++) fns.push(await makeWorker(i));
    let stop = false;
    let count = 0;
    const running = fns.map(async fn => {
        while (!stop) {
            await fn();
            count++;
        }
    });
    await sleep(Math.min(300, seconds * 300));
    const rates = [];
    for (let r = 0; r < reps; r++) {
        const c0 = count;
        const t = now();
        await sleep(seconds * 1000);
        rates.push((count - c0) / (now() - t));
    }
    stop = true;
    await Promise.all(running);
    return rates;
}

async function rotationWorker(i) {
    const s = await lib.createNewSession("orig-rot-" + i, { role: "user" }, { n: i });
    let rt = s.refreshToken.value;
    return async () => {
        const r = await lib.refreshSession(rt);
        const g = await lib.getSession(r.newAccessToken.value, r.newAntiCsrfToken);
        if (g.newAccessToken === undefined) throw new Error("the first verify did not promote");
        rt = r.newRefreshToken.value;
    };
}

async function main() {
    await lib.init({
        mysql: {
            host: opts.host || "127.0.0.1",
            port: opts.port || 3306,
            user: opts.user || "root",
            password: opts.password || "",
            database: opts.database,
        },
        tokens: {
            accessToken: { blacklisting: !!opts.blacklisting },
            refreshToken: { renewTokenPath: "/session/refresh" },
        },
        cookie: { domain: "localhost", secure: false },
    });
    const out = {};
    const ops = opts.ops || ["verify", "create", "rotation_seq", "rotation_c32"];
    const s = await lib.createNewSession("orig-verify", { role: "user" }, { n: 0 });
    const at = s.accessToken.value;
    const csrf = s.antiCsrfToken;
    for (const op of ops) {
        let rates;
        if (op === "verify") {
            rates = opts.blacklisting
                ? await workers(1, async () => () => lib.getSession(at, csrf))
                : await loop(() => lib.getSession(at, csrf));
        } else if (op === "create") {
            let i = 0;
            rates = await workers(1, async () => () => lib.createNewSession("orig-c-" + i++, { role: "user" }, { n: i }));
        } else if (op === "rotation_seq") {
            rates = await workers(1, rotationWorker);
        } else if (op === "rotation_c32") {
            rates = await workers(inflight, rotationWorker);
        } else {
            throw new Error("unknown op " + op);
        }
        out[op] = { median: median(rates), rates };
    }
    process.stdout.write(JSON.stringify({ node: process.version, results: out }) + "\n");
    process.exit(0); // the library's purge cron job would keep the process alive
}

main().catch(err => {
    process.stderr.write(String((err && err.stack) || err) + "\n");
    process.exit(1);
});
