// `graphtap analyze` as a user runs it (dist/cli.js; build first): HAR input, bad
// inputs as one-line errors, the --json contract, and the HTML rendered by Chromium.
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { beforeAll, describe, expect, it } from "vitest";
import { analyzeFiles } from "../../src/analyze/analysis.js";
import { readHar, readHarFile } from "../../src/interop/har.js";
import { CaptureWriter } from "../../src/recorder/writer.js";
import { header } from "../../src/exchange/types.js";
import { ROOT, run, runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const HAR = join(ROOT, "test/fixtures/guest-flip.har");
const BROKEN = join(ROOT, "test/fixtures/broken.har");
const RAW = JSON.parse(readFileSync(HAR, "utf8")) as { log: { entries: Array<{ request: { headers: Array<{ name: string; value: string }> } }> } };
const RAW_TOKEN = RAW.log.entries[0]!.request.headers.find((h) => h.name === "Authorization")!.value.slice("Bearer ".length);
const CHROMIUM = "/usr/bin/chromium";

let dir: string;
let capture: string;

beforeAll(() => {
  dir = tempDir("graphtap-analyze-cli-");
  // The same traffic as a capture, written by the recorder: analyze must read both alike.
  capture = join(dir, "from-har.sqlite");
  const w = CaptureWriter.open(capture);
  const session = w.startSession({ kind: "import", source: HAR });
  for (const ex of readHar(HAR)) w.write({ ...ex, sessionId: session });
  w.close();
});

describe("readHar", () => {
  it("reads HAR 1.2 entries: redacts the bearer token on read, drops pseudo-headers, decodes base64 bodies", () => {
    const xs = [...readHar(HAR)];
    expect(xs).toHaveLength(5);
    const first = xs[0]!;
    expect(first.status).toBe(401);
    expect(first.token?.claims["upn"]).toBe("alice_fabrikam.com#EXT#@contoso.onmicrosoft.com");
    expect(header(first.requestHeaders, "authorization")).toBe(`Bearer ${first.token!.hash}`);
    expect(header(first.requestHeaders, ":authority")).toBeUndefined();
    expect(JSON.stringify(xs)).not.toContain(RAW_TOKEN.split(".")[1]!);
    expect(JSON.parse(xs[3]!.responseBody!.bytes.toString("utf8"))).toMatchObject({ name: "Plan.docx" });
    expect(xs[0]!.ttfbMs).toBeCloseTo(40.2);
    // The Fiddler-style entry without timings or cookies is read too.
    expect(xs[4]!.ttfbMs).toBeUndefined();
    // Ids are stable per file content, so a second read finds the same exchanges.
    expect([...readHar(HAR)].map((x) => x.id)).toEqual(xs.map((x) => x.id));
  });

  it("says where a HAR is broken, in one line", () => {
    expect(() => readHarFile(BROKEN)).toThrow(/broken\.har is not a valid HAR file: log\.entries\[0\]\.request\.url: /);
  });
});

describe("graphtap analyze (CLI)", () => {
  it("analyzes a HAR file: the flip, its catalyst, the evidence, and no raw token anywhere", async () => {
    const r = await runCli(["analyze", HAR, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(RAW_TOKEN.split(".")[1]!);
    const doc = JSON.parse(r.stdout);
    expect(doc.exchanges).toBe(5);
    expect(doc.flips).toHaveLength(1);
    const f = doc.flips[0];
    expect(f.explanation).toBe("catalyst");
    expect(f.catalyst).toBe("GET /v1.0/groups/{id}/drive");
    expect(f.failure).toMatchObject({ status: 401, errorCode: "accessDenied", requestId: "rid-har-1", time: "2026-02-10T09:00:00.000Z", dataCenter: "West Europe", scaleUnit: "003", clientRequestId: "c-rid-har-1" });
    expect(f.success).toMatchObject({ status: 200, requestId: "rid-har-4", time: "2026-02-10T09:00:03.500Z", scaleUnit: "004" });
    expect(f.between.map((b: { template: string; status: number }) => [b.template, b.status])).toEqual([
      ["GET /v1.0/me", 200],
      ["GET /v1.0/groups/{id}/drive", 403],
    ]);
    expect(f.warmEndedBy).toBe("failure");
    expect(f.warmFor).toBeCloseTo((Date.parse("2026-02-10T14:12:00Z") - Date.parse("2026-02-10T09:00:03.5Z")) / 1000, 3);
    expect(f.identity).toMatchObject({ tenantId: "9398012f-9d22-487b-adad-a97e30690a9e", objectId: "244bf68f-bd00-4569-8ec8-2b3b9333f41c", upn: "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com", guest: true });
  });

  it("--json has the contract's shape, the same for a capture as for the HAR it came from", async () => {
    const r = await runCli(["analyze", capture, "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(typeof doc.exchanges).toBe("number");
    expect(Array.isArray(doc.flips) && Array.isArray(doc.catalysts)).toBe(true);
    const f = doc.flips[0];
    for (const k of ["identity", "template", "resource", "failure", "success", "explanation", "catalyst", "between", "warmFor"]) expect(f).toHaveProperty(k);
    for (const k of ["key", "tenantId", "objectId", "upn", "guest"]) expect(f.identity).toHaveProperty(k);
    for (const k of ["exchangeId", "status", "errorCode", "requestId", "time"]) expect(f.failure).toHaveProperty(k);
    for (const k of ["exchangeId", "status", "requestId", "time"]) expect(f.success).toHaveProperty(k);
    for (const k of ["exchangeId", "template", "status"]) expect(f.between[0]).toHaveProperty(k);
    expect(f.failure.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(["catalyst", "token-refresh", "retry"]).toContain(f.explanation);
    expect(f.resource).toMatch(/^GET https:\/\/graph\.microsoft\.com\/v1\.0\/shares\/u!/);
    expect(doc.catalysts[0]).toMatchObject({ template: "GET /v1.0/groups/{id}/drive", flips: 1, support: 1 });
    // Same analysis whether read from the HAR or from the capture it was imported into.
    const fromHar = analyzeFiles([HAR]);
    const strip = (d: typeof doc) => d.flips.map((x: typeof f) => [x.template, x.explanation, x.catalyst, x.failure.requestId, x.success.requestId, x.warmFor]);
    expect(strip(doc)).toEqual(strip(fromHar));
  });

  it("prints the human report: summary sentence first, timelines, evidence", async () => {
    const r = await runCli(["analyze", HAR]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^graphtap analyze: 5 exchanges from .*guest-flip\.har \(har\)$/);
    expect(r.stdout).toContain(
      "▶ GET /v1.0/shares/{shareId}/driveItem was refused once (401 accessDenied) for guest alice_fabrikam.com#EXT#@contoso.onmicrosoft.com, and access came back right after GET /v1.0/groups/{id}/drive (403); it then worked for 5.2 h before failing again.",
    );
    expect(r.stdout).toMatch(/Flip 1 of 1 — catalyst: GET \/v1\.0\/groups\/\{id\}\/drive/);
    expect(r.stdout).toMatch(/\+2s\s+403 accessDenied\s+GET \/v1\.0\/groups\/\{id\}\/drive ◀ catalyst/);
    expect(r.stdout).toMatch(/failing\s+2026-02-10T09:00:00\.000Z\s+401 accessDenied\s+request-id rid-har-1\s+client-request-id c-rid-har-1\s+data centre West Europe\s+scale unit 003/);
    expect(r.stdout).toMatch(/succeeding 2026-02-10T09:00:03\.500Z\s+200\s+request-id rid-har-4 .*scale unit 004/);
  });

  it("reports bad inputs in one line with a non-zero exit", async () => {
    const text = join(dir, "notes.txt");
    writeFileSync(text, "hello, not a capture\n");
    const json = join(dir, "other.json");
    writeFileSync(json, '{"hello": "world"}');
    const plain = join(dir, "plain.sqlite");
    new Database(plain).exec("CREATE TABLE t (x)").close();
    const newer = join(dir, "newer.sqlite");
    CaptureWriter.open(newer).close();
    const db = new Database(newer);
    db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 'later')").run();
    db.close();
    const cases: Array<[string, RegExp]> = [
      [BROKEN, /broken\.har is not a valid HAR file: log\.entries\[0\]\.request\.url/],
      [text, /notes\.txt is neither a graphtap capture \(SQLite\) nor a HAR file \(JSON\)/],
      [json, /other\.json is not a valid HAR file: log: /],
      [plain, /plain\.sqlite is not a graphtap capture/],
      [newer, /newer\.sqlite was written by a newer graphtap \(schema 99/],
      [join(dir, "missing.har"), /missing\.har does not exist/],
    ];
    for (const [file, message] of cases) {
      const r = await runCli(["analyze", HAR, file]);
      expect(r.code, file).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });

  it("exits 0 with no flips, and says so", async () => {
    const none = join(dir, "none.har");
    const har = JSON.parse(readFileSync(HAR, "utf8"));
    har.log.entries = har.log.entries.slice(0, 3);
    writeFileSync(none, JSON.stringify(har));
    const r = await runCli(["analyze", none, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ exchanges: 3, flips: [], catalysts: [] });
    const text = await runCli(["analyze", none]);
    expect(text.stdout).toContain("No flips");
  });

  it("writes a self-contained HTML report that headless Chromium renders", async () => {
    const out = join(dir, "report.html");
    const r = await runCli(["analyze", HAR, capture, "--html", out]);
    expect(r.code).toBe(0);
    const html = readFileSync(out, "utf8");
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link |src="http|href="http|url\(http/i);
    expect(html).toContain("<svg class=\"timeline\"");
    expect(html).toContain("★ GET /v1.0/groups/{id}/drive");
    expect(html).toContain("warm for 5.2 h");
    expect(html).toContain("rid-har-1");
    if (!existsSync(CHROMIUM)) {
      console.warn(`SKIPPED the Chromium render check: ${CHROMIUM} is not installed (apt-get install chromium)`);
      return;
    }
    const png = join(dir, "report.png");
    const profile = tempDir("graphtap-chromium-");
    const shot = await run(
      CHROMIUM,
      ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", `--user-data-dir=${profile}`, "--window-size=1100,1400", `--screenshot=${png}`, `file://${out}`],
      { timeoutMs: 60_000 },
    );
    expect(existsSync(png), shot.stderr).toBe(true);
    const bytes = readFileSync(png);
    expect(bytes.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
    expect(bytes.readUInt32BE(16)).toBe(1100);
    // A blank page compresses to a few KB; text, tables and timelines do not.
    expect(statSync(png).size).toBeGreaterThan(40_000);
  });
});
