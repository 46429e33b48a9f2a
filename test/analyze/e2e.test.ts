// End to end: real traffic from an HTTP client through the recording proxy to the
// simulated tenant, into a capture, then analyzed. Each scenario gets its own capture.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ProxyAgent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeFiles, type AnalysisDoc } from "../../src/analyze/analysis.js";
import { startRecordingProxy } from "../../src/capture/recording-proxy.js";
import { DEFAULT_GRAPH_HOSTS } from "../../src/graph/hosts.js";
import { encodeShareId } from "../../src/graph/shares.js";
import { prodScenario } from "../../src/sim/tenant.js";
import { startSim, type Sim } from "../../src/sim/server.js";
import { createAuthority, type Authority } from "../../src/tls/authority.js";
import { tempDir } from "../helpers/tmp.js";

const WARM_MS = 400;
const SHARE_T = "GET /v1.0/shares/{shareId}/driveItem";
const DRIVE_T = "GET /v1.0/groups/{id}/drive";

let sim: Sim;
let authority: Authority;
let dir: string;
let simCa: string;
let share: string;
let groupDrive: string;
let driveId: string;

beforeAll(async () => {
  dir = tempDir("graphtap-analyze-e2e-");
  authority = createAuthority({ commonName: "analyze e2e CA", permitted: [...DEFAULT_GRAPH_HOSTS] });
  sim = await startSim({ scenario: prodScenario({ warmForMs: WARM_MS }) });
  simCa = join(dir, "sim-ca.pem");
  writeFileSync(simCa, sim.caPem);
  share = `/v1.0/shares/${encodeShareId(sim.scenario.links[0]!.url)}/driveItem`;
  groupDrive = `/v1.0/groups/${sim.scenario.groups[0]!.id}/drive`;
  driveId = sim.scenario.drives[0]!.id;
});

afterAll(async () => {
  await sim?.close();
});

interface Client {
  get(path: string, token: string): Promise<number>;
  batch(parts: Array<{ id: string; url: string }>, token: string): Promise<{ status: number; parts: Record<string, number> }>;
}

/** Records what `play` does through a fresh proxy into its own capture; returns the capture path. */
async function record(name: string, play: (c: Client) => Promise<void>): Promise<string> {
  sim.resetState();
  const db = join(dir, `${name}.sqlite`);
  const proxy = await startRecordingProxy({
    host: "127.0.0.1",
    port: 0,
    db,
    authority,
    upstream: [`graph.microsoft.com=${sim.url}`],
    upstreamCaFiles: [simCa],
    onWarning: () => undefined,
  });
  const agent = new ProxyAgent({ uri: proxy.url, requestTls: { ca: authority.certPem } });
  const client: Client = {
    async get(path, token) {
      const res = await request(`https://graph.microsoft.com${path}`, {
        dispatcher: agent,
        headers: { authorization: `Bearer ${token}`, "client-request-id": crypto.randomUUID() },
      });
      await res.body.dump();
      return res.statusCode;
    },
    async batch(parts, token) {
      const res = await request("https://graph.microsoft.com/v1.0/$batch", {
        dispatcher: agent,
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ requests: parts.map((p) => ({ ...p, method: "GET" })) }),
      });
      const body = (await res.body.json()) as { responses: Array<{ id: string; status: number }> };
      return { status: res.statusCode, parts: Object.fromEntries(body.responses.map((r) => [r.id, r.status])) };
    },
  };
  try {
    await play(client);
  } finally {
    await agent.close();
    await proxy.stop();
  }
  return db;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Guest refused, noise, refused again, noise, catalyst (403), then the share works. */
async function seedCycle(c: Client, guest: string): Promise<void> {
  expect(await c.get(share, guest)).toBe(401);
  expect(await c.get("/v1.0/me", guest)).toBe(200);
  expect(await c.get(share, guest)).toBe(401);
  expect(await c.get("/v1.0/me", guest)).toBe(200);
  expect(await c.get(groupDrive, guest)).toBe(403);
  expect(await c.get(share, guest)).toBe(200);
  expect(await c.get(share, guest)).toBe(200);
}

describe("analyze captures recorded through the proxy from the simulated tenant", () => {
  let seedDoc: AnalysisDoc;

  it("the seed pattern, three times: the group drive is the catalyst, GET /me is not", async () => {
    const db = await record("seed", async (c) => {
      const guest = sim.token("alice");
      const member = sim.token("megan");
      for (let cycle = 0; cycle < 3; cycle++) {
        await seedCycle(c, guest);
        expect(await c.get(groupDrive, member)).toBe(200);
        if (cycle < 2) await sleep(WARM_MS + 200);
      }
    });
    const doc = (seedDoc = analyzeFiles([db]));
    expect(doc.exchanges).toBe(24);
    expect(doc.recorded).toBe(24);
    expect(doc.flips).toHaveLength(3);
    for (const f of doc.flips) {
      expect(f).toMatchObject({ template: SHARE_T, explanation: "catalyst", catalyst: DRIVE_T });
      expect(f.identity.guest).toBe(true);
      expect(f.identity.upn).toMatch(/^alice_.*#EXT#@/);
      expect(f.failure).toMatchObject({ status: 401, errorCode: "accessDenied", refusals: 2 });
      expect(f.failure.requestId).toBeTruthy();
      expect(f.success.status).toBe(200);
      expect(f.between.map((b) => [b.template, b.status])).toEqual([["GET /v1.0/me", 200], [DRIVE_T, 403]]);
      expect(f.catalystCall).toMatchObject({ template: DRIVE_T, status: 403 });
    }
    expect(doc.flips.slice(0, 2).every((f) => f.warmEndedBy === "failure" && f.warmFor! >= WARM_MS / 1000)).toBe(true);
    expect(doc.flips[2]!.warmEndedBy).toBe("end-of-capture");
    expect(doc.catalysts[0]).toMatchObject({ template: DRIVE_T, flips: 3, support: 1, failWindows: 0, attributed: 3 });
    const me = doc.catalysts.find((r) => r.template === "GET /v1.0/me")!;
    // /me was also called between the refusals that stayed refusals.
    expect(me.failWindows).toBeGreaterThanOrEqual(3);
    expect(me.score).toBeLessThan(doc.catalysts[0]!.score);
    expect(doc.summary.headline).toMatch(
      // 2 refusals in each of the 3 episodes: 6 refusals, not 3.
      /^GET \/v1\.0\/shares\/\{shareId\}\/driveItem was refused 6 times \(401 accessDenied\) in 3 episodes for guest alice_.*#EXT#.*, and each time access came back right after GET \/v1\.0\/groups\/\{id\}\/drive \(403\); it then worked for /,
    );
    // The evidence a support engineer asks for, from the sim's headers.
    expect(doc.flips[0]!.failure.dataCenter).toBeTruthy();
    expect(doc.flips[0]!.success.clientRequestId).toBeTruthy();
  });

  it("a token-refresh confounder: the success used a new token, so the calls in between are not credited", async () => {
    const db = await record("refresh", async (c) => {
      const old = sim.token("megan");
      sim.setBehaviours("megan", { tokenBound: { tokens: [old], paths: ["/sites/root"] } });
      try {
        expect(await c.get("/v1.0/sites/root", old)).toBe(401);
        expect(await c.get("/v1.0/me", old)).toBe(200);
        await sleep(1100); // a new iat, so a new token
        const fresh = sim.token("megan", { claims: { xms_cc: ["CP1"] } });
        expect(await c.get("/v1.0/sites/root", fresh)).toBe(200);
      } finally {
        sim.setBehaviours("megan", undefined);
      }
    });
    const doc = analyzeFiles([db]);
    expect(doc.flips).toHaveLength(1);
    const f = doc.flips[0]!;
    expect(f.explanation).toBe("token-refresh");
    expect(f.catalyst).toBeNull();
    expect(f.tokenChange?.map((t) => t.claim)).toEqual(expect.arrayContaining(["iat", "exp", "xms_cc"]));
    expect(doc.catalysts).toEqual([]);
  });

  it("a retry-only flip: refused, nothing else called, then the same call works", async () => {
    const db = await record("retry", async (c) => {
      const member = sim.token("megan");
      sim.setBehaviours("megan", { failAlways: { paths: ["/drives/*/root"], status: 403, code: "accessDenied" } });
      expect(await c.get(`/v1.0/drives/${driveId}/root`, member)).toBe(403);
      sim.setBehaviours("megan", undefined);
      await sleep(300);
      expect(await c.get(`/v1.0/drives/${driveId}/root`, member)).toBe(200);
    });
    const doc = analyzeFiles([db]);
    expect(doc.flips).toHaveLength(1);
    expect(doc.flips[0]).toMatchObject({ explanation: "retry", catalyst: null, between: [], betweenCount: 0 });
    expect(doc.flips[0]!.waitSeconds).toBeGreaterThanOrEqual(0.3);
  });

  it("a failure that never recovers, with GET /me between the refusals: no flip, /me is negative evidence", async () => {
    const db = await record("never", async (c) => {
      const guest = sim.token("alice");
      for (let i = 0; i < 4; i++) {
        expect(await c.get(share, guest)).toBe(401);
        expect(await c.get("/v1.0/me", guest)).toBe(200);
      }
    });
    const doc = analyzeFiles([db]);
    expect(doc.flips).toEqual([]);
    expect(doc.summary.neverRecovered).toBe(1);
    expect(doc.neverRecovered).toHaveLength(1);
    expect(doc.neverRecovered[0]).toMatchObject({ template: SHARE_T, status: 401, errorCode: "accessDenied", refusals: 4 });
    expect(doc.neverRecovered[0]!.identity.upn).toMatch(/^alice_.*#EXT#@/);
    expect(doc.neverRecovered[0]!.lastRequestId).toBeTruthy();
    expect(doc.summary.failWindows).toBe(3);
    expect(doc.catalysts).toEqual([]);
    // Merged with the seed capture, /me's negative evidence grows; the catalyst still wins.
  });

  it("non-flips: 404 then 200, and 401 for one identity with 200 for another", async () => {
    const db = await record("nonflips", async (c) => {
      const member = sim.token("megan");
      const guest = sim.token("alice");
      sim.setBehaviours("megan", { failAlways: { paths: ["/drives/*/root/children"], status: 404, code: "itemNotFound" } });
      expect(await c.get(`/v1.0/drives/${driveId}/root/children`, member)).toBe(404);
      sim.setBehaviours("megan", undefined);
      expect(await c.get(`/v1.0/drives/${driveId}/root/children`, member)).toBe(200);
      expect(await c.get(share, guest)).toBe(401);
      expect(await c.get(share, member)).toBe(200);
    });
    const doc = analyzeFiles([db]);
    expect(doc.exchanges).toBe(4);
    expect(doc.identities).toBe(2);
    expect(doc.flips).toEqual([]);
  });

  it("a flip hidden inside $batch: each part is its own logical exchange", async () => {
    const db = await record("batch", async (c) => {
      const guest = sim.token("alice");
      const first = await c.batch([{ id: "1", url: share.replace("/v1.0", "") }, { id: "2", url: "/me" }], guest);
      expect(first).toEqual({ status: 200, parts: { "1": 401, "2": 200 } });
      expect(await c.get(groupDrive, guest)).toBe(403);
      const second = await c.batch([{ id: "a", url: share.replace("/v1.0", "") }], guest);
      expect(second.parts["a"]).toBe(200);
    });
    const doc = analyzeFiles([db]);
    expect(doc.exchanges).toBe(4); // 2 parts + 1 call + 1 part
    expect(doc.recorded).toBe(3); // 2 envelopes + 1 call, as `list` counts them
    expect(doc.flips).toHaveLength(1);
    const f = doc.flips[0]!;
    expect(f.template).toBe(SHARE_T);
    expect(f.failure.exchangeId).toMatch(/\.1$/);
    expect(f.success.exchangeId).toMatch(/\.a$/);
    expect(f.failure.errorCode).toBe("accessDenied");
    expect(f.catalyst).toBe(DRIVE_T);
    expect(f.resource).toBe(`GET https://graph.microsoft.com${share}`);
  });

  it("merges captures in time order: seed + never-recovers analyzed together", () => {
    const doc = analyzeFiles([join(dir, "never.sqlite"), join(dir, "seed.sqlite")]);
    expect(doc.inputs.map((i) => i.kind)).toEqual(["capture", "capture"]);
    expect(doc.exchanges).toBe(seedDoc.exchanges + 8);
    expect(doc.flips).toHaveLength(3);
    expect(doc.catalysts[0]!.template).toBe(DRIVE_T);
    const me = doc.catalysts.find((r) => r.template === "GET /v1.0/me")!;
    expect(me.failWindows).toBeGreaterThan(seedDoc.catalysts.find((r) => r.template === "GET /v1.0/me")!.failWindows);
  });
});
