// npm run bench:analyze: build a capture of 1,000,000 exchanges (a day of a tenant:
// members, guests with the warm-up behaviour, apps, token refreshes, throttling,
// resources that stay forbidden, some $batch envelopes), then time `graphtap analyze`
// on it in a child process and report seconds and peak RSS.
// BENCH_EXCHANGES=N changes the size; BENCH_KEEP=1 keeps the capture.
import { spawnSync } from "node:child_process";
import { randomBytes, createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { CaptureWriter } from "../dist/recorder/writer.js";
import { newId } from "../dist/exchange/id.js";
import { encodeShareId } from "../dist/graph/shares.js";

const TOTAL = Number(process.env.BENCH_EXCHANGES ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), "graphtap-bench-analyze-"));
const db = join(dir, "bench.sqlite");

// ---- a deterministic little tenant -------------------------------------------------
let seed = 42;
const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const guid = () => {
  const h = createHash("sha1").update(String(rnd())).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
};
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const G = "https://graph.microsoft.com";
const itemIds = Array.from({ length: 4000 }, () => `01${randomBytes(20).toString("base64").replace(/[^A-Z0-9]/gi, "").toUpperCase().padEnd(32, "Q").slice(0, 32)}`);
const driveIds = Array.from({ length: 40 }, () => `b!${randomBytes(48).toString("base64url")}`);
const groupIds = Array.from({ length: 60 }, guid);
const userIds = Array.from({ length: 3000 }, guid);
const shares = Array.from({ length: 30 }, (_, i) => `/v1.0/shares/${encodeShareId(`https://contoso.sharepoint.com/:w:/s/team${i}/E${randomBytes(16).toString("base64url")}`)}/driveItem`);

function identity(kind, i) {
  const oid = guid();
  const upn = kind === "guest" ? `guest${i}_fabrikam.com#EXT#@contoso.onmicrosoft.com` : kind === "member" ? `user${i}@contoso.com` : undefined;
  return { kind, i, oid, upn, key: kind === "app" ? `app:${TENANT}:${oid}` : `${TENANT}:${oid}`, token: undefined, tokenAt: -Infinity, warmUntil: -Infinity, cold: false, share: pick(shares), group: pick(groupIds), forbidden: `/v1.0/drives/${pick(driveIds)}/items/${pick(itemIds)}` };
}
const people = [
  ...Array.from({ length: 160 }, (_, i) => identity("member", i)),
  ...Array.from({ length: 30 }, (_, i) => identity("guest", i)),
  ...Array.from({ length: 10 }, (_, i) => identity("app", i)),
];

// ---- the capture: schema from graphtap itself, rows by direct SQL ------------------
const w = CaptureWriter.open(db);
const session = w.startSession({ kind: "proxy", label: "bench" });
w.close();
const conn = new Database(db);
conn.pragma("journal_mode = OFF");
conn.pragma("synchronous = OFF");
// Indexes are built once after the load: much faster than maintaining seven per row.
const indexes = conn.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'exchanges' AND sql IS NOT NULL").all();
for (const ix of indexes) conn.exec(`DROP INDEX ${ix.name}`);

const insert = conn.prepare(`INSERT INTO exchanges (id, session_id, started_at, duration_ms, method, url, host, path,
  http_version, status, token_hash, identity_key, request_id, client_request_id, graph_error_code, data_center, scale_unit,
  req_headers, res_headers, req_body_size, req_body_truncated, req_body, res_body_size, res_body_truncated, res_body)
  VALUES (?, ?, ?, ?, ?, ?, 'graph.microsoft.com', ?, 'HTTP/1.1', ?, ?, ?, ?, ?, ?, 'West Europe', ?, ?, '[]', ?, ?, ?, ?, ?, ?)`);
const upsertIdentity = conn.prepare(`INSERT OR IGNORE INTO identities (token_hash, identity_key, kind, tenant_id, object_id, upn, guest, claims, iat, exp, first_seen, last_seen)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);

const T0 = Date.UTC(2026, 1, 10, 0, 0, 0);
const SPAN = 24 * 3600 * 1000;
const HOUR = 3600 * 1000;
const errBody = (code) => `{"error":{"code":"${code}","message":"x"}}`;

function tokenFor(p, t) {
  if (p.token === undefined || t - p.tokenAt > HOUR) {
    p.token = randomBytes(8).toString("hex");
    p.tokenAt = t;
    const iat = Math.floor(t / 1000);
    const claims = { tid: TENANT, oid: p.oid, ...(p.upn ? { upn: p.upn } : {}), ...(p.kind === "guest" ? { acct: 1 } : {}), iat, exp: iat + 4500 };
    upsertIdentity.run(p.token, p.key, p.kind === "app" ? "app" : "user", TENANT, p.oid, p.upn ?? null, p.kind === "guest" ? 1 : 0, JSON.stringify(claims), iat, iat + 4500, t, t);
  }
  return p.token;
}

/** One call of `p` at time t: [method, path, status, errorCode, batch?]. */
function callOf(p, t) {
  const r = rnd();
  if (p.kind === "guest") {
    if (r < 0.35) {
      if (t < p.warmUntil) return ["GET", p.share, 200];
      p.cold = true;
      return ["GET", p.share, 401, "accessDenied"];
    }
    if (r < 0.45 && p.cold) {
      // The catalyst: refused itself, it warms the guest's link access for two hours.
      p.cold = false;
      p.warmUntil = t + 2 * HOUR;
      return ["GET", `/v1.0/groups/${p.group}/drive`, 403, "accessDenied"];
    }
    return r < 0.8 ? ["GET", "/v1.0/me", 200] : ["GET", `/v1.0/users/${pick(userIds)}`, 403, "Authorization_RequestDenied"];
  }
  if (p.kind === "app") {
    if (r < 0.05) return ["GET", "/v1.0/users?$top=999", 429, "TooManyRequests"];
    if (r < 0.6) return ["GET", `/v1.0/users/${pick(userIds)}`, 200];
    return ["GET", `/v1.0/groups/${pick(groupIds)}/members`, 200];
  }
  // Members: mostly fine, one resource that stays forbidden, an expiring token now and then.
  if (r < 0.015) return ["GET", p.forbidden, 403, "accessDenied"];
  if (r < 0.02 && t - p.tokenAt > 50 * 60 * 1000) {
    p.tokenAt = -Infinity; // refreshed on the next call: a token-refresh flip
    return ["GET", "/v1.0/me/drive/root/children", 401, "InvalidAuthenticationToken"];
  }
  if (r < 0.021) return ["POST", "/v1.0/$batch", 200, undefined, true];
  if (r < 0.3) return ["GET", "/v1.0/me", 200];
  if (r < 0.45) return ["GET", "/v1.0/me/drive/root/children", 200];
  if (r < 0.6) return ["GET", `/v1.0/me/messages?$top=25&$skip=${Math.floor(rnd() * 10) * 25}`, 200];
  if (r < 0.8) return ["GET", `/v1.0/drives/${pick(driveIds)}/items/${pick(itemIds)}`, rnd() < 0.05 ? 404 : 200];
  if (r < 0.9) return ["GET", `/v1.0/sites/contoso.sharepoint.com,${pick(groupIds)},${pick(groupIds)}/lists`, 200];
  return ["GET", `/v1.0/groups/${pick(groupIds)}/drive`, 200];
}

// Request ids: unique, realistic length, cheaper than random bytes per row.
const RID = `${guid().slice(0, 24)}`;
const CRID = `${guid().slice(0, 24)}`;
const started = Date.now();
const BATCH_TX = 50_000;
let written = 0;
const tx = conn.transaction((n) => {
  for (let k = 0; k < n; k++) {
    const t = T0 + Math.floor(((written + k) / TOTAL) * SPAN);
    const p = people[Math.floor(rnd() ** 1.6 * people.length)];
    const token = tokenFor(p, t);
    const [method, path, status, code, batch] = callOf(p, t);
    let reqBody = null;
    let resBody = null;
    if (batch) {
      reqBody = Buffer.from(JSON.stringify({ requests: [{ id: "1", method: "GET", url: "/me" }, { id: "2", method: "GET", url: `/drives/${pick(driveIds)}/root` }] }));
      resBody = Buffer.from(JSON.stringify({ responses: [{ id: "1", status: 200, body: {} }, { id: "2", status: 200, body: {} }] }));
    } else if (code) {
      resBody = Buffer.from(errBody(code));
    }
    insert.run(
      newId(t), session, t, 20 + rnd() * 200, method, `${G}${path}`, path.split("?")[0], status, token, p.key,
      `${RID}${(written + k).toString(16).padStart(12, "0")}`, `${CRID}${(written + k).toString(16).padStart(12, "0")}`, code ?? null, rnd() < 0.5 ? "003" : "004",
      reqBody ? `[["content-type","application/json"]]` : "[]",
      reqBody ? reqBody.length : null, reqBody ? 0 : null, reqBody,
      resBody ? resBody.length : null, resBody ? 0 : null, resBody,
    );
  }
});
while (written < TOTAL) {
  const n = Math.min(BATCH_TX, TOTAL - written);
  tx(n);
  written += n;
}
const loadedAt = Date.now();
for (const ix of indexes) conn.exec(ix.sql);
console.log(`rows ${((loadedAt - started) / 1000).toFixed(1)} s, indexes ${((Date.now() - loadedAt) / 1000).toFixed(1)} s`);
conn.close();
const genSeconds = (Date.now() - started) / 1000;
const mb = statSync(db).size / 1e6;
console.log(`generated ${TOTAL.toLocaleString("en-US")} exchanges (${people.length} identities) in ${genSeconds.toFixed(1)} s: ${db} (${mb.toFixed(0)} MB)`);

// ---- analyze in a child, measured from outside -------------------------------------
const cli = new URL("../dist/cli.js", import.meta.url).pathname;
let seconds;
let peakMb;
const t1 = process.hrtime.bigint();
if (existsSync("/usr/bin/time")) {
  const r = spawnSync("/usr/bin/time", ["-v", process.execPath, cli, "analyze", db, "--json"], { encoding: "utf8", maxBuffer: 1 << 30 });
  seconds = Number(process.hrtime.bigint() - t1) / 1e9;
  if (r.status !== 0) throw new Error(`analyze failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  peakMb = rss ? Number(rss[1]) / 1024 : NaN;
  report(JSON.parse(r.stdout));
} else {
  // No GNU time: the child reports its own peak RSS after the analysis.
  const script = `process.argv.splice(1, 1); await import(${JSON.stringify(cli)}); process.on("exit", () => process.stderr.write("maxrss " + process.resourceUsage().maxRSS + "\\n"));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script, "x", cli, "analyze", db, "--json"], { encoding: "utf8", maxBuffer: 1 << 30 });
  seconds = Number(process.hrtime.bigint() - t1) / 1e9;
  if (r.status !== 0) throw new Error(`analyze failed (${r.status}): ${r.stderr.slice(-2000)}`);
  peakMb = Number(/maxrss (\d+)/.exec(r.stderr)?.[1] ?? NaN) / 1024;
  report(JSON.parse(r.stdout));
}

function report(doc) {
  const top = doc.catalysts[0];
  console.log(
    `analyze: ${doc.exchanges.toLocaleString("en-US")} logical exchanges, ${doc.identities} identities, ${doc.flips.length} flips ` +
      `(${doc.summary.byExplanation.catalyst} catalyst, ${doc.summary.byExplanation["token-refresh"]} token-refresh, ${doc.summary.byExplanation.retry} retry); ` +
      `top catalyst ${top ? `${top.template} (support ${top.support.toFixed(2)}, score ${top.score.toFixed(2)})` : "none"}`,
  );
}
console.log(`analyze took ${seconds.toFixed(2)} s, peak RSS ${peakMb.toFixed(0)} MB (goal: < 20 s, < 1024 MB)`);
if (process.env.BENCH_KEEP) console.log(`kept ${dir}`);
else rmSync(dir, { recursive: true, force: true });
if (seconds >= 20 || !(peakMb < 1024)) process.exitCode = 1;
