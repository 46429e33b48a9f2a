// npm run bench:replay: recorded GETs replayed against a local HTTPS server, compared
// like for like with the same requests sent directly with undici (no planning, no
// rewriting, no recording):
//   sequential  one identity: replay keeps per-identity order, so one request at a time;
//               direct is one loop, one request at a time.
//   concurrent  BENCH_IDENTITIES identities: replay runs one lane per identity side by
//               side; direct runs as many loops side by side.
// Both sides use the same Agent options (keep-alive, 16 connections, no pipelining, the
// same TLS context), both are warmed up first, and each replay run is bracketed by two
// direct runs (their mean is the baseline) so drift on a shared machine hits both. The
// replay figure is end to end (both passes, comparison, capture written and closed).
// CPU per request is this process's (all threads) and the upstream server's.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext, rootCertificates } from "node:tls";
import { Agent, request } from "undici";
import { CaptureWriter } from "../dist/recorder/writer.js";
import { runReplay } from "../dist/replay/index.js";
import { fmt, startChild, stop } from "./lib.mjs";

const N = Number(process.env.BENCH_REQUESTS ?? 10_000);
const K = Number(process.env.BENCH_IDENTITIES ?? 8);
const WARM = Math.min(N, 1000);
const dir = mkdtempSync(join(tmpdir(), "graphtap-bench-replay-"));
const caFile = join(dir, "upstream-ca.pem");
const up = await startChild(["bench/upstream.mjs", caFile], /listening (\d+)/);
const port = Number(up.match[1]);

// A token-shaped JWT (claims only matter for the identity key).
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const claimsOf = (k) => ({
  aud: "https://graph.microsoft.com",
  tid: "11111111-1111-4111-8111-111111111111",
  oid: `22222222-2222-4222-8222-${String(k).padStart(12, "0")}`,
  upn: `bench${k}@contoso.onmicrosoft.com`,
  scp: "User.Read",
  iat: now,
  exp: now + 3600,
});
const token = `${b64({ alg: "none" })}.${b64(claimsOf(0))}.sig`;
const prodGroup = "33333333-3333-4333-8333-333333333333";
const pathOf = (i) => `/v1.0/groups/${prodGroup}/members?$top=${i % 50}`;

/** n recorded GETs, round-robin over `identities` identities. */
function capture(name, n, identities) {
  const file = join(dir, name);
  const writer = CaptureWriter.open(file);
  const session = writer.startSession({ kind: "proxy" });
  const t = Date.now() - n;
  for (let i = 0; i < n; i++) {
    const k = i % identities;
    const hash = `0123456789ab${String(k).padStart(4, "0")}`;
    writer.write({
      id: `BENCH${name.length}${String(i).padStart(20, "0")}`,
      sessionId: session,
      startedAt: t + i,
      durationMs: 1,
      method: "GET",
      url: `https://graph.microsoft.com${pathOf(i)}`,
      httpVersion: "1.1",
      requestHeaders: [["accept", "application/json"], ["authorization", `Bearer ${hash}`]],
      status: 200,
      responseHeaders: [["content-type", "application/json"]],
      token: { hash, claims: claimsOf(k) },
    });
  }
  writer.close();
  return file;
}
const warmFile = capture("warm.sqlite", WARM, K);
const seqFile = capture("seq.sqlite", N, 1);
const conFile = capture("con.sqlite", N, K);
const mapFile = join(dir, "map.json");
writeFileSync(mapFile, JSON.stringify({ replace: { [prodGroup]: "44444444-4444-4444-8444-444444444444" } }));

// The replay's own Agent settings (src/replay/index.ts), so the transport is the same.
const ca = readFileSync(caFile, "utf8");
const agent = new Agent({
  connect: { secureContext: createSecureContext({ ca: [...rootCertificates, ca] }) },
  keepAliveTimeout: 10_000,
  connections: 16,
});
/** n requests over `lanes` loops side by side, each one request at a time. */
const direct = async (n, lanes) => {
  const lane = async (first) => {
    for (let i = first; i < n; i += lanes) {
      const res = await request(`https://127.0.0.1:${port}${pathOf(i)}`, {
        dispatcher: agent,
        headers: { accept: "application/json", authorization: `Bearer ${token}` },
      });
      await res.body.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: lanes }, (_, k) => lane(k)));
};
let runs = 0;
const replay = async (file, n) => {
  const { report } = await runReplay({
    file,
    db: join(dir, `replay-${++runs}.sqlite`),
    upstream: [`graph.microsoft.com=https://127.0.0.1:${port}`],
    upstreamCaFiles: [caFile],
    map: mapFile,
    token,
    progress: false,
    onWarning: () => undefined,
  });
  if (report.steps.length !== n || report.steps.some((s) => s.replayed !== 200)) throw new Error("replay did not get 200 for every step");
};

const upstreamCpuMs = () => {
  const f = readFileSync(`/proc/${up.child.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, USER_HZ = 100
};
/** Wall seconds, and this process's and the upstream's CPU µs per request. */
const measure = async (n, fn) => {
  const u0 = upstreamCpuMs();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const secs = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { secs, cpu: (c.user + c.system) / n, upCpu: ((upstreamCpuMs() - u0) * 1000) / n };
};

// Warm-up: TLS, JIT and SQLite on both paths.
await direct(WARM, 1);
await direct(WARM, K);
await replay(warmFile, WARM);

const cases = [
  { name: "sequential", what: "one identity, one request at a time", lanes: 1, file: seqFile },
  { name: "concurrent", what: `${K} identities, ${K} lanes side by side`, lanes: K, file: conFile },
];
const lines = [];
for (const c of cases) {
  const d1 = await measure(N, () => direct(N, c.lanes));
  const r = await measure(N, () => replay(c.file, N));
  const d2 = await measure(N, () => direct(N, c.lanes));
  const dSecs = (d1.secs + d2.secs) / 2;
  const dCpu = (d1.cpu + d2.cpu) / 2;
  const dUp = (d1.upCpu + d2.upCpu) / 2;
  lines.push(
    `  ${c.name} (${c.what}):`,
    `    direct undici: ${fmt(N / dSecs, 0)} req/s (${fmt(d1.secs)} s, ${fmt(d2.secs)} s; client ${fmt(dCpu, 0)} µs CPU/req, server ${fmt(dUp, 0)})`,
    `    graphtap replay: ${fmt(N / r.secs, 0)} req/s (${fmt(r.secs)} s; client ${fmt(r.cpu, 0)} µs CPU/req, server ${fmt(r.upCpu, 0)})`,
    `    ratio replay/direct: ${fmt(dSecs / r.secs)}`,
  );
}
await agent.close();
await stop(up.child);
rmSync(dir, { recursive: true, force: true });

console.log(`replay bench: ${N} recorded GETs, local HTTPS server, warm, same Agent options both sides`);
console.log(`  (replay: plan + rewrite + send + compare + record, both passes and the capture write included)`);
for (const l of lines) console.log(l);
