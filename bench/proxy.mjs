// npm run bench: small keep-alive GETs direct to a local HTTPS upstream vs through
// graphtap (recording on), in one run, reported as ratios; plus certificate minting.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Agent, ProxyAgent, request } from "undici";
import { createAuthority, LeafFactory } from "../dist/tls/authority.js";
import { fmt, load, startChild, stop } from "./lib.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const dir = mkdtempSync(join(tmpdir(), "graphtap-bench-"));
const upstreamCa = join(dir, "upstream-ca.pem");
const db = join(dir, "bench.sqlite");

const up = await startChild(["bench/upstream.mjs", upstreamCa], /listening (\d+)/);
const upPort = Number(up.match[1]);
const px = await startChild(
  ["dist/cli.js", "proxy", "--port", "0", "--quiet", "--home", dir, "--db", db,
   "--upstream", `graphtap.bench=https://127.0.0.1:${upPort}`, "--upstream-ca", upstreamCa,
   "--intercept", "graph.microsoft.com", "--intercept", "graphtap.bench"],
  /listening on (http:\/\/[\d.]+:\d+)/,
  {},
);
// graphtap.bench is not a real host: the proxy resolves nothing, it maps to the upstream.
const proxyUrl = px.match[1];
const caPem = readFileSync(join(dir, "ca.pem"), "utf8");

const rows = [];
let sentThroughProxy = 0;
for (const concurrency of [1, 32]) {
  const direct = new Agent({ connections: concurrency, connect: { ca: readFileSync(upstreamCa, "utf8") } });
  const proxied = new ProxyAgent({ uri: proxyUrl, connections: concurrency, requestTls: { ca: caPem } });
  const once = (dispatcher, url) => async () => {
    const res = await request(url, { dispatcher });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(String(res.statusCode));
  };
  const directUrl = `https://127.0.0.1:${upPort}/v1.0/me`;
  const proxiedUrl = "https://graphtap.bench/v1.0/me";
  await load(once(direct, directUrl), { concurrency, seconds: 1 }); // warm up both paths
  const warm = await load(once(proxied, proxiedUrl), { concurrency, seconds: 1 });
  sentThroughProxy += warm.ok + warm.errors;
  const d = await load(once(direct, directUrl), { concurrency, seconds: SECONDS });
  const p = await load(once(proxied, proxiedUrl), { concurrency, seconds: SECONDS });
  sentThroughProxy += p.ok + p.errors;
  rows.push({ concurrency, d, p });
  await direct.close();
  await proxied.close();
}
// Everything sent through the proxy, warm-ups included.
const exitCode = await stop(px.child, "SIGINT");
await stop(up.child);

const capture = new Database(db, { readonly: true });
const recorded = capture.prepare("SELECT COUNT(*) AS n FROM exchanges").get().n;
capture.close();

// Minting: a fresh CA and leaf key, then N new hosts.
const ca = createAuthority({ commonName: "bench CA", permitted: ["graph.microsoft.com", "sharepoint.com"] });
const leaves = new LeafFactory(ca);
const mint = [];
for (let i = 0; i < 200; i++) {
  const t0 = performance.now();
  leaves.issue([`tenant${i}.sharepoint.com`]);
  mint.push(performance.now() - t0);
}
mint.sort((a, b) => a - b);

console.log(`graphtap proxy benchmark (${SECONDS}s per phase, 2-core machine, small keep-alive HTTPS GETs)`);
console.log("clients | direct req/s | graphtap req/s | ratio | direct p50/p99 ms | graphtap p50/p99 ms | added p50 ms");
for (const { concurrency, d, p } of rows) {
  console.log(
    `${String(concurrency).padStart(7)} | ${fmt(d.rps, 0).padStart(12)} | ${fmt(p.rps, 0).padStart(14)} | ${fmt(p.rps / d.rps).padStart(5)} | ` +
      `${fmt(d.p50)}/${fmt(d.p99)} | ${fmt(p.p50)}/${fmt(p.p99)} | ${fmt(p.p50 - d.p50)}` +
      (d.errors + p.errors ? ` (errors: ${d.errors}/${p.errors})` : ""),
  );
}
console.log(`certificate minting for a new host: median ${fmt(mint[100])} ms, p99 ${fmt(mint[197])} ms`);
console.log(
  `proxy exit code on SIGINT: ${exitCode}; exchanges recorded ${recorded} of ${sentThroughProxy} sent through it (warm-ups included): ` +
    (recorded === sentThroughProxy ? "equal" : "NOT EQUAL"),
);
const goals = rows.find((r) => r.concurrency === 32);
const one = rows.find((r) => r.concurrency === 1);
console.log(
  `goals: 32 clients >= 40% of direct: ${goals.p.rps / goals.d.rps >= 0.4 ? "met" : "MISSED"}; ` +
    `1 client added p50 < 2 ms: ${one.p.p50 - one.d.p50 < 2 ? "met" : "MISSED"}; ` +
    `minting < 20 ms: ${mint[100] < 20 ? "met" : "MISSED"}`,
);
rmSync(dir, { recursive: true, force: true });
