import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { UserError } from "../../src/errors.js";
import { CaptureReader } from "../../src/recorder/reader.js";
import { formatTable, runReplay, toJson } from "../../src/replay/index.js";
import { startSim, type Sim } from "../../src/sim/index.js";
import { bearerToken } from "../../src/graph/token.js";
import { tempDir } from "../helpers/tmp.js";
import { recordProd, writeCa, writeMap, type Recorded } from "./helpers.js";

let dir: string;
let rec: Recorded;
let lab: Sim;
let labCa: string;

beforeAll(async () => {
  dir = tempDir("graphtap-replay-");
  rec = await recordProd(dir);
});
afterAll(async () => {
  await rec?.prod.close();
});
afterEach(async () => {
  await lab?.close();
  delete process.env["LAB_ALICE"];
  delete process.env["LAB_MEGAN"];
});

async function startLab(): Promise<void> {
  lab = await startSim({ scenario: "lab" });
  labCa = writeCa(dir, lab, `lab-${lab.port}`);
}

function labOpts(extra: Parameters<typeof runReplay>[0] extends infer T ? Partial<T> : never = {}) {
  process.env["LAB_ALICE"] = lab.token("alice");
  process.env["LAB_MEGAN"] = lab.token("megan");
  const alice = rec.prod.principal("alice").upn!;
  const megan = rec.prod.principal("megan").upn!;
  return {
    file: rec.db,
    upstream: [`graph.microsoft.com=${lab.url}`],
    upstreamCaFiles: [labCa],
    map: writeMap(dir, rec.prod, lab, { [alice]: "env:LAB_ALICE", [megan]: "env:LAB_MEGAN" }),
    db: join(dir, `out-${lab.port}-${Math.random().toString(36).slice(2)}.sqlite`),
    progress: false,
    onWarning: () => undefined,
    ...extra,
  };
}

describe("replay prod → lab", () => {
  test("ids, share ids and tokens arrive rewritten; writes are skipped; 401 in prod vs 200 in lab", async () => {
    await startLab();
    const warnings: string[] = [];
    const { report } = await runReplay(labOpts({ onWarning: (m) => warnings.push(m) }));
    const prodS = rec.prod.scenario;
    const labS = lab.scenario;

    // From the lab's own request log.
    const paths = lab.requests.map((r) => `${r.method} ${r.path}`);
    expect(paths).toContain(`GET /v1.0/shares/${labS.links[0]!.shareId}/driveItem`);
    expect(paths).toContain(`GET /v1.0/groups/${labS.groups[0]!.id}/drive`);
    const part = lab.requests.find((r) => r.batch && r.path.includes("/items/"));
    expect(part?.path).toBe(`/v1.0/drives/${labS.drives[0]!.id}/items/${labS.items[1]!.id}`);
    const prodIds = [prodS.tenant.id, prodS.groups[0]!.id, prodS.drives[0]!.id, prodS.links[0]!.shareId, ...prodS.items.map((i) => i.id)];
    for (const r of lab.requests) for (const id of prodIds) expect(r.path).not.toContain(id);
    // The lab's tokens, never prod's.
    const sent = lab.requests.map((r) => bearerToken(r.authorization));
    expect(sent.every((t) => t === process.env["LAB_ALICE"] || t === process.env["LAB_MEGAN"])).toBe(true);
    for (const t of rec.prodTokens) expect(sent).not.toContain(t);
    expect(lab.requests.filter((r) => r.principal === "megan")).toHaveLength(1);
    // The POST createLink was not sent.
    expect(lab.requests.some((r) => r.path.endsWith("/createLink"))).toBe(false);
    expect(report.skipped).toHaveLength(1);
    expect(report.skipped[0]!.reason).toMatch(/--allow-writes/);

    const [first, second, third] = report.steps;
    expect(first).toMatchObject({ method: "GET", recorded: 401, replayed: 200, diverged: true, recordedError: "accessDenied" });
    expect(first!.url).toContain(labS.links[0]!.shareId);
    expect(second).toMatchObject({ recorded: 403, replayed: 403, diverged: false });
    expect(third).toMatchObject({ recorded: 200, replayed: 200, diverged: false });
    expect(report.diverged).toBe(1);
    expect(warnings).toEqual([]);
    // The conclusion sits right under the table's rows.
    const table = formatTable(report).split("\n");
    const at = table.findIndex((l) => l.startsWith("recorded refused, replay allowed: "));
    expect(table[at]).toBe(`recorded refused, replay allowed: step 1 GET /v1.0/shares/{shareId}/driveItem 401 → 200 (1 of ${report.steps.length} steps diverged)`);
    expect(table.slice(0, at).filter((l) => /^\d+\s/.test(l))).toHaveLength(report.steps.length);

    // The output capture: linked to the sources, tokens redacted, analyze-readable.
    const out = CaptureReader.open(report.capture!);
    try {
      const sessions = out.sessions();
      expect(sessions.map((s) => s.kind)).toEqual(["replay"]);
      const rows = [...out.exchanges()];
      expect(rows).toHaveLength(report.steps.length);
      // Identities run side by side: the capture's order is the order of sending.
      expect(rows.map((r) => r.sourceId).sort()).toEqual(report.steps.map((s) => s.source).sort());
      const raw = JSON.stringify(rows.map((r) => [r.requestHeaders, r.requestBody?.bytes.toString()]));
      expect(raw).not.toContain(process.env["LAB_ALICE"]!);
      expect(rows[0]!.token?.claims["tid"]).toBe(labS.tenant.id);
      expect(rows[0]!.upstreamUrl).toContain(lab.url);
    } finally {
      out.close();
    }
  });

  test("with --allow-writes the recorded POST is sent, its body rewritten", async () => {
    await startLab();
    const { report } = await runReplay(labOpts({ allowWrites: true }));
    const post = lab.requests.find((r) => r.path.endsWith("/createLink"));
    expect(post?.path).toBe(`/v1.0/drives/${lab.scenario.drives[0]!.id}/items/${lab.scenario.items[1]!.id}/createLink`);
    expect(report.skipped).toEqual([]);
    expect(report.steps.find((s) => s.url.endsWith("/createLink"))?.replayed).toBeTypeOf("number");
  });

  test("--dry-run sends nothing and shows the rewritten plan with token sources", async () => {
    await startLab();
    const { report, plan } = await runReplay(labOpts({ dryRun: true }));
    expect(lab.requests).toEqual([]);
    expect(report.capture).toBeNull();
    expect(plan!.map((s) => s.method)).toEqual(["GET", "GET", "GET", "POST", "GET"]);
    expect(plan![0]!.url).toBe(`https://graph.microsoft.com/v1.0/shares/${lab.scenario.links[0]!.shareId}/driveItem`);
    expect(plan![0]!.token?.description).toBe("env:LAB_ALICE");
    expect(plan![4]!.token?.description).toBe("env:LAB_MEGAN");
  });

  test("pass 2 from the steps kept by pass 1 or from the capture read again: the same report", async () => {
    await startLab();
    const kept = await runReplay(labOpts());
    const reread = await runReplay(labOpts({ keepPlanBytes: 0 }));
    const same = (r: typeof kept.report) => r.steps.map(({ replayId: _id, durationMs: _ms, ...rest }) => rest);
    expect(kept.report.steps.length).toBeGreaterThan(0);
    expect(same(reread.report)).toEqual(same(kept.report));
    expect(reread.report.skipped).toEqual(kept.report.skipped);
  });

  test("--json: the contract's shape", async () => {
    await startLab();
    const { report } = await runReplay(labOpts());
    const doc = JSON.parse(toJson(report)) as Record<string, unknown>;
    expect(Object.keys(doc).slice(0, 5)).toEqual(["graphtap", "version", "steps", "diverged", "skipped"]);
    expect(doc).toMatchObject({ graphtap: "replay", version: 1 });
    expect(doc["conclusion"]).toBe(`recorded refused, replay allowed: step 1 GET /v1.0/shares/{shareId}/driveItem 401 → 200 (1 of ${report.steps.length} steps diverged)`);
    const steps = doc["steps"] as Array<Record<string, unknown>>;
    expect(Object.keys(steps[0]!).slice(0, 6)).toEqual(["source", "method", "url", "recorded", "replayed", "diverged"]);
    expect(steps[0]).toMatchObject({ method: "GET", recorded: 401, replayed: 200, diverged: true });
    expect(doc["diverged"]).toBe(1);
    expect(doc["skipped"]).toEqual([expect.objectContaining({ source: expect.any(String), reason: expect.stringContaining("--allow-writes") })]);
  });

  test("per-identity selection and a single --token for it", async () => {
    await startLab();
    const megan = rec.prod.principal("megan").upn!;
    const { report } = await runReplay({ ...labOpts(), map: writeMap(dir, rec.prod, lab, {}, "map-notokens.json"), token: lab.token("megan"), select: { identity: megan } });
    expect(report.steps).toHaveLength(1);
    expect(lab.requests.map((r) => r.principal)).toEqual(["megan"]);
  });

  test("a recorded identity without a token is an error before anything is sent", async () => {
    await startLab();
    const map = writeMap(dir, rec.prod, lab, { [rec.prod.principal("alice").upn!]: "env:LAB_ALICE" }, "map-alice-only.json");
    await expect(runReplay({ ...labOpts(), map })).rejects.toThrow(/no token for megan@contoso\.onmicrosoft\.com .*nothing was sent/);
    expect(lab.requests).toEqual([]);
  });

  test("a failing token command: one line with its exit code and stderr, nothing sent", async () => {
    await startLab();
    const map = writeMap(dir, rec.prod, lab, {}, "map-cmd.json");
    const err = await runReplay({ ...labOpts(), map, tokenCmd: "echo 'az: please run az login' >&2; exit 7" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(`token command "echo 'az: please run az login' >&2; exit 7" failed with exit code 7: az: please run az login`);
    expect(lab.requests).toEqual([]);
  });

  test("a token command that works is run once and its token used", async () => {
    await startLab();
    const tokenFile = join(dir, "tok.txt");
    writeFileSync(tokenFile, lab.token("megan"));
    const counter = join(dir, "count.txt");
    writeFileSync(counter, "");
    const { report } = await runReplay({
      ...labOpts(),
      map: writeMap(dir, rec.prod, lab, {}, "map-notokens2.json"),
      tokenCmd: `echo x >> '${counter}'; cat '${tokenFile}'`,
      select: { identity: rec.prod.principal("megan").upn! },
    });
    expect(report.steps[0]!.replayed).toBe(200);
    expect(report.steps[0]!.tokenSource).toMatch(/^cmd:/);
    expect((await import("node:fs")).readFileSync(counter, "utf8")).toBe("x\n");
  });

  test("unknown session: one line listing the sessions", async () => {
    await startLab();
    const err = await runReplay({ ...labOpts(), select: { session: "NOPE" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/^unknown session "NOPE" in .*prod\.sqlite; its sessions: [0-9A-Z]{26} \(proxy, 6 exchanges\)$/);
  });

  test("a lab that resets every connection: stops after N failures in a row, what was tried is kept", async () => {
    await startLab();
    lab.faults = { resetEveryN: 1 };
    const { report } = await runReplay(labOpts({ maxFailures: 2 }));
    expect(report.stopped).toMatch(/^stopped after 2 consecutive connection failures \(last: ECONNRESET on GET https:\/\/127\.0\.0\.1:\d+\//);
    expect(report.steps.length).toBeGreaterThanOrEqual(2);
    expect(report.steps[0]).toMatchObject({ recorded: 401, replayed: null, diverged: true, error: "ECONNRESET" });
    const out = CaptureReader.open(report.capture!);
    try {
      const rows = [...out.summaries()];
      // Every reported step is in the file (plus any call cut short by the stop).
      const ids = new Set(rows.map((r) => r.id));
      for (const s of report.steps) expect(ids.has(s.replayId)).toBe(true);
      expect(rows.every((r) => r.upstreamErrorCode !== undefined && r.sourceId !== undefined)).toBe(true);
    } finally {
      out.close();
    }
  });

  test("a lab that resets some connections: those steps carry the error, the replay goes on", async () => {
    await startLab();
    lab.faults = { resetEveryN: 2 };
    const { report } = await runReplay(labOpts());
    expect(report.stopped).toBeNull();
    expect(report.steps).toHaveLength(5);
    expect(report.steps.filter((s) => s.error === "ECONNRESET").length).toBeGreaterThan(0);
    expect(report.steps.filter((s) => s.replayed !== null).length).toBeGreaterThan(0);
  });

  test("a throttling lab: Retry-After is waited out and the step retried", async () => {
    await startLab();
    lab.setBehaviours("alice", { throttle: { everyN: 2, retryAfterSeconds: 1 } });
    const t0 = Date.now();
    const { report } = await runReplay(labOpts({ select: { identity: rec.prod.principal("alice").upn! } }));
    const throttled = report.steps.filter((s) => s.throttled > 0);
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled[0]!.waitedMs).toBe(1000);
    expect(throttled.every((s) => s.replayed !== 429)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    const statuses = lab.requests.filter((r) => !r.batch).map((r) => r.status);
    expect(statuses).toContain(429);
  });

  test("--flip 1 replays the failure, what came between, and the success (here a $batch part)", async () => {
    await startLab();
    const { report } = await runReplay(labOpts({ select: { flip: 1 } }));
    expect(report.steps.map((s) => [s.recorded, s.template])).toEqual([
      [401, "GET /v1.0/shares/{shareId}/driveItem"],
      [403, "GET /v1.0/groups/{id}/drive"],
      [200, "GET /v1.0/shares/{shareId}/driveItem"],
      [200, "POST /v1.0/$batch"],
    ]);
    // The $batch is compared part by part: the share part was 200 in prod and in the lab.
    expect(report.steps[3]!.parts?.map((p) => [p.id, p.recorded, p.replayed])).toEqual([["1", 200, 200], ["2", 200, 200]]);
  });

  test("--range by index", async () => {
    await startLab();
    const { report } = await runReplay(labOpts({ select: { range: "2..3" } }));
    expect(report.steps.map((s) => s.recorded)).toEqual([403, 200]);
  });
});
