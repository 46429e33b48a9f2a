import { afterEach, describe, expect, test } from "vitest";
import { startSim, type Sim } from "../../src/sim/index.js";
import { get } from "./helpers.js";

const HOUR = 3_600_000;
let sim: Sim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

function paths(s: Sim) {
  const link = s.scenario.links[0]!;
  const group = s.scenario.groups[0]!;
  return {
    share: `/v1.0/shares/${link.shareId}/driveItem`,
    catalyst: `/v1.0/groups/${group.id}/drive`,
    item: `/v1.0/drives/${link.driveId}/items/${link.itemId}`,
  };
}

describe("guest warm-up (prod scenario)", () => {
  test("401 accessDenied → catalyst 403 → 200 → after warmFor 401 again → next catalyst warms again", async () => {
    sim = await startSim({ scenario: "prod", clock: "manual", behaviours: {} });
    sim.setBehaviours("alice", { warmUp: { warmForMs: 5.2 * HOUR } });
    const p = paths(sim);

    const cold = await get(sim, p.share, sim.token("alice"));
    expect(cold.status).toBe(401);
    expect(cold.json.error.code).toBe("accessDenied");
    // Items reached through the link are gated the same way.
    expect((await get(sim, p.item, sim.token("alice"))).status).toBe(401);

    const cat = await get(sim, p.catalyst, sim.token("alice"));
    expect(cat.status).toBe(403);
    expect(cat.json.error.code).toBe("accessDenied");

    const warm = await get(sim, p.share, sim.token("alice"));
    expect(warm.status).toBe(200);
    expect(warm.json.name).toBe("Q1 Plan.docx");
    expect((await get(sim, `${p.item}/content`, sim.token("alice"))).text).toContain("Q1 plan");

    sim.clock.advance(5.2 * HOUR - 1000);
    expect((await get(sim, p.share, sim.token("alice"))).status).toBe(200);
    sim.clock.advance(1000);
    const expired = await get(sim, p.share, sim.token("alice"));
    expect(expired.status).toBe(401);
    expect(expired.json.error.code).toBe("accessDenied");

    expect((await get(sim, p.catalyst, sim.token("alice"))).status).toBe(403);
    expect((await get(sim, p.share, sim.token("alice"))).status).toBe(200);

    const log = sim.requests.filter((r) => r.path === p.share).map((r) => [r.status, r.behaviour ?? null]);
    expect(log).toEqual([[401, "warmUp"], [200, null], [200, null], [401, "warmUp"], [200, null]]);
  });

  test("the scenario default: warm-up on for alice, 90 minutes", async () => {
    sim = await startSim({ clock: "manual" });
    const p = paths(sim);
    const token = sim.token("alice");
    expect((await get(sim, p.share, token)).status).toBe(401);
    await get(sim, p.catalyst, token);
    expect(sim.warmState("alice")).toMatchObject({ warm: true });
    expect(sim.warmState("alice").grantedUntil! - sim.warmState("alice").grantedFrom!).toBe(90 * 60_000);
    expect((await get(sim, p.share, token)).status).toBe(200);
  });

  test("propagation delay: access starts only after the delay", async () => {
    sim = await startSim({
      clock: "manual",
      behaviours: { alice: { warmUp: { warmForMs: HOUR, propagationDelayMs: 30_000 } } },
    });
    const p = paths(sim);
    await get(sim, p.catalyst, sim.token("alice"));
    expect((await get(sim, p.share, sim.token("alice"))).status).toBe(401);
    sim.clock.advance(29_999);
    expect((await get(sim, p.share, sim.token("alice"))).status).toBe(401);
    sim.clock.advance(1);
    expect((await get(sim, p.share, sim.token("alice"))).status).toBe(200);
    sim.clock.advance(HOUR);
    expect((await get(sim, p.share, sim.token("alice"))).status).toBe(401);
  });

  test("custom catalysts, fail status and code", async () => {
    sim = await startSim({
      clock: "manual",
      behaviours: { alice: { warmUp: { warmForMs: HOUR, catalysts: ["GET /me"], failStatus: 403, failCode: "notAllowed" } } },
    });
    const p = paths(sim);
    const t = sim.token("alice");
    await get(sim, p.catalyst, t); // no longer a catalyst
    const r = await get(sim, p.share, t);
    expect([r.status, r.json.error.code]).toEqual([403, "notAllowed"]);
    expect((await get(sim, "/beta/me", t)).status).toBe(200);
    expect((await get(sim, p.share, t)).status).toBe(200);
  });

  test("members and apps are never gated; guests never reach what no link shares", async () => {
    sim = await startSim({ clock: "manual" });
    const p = paths(sim);
    expect((await get(sim, p.share, sim.token("megan"))).status).toBe(200);
    expect((await get(sim, p.share, sim.token("daemon"))).status).toBe(200);
    const budget = sim.scenario.items.find((i) => i.name === "Budget.xlsx")!;
    await get(sim, p.catalyst, sim.token("alice"));
    expect((await get(sim, `/v1.0/drives/${budget.driveId}/items/${budget.id}`, sim.token("alice"))).status).toBe(403);
    expect((await get(sim, `/v1.0/drives/${budget.driveId}/root/children`, sim.token("alice"))).status).toBe(403);
  });

  test("runtime change: turning warm-up off makes the share work at once", async () => {
    sim = await startSim({ clock: "manual" });
    const p = paths(sim);
    expect((await get(sim, p.share, sim.token("alice"))).status).toBe(401);
    sim.setBehaviours("alice", undefined);
    expect((await get(sim, p.share, sim.token("alice"))).status).toBe(200);
  });
});

describe("lab scenario", () => {
  test("same shape, other ids, no warm-up", async () => {
    sim = await startSim({ scenario: "lab", clock: "manual" });
    const p = paths(sim);
    expect(sim.behaviours("alice")).toBeUndefined();
    const r = await get(sim, p.share, sim.token("alice"));
    expect(r.status).toBe(200);
    expect(r.json.name).toBe("Q1 Plan.docx");
    expect(sim.scenario.tenant.domain).toBe("contosolab.onmicrosoft.com");
  });
});
