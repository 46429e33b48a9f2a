// npm run bench:replay: 10,000 recorded GETs (one identity, so sent one after another
// as replay keeps per-identity order) replayed against a local HTTPS server, against
// the same requests sent directly with undici, sequentially, with no rewriting and no
// recording. One run each, reported as requests/s and their ratio.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { CaptureWriter } from "../dist/recorder/writer.js";
import { runReplay } from "../dist/replay/index.js";
import { fmt, startChild, stop } from "./lib.mjs";

const N = Number(process.env.BENCH_REQUESTS ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), "graphtap-bench-replay-"));
const caFile = join(dir, "upstream-ca.pem");
const up = await startChild(["bench/upstream.mjs", caFile], /listening (\d+)/);
const port = Number(up.match[1]);

// A token-shaped JWT (claims only matter for the identity key).
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const claims = { aud: "https://graph.microsoft.com", tid: "11111111-1111-4111-8111-111111111111", oid: "22222222-2222-4222-8222-222222222222", upn: "bench@contoso.onmicrosoft.com", scp: "User.Read", iat: now, exp: now + 3600 };
const token = `${b64({ alg: "none" })}.${b64(claims)}.sig`;
const prodGroup = "33333333-3333-4333-8333-333333333333";

const src = join(dir, "recorded.sqlite");
const writer = CaptureWriter.open(src);
const session = writer.startSession({ kind: "proxy" });
const t = Date.now() - N;
for (let i = 0; i < N; i++) {
  writer.write({
    id: `BENCH${String(i).padStart(21, "0")}`,
    sessionId: session,
    startedAt: t + i,
    durationMs: 1,
    method: "GET",
    url: `https://graph.microsoft.com/v1.0/groups/${prodGroup}/members?$top=${i % 50}`,
    httpVersion: "1.1",
    requestHeaders: [["accept", "application/json"], ["authorization", "Bearer 0123456789abcdef"]],
    status: 200,
    responseHeaders: [["content-type", "application/json"]],
    token: { hash: "0123456789abcdef", claims },
  });
}
writer.close();

const mapFile = join(dir, "map.json");
(await import("node:fs")).writeFileSync(mapFile, JSON.stringify({ replace: { [prodGroup]: "44444444-4444-4444-8444-444444444444" } }));

// Direct: the same URLs, sequential, same keep-alive agent settings, nothing rewritten or kept.
const ca = readFileSync(caFile, "utf8");
const agent = new Agent({ connect: { ca }, keepAliveTimeout: 10_000, connections: 16 });
const direct = async () => {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const res = await request(`https://127.0.0.1:${port}/v1.0/groups/${prodGroup}/members?$top=${i % 50}`, {
      dispatcher: agent,
      headers: { accept: "application/json", authorization: `Bearer ${token}` },
    });
    await res.body.arrayBuffer();
  }
  return (performance.now() - t0) / 1000;
};
const replay = async () => {
  const t0 = performance.now();
  const { report } = await runReplay({
    file: src,
    db: join(dir, `replay-${Math.random()}.sqlite`),
    upstream: [`graph.microsoft.com=https://127.0.0.1:${port}`],
    upstreamCaFiles: [caFile],
    map: mapFile,
    token,
    progress: false,
    onWarning: () => undefined,
  });
  const secs = (performance.now() - t0) / 1000;
  if (report.steps.length !== N || report.steps.some((s) => s.replayed !== 200)) throw new Error("replay did not get 200 for every step");
  return secs;
};

await direct(); // warm both paths (TLS, JIT) before the measured run
const d = await direct();
const r = await replay();
await agent.close();
await stop(up.child);
rmSync(dir, { recursive: true, force: true });

const dRps = N / d;
const rRps = N / r;
console.log(`replay bench: ${N} GETs, one identity (sequential), local HTTPS server`);
console.log(`  direct undici (no rewriting, no recording): ${fmt(dRps, 0)} req/s (${fmt(d)} s)`);
console.log(`  graphtap replay (plan, rewrite, send, compare, record): ${fmt(rRps, 0)} req/s (${fmt(r)} s, both passes and capture write included)`);
console.log(`  ratio replay/direct: ${fmt(rRps / dRps)}`);
