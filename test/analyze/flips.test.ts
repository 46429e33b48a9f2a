// The algorithm over in-memory calls: flips, explanations, windows, warm periods,
// catalyst ranking and bounded memory.
import { describe, expect, it } from "vitest";
import { attributeCatalysts, rankCatalysts } from "../../src/analyze/catalysts.js";
import { FlipFinder, findFlips } from "../../src/analyze/flips.js";
import { mergeByTime, type Call } from "../../src/analyze/inputs.js";
import { call, GROUP_DRIVE, ME, script, SHARE } from "./helpers.js";

const H = 3600;

/** The seed pattern: 401 on the share, 403 on the group drive, 200 on the share; warm for 5 h; three times. */
function seed(who = "alice", withNoise = true): Call[] {
  const steps = [];
  for (let cycle = 0; cycle < 3; cycle++) {
    const t = cycle * 5 * H;
    if (withNoise) steps.push({ t, who, path: ME, status: 200 });
    steps.push({ t: t + 1, who, path: SHARE, status: 401 });
    if (withNoise) steps.push({ t: t + 2, who, path: ME, status: 200 });
    steps.push({ t: t + 3, who, path: GROUP_DRIVE, status: 403 });
    steps.push({ t: t + 4, who, path: SHARE, status: 200 });
    steps.push({ t: t + 2 * H, who, path: SHARE, status: 200 });
  }
  return script(steps);
}

describe("flip detection", () => {
  it("finds the seed pattern three times, with the window, wait and warm periods", () => {
    const scan = findFlips(seed());
    expect(scan.exchanges).toBe(18);
    expect(scan.flips).toHaveLength(3);
    const [a, b, c] = scan.flips;
    expect(a!.explanation).toBe("catalyst");
    expect(a!.template).toBe("GET /v1.0/shares/{shareId}/driveItem");
    expect(a!.failure.status).toBe(401);
    expect(a!.success.status).toBe(200);
    expect(a!.between.map((x) => x.template)).toEqual(["GET /v1.0/me", "GET /v1.0/groups/{id}/drive"]);
    expect(a!.betweenCount).toBe(2);
    expect(a!.waitSeconds).toBe(3);
    // Refused again at the start of the next cycle: 5 h + 1 s − 4 s after the success.
    expect(a!.warmEndedBy).toBe("failure");
    expect(a!.warmFor).toBe(5 * H - 3);
    expect(a!.warmCalls).toBe(2);
    expect(b!.warmEndedBy).toBe("failure");
    expect(c!.warmEndedBy).toBe("end-of-capture");
    expect(c!.warmFor).toBe(2 * H - 4);
    // The group drive never succeeds: a pair that never recovered.
    expect(scan.neverRecovered).toBe(1);
  });

  it("counts a run of refusals, keeps the last as the failure and remembers since when", () => {
    const scan = findFlips(
      script([
        { t: 0, path: SHARE, status: 401 },
        { t: 10, path: SHARE, status: 401 },
        { t: 20, path: SHARE, status: 403 },
        { t: 21, path: GROUP_DRIVE, status: 403 },
        { t: 22, path: SHARE, status: 200 },
      ]),
    );
    expect(scan.flips).toHaveLength(1);
    const f = scan.flips[0]!;
    expect(f.refusals).toBe(3);
    expect(f.failure.status).toBe(403);
    expect(f.firstFailure.startedAt).toBe(f.failure.startedAt - 20_000);
    expect(f.explanation).toBe("catalyst");
  });

  it("explains a success with a different token as token-refresh, before anything else", () => {
    const scan = findFlips(
      script([
        { t: 0, path: SHARE, status: 401, token: "t1" },
        { t: 1, path: ME, status: 200, token: "t1" },
        { t: 2, path: SHARE, status: 200, token: "t2" },
      ]),
    );
    expect(scan.flips.map((f) => f.explanation)).toEqual(["token-refresh"]);
  });

  it("explains a success with nothing in between as retry, with the wait", () => {
    const scan = findFlips(
      script([
        { t: 0, path: SHARE, status: 401 },
        { t: 30, path: SHARE, status: 200 },
      ]),
    );
    expect(scan.flips[0]!.explanation).toBe("retry");
    expect(scan.flips[0]!.waitSeconds).toBe(30);
    expect(scan.flips[0]!.betweenCount).toBe(0);
  });

  it("is not a flip: 404 then 200, or 401 for one identity and 200 for another, or 429 then 200", () => {
    const scan = findFlips(
      script([
        { t: 0, path: SHARE, status: 404 },
        { t: 1, path: SHARE, status: 200 },
        { t: 2, who: "bob", path: GROUP_DRIVE, status: 401 },
        { t: 3, who: "carol", path: GROUP_DRIVE, status: 200 },
        { t: 4, who: "dave", path: ME, status: 429 },
        { t: 5, who: "dave", path: ME, status: 200 },
      ]),
    );
    expect(scan.flips).toEqual([]);
  });

  it("treats a different query or method as a different resource, but not a reordered query", () => {
    const scan = findFlips(
      script([
        { t: 0, path: `${SHARE}?$select=id,name&$expand=x`, status: 401 },
        { t: 1, path: `${SHARE}?$select=id`, status: 200 },
        { t: 2, method: "PATCH", path: `${SHARE}?$select=id,name&$expand=x`, status: 200 },
        { t: 3, path: `${SHARE}?$expand=x&$select=id,name`, status: 200 },
      ]),
    );
    expect(scan.flips).toHaveLength(1);
    expect(scan.flips[0]!.success.startedAt - scan.flips[0]!.failure.startedAt).toBe(3000);
    expect(scan.flips[0]!.betweenCount).toBe(2);
  });

  it("caps `between` to the calls closest to the success and counts the rest", () => {
    const steps = [{ t: 0, path: SHARE, status: 401 as number }];
    for (let i = 0; i < 50; i++) steps.push({ t: 1 + i, path: `${ME}/messages/${i}`, status: 200 });
    steps.push({ t: 100, path: SHARE, status: 200 });
    const scan = findFlips(script(steps), { maxBetween: 10 });
    const f = scan.flips[0]!;
    expect(f.between).toHaveLength(10);
    expect(f.betweenCount).toBe(50);
    expect(f.between.at(-1)!.exchangeId).toBe(scan.flips[0]!.success.id.replace(/\d+$/, (d) => String(Number(d) - 1).padStart(6, "0")));
    // Templates still cover the whole window.
    expect(f.templates.find((t) => t.template === "GET /v1.0/me/messages/{n}")?.calls).toBe(50);
  });

  it("keeps memory bounded: the log is dropped when nothing is pending and capped when something always is", () => {
    const finder = new FlipFinder({ maxLog: 100 });
    const steps: Call[] = [];
    // One refusal that never recovers pins the identity's log; 10,000 calls follow.
    steps.push(call({ t: 0, path: GROUP_DRIVE, status: 403 }));
    for (let i = 0; i < 10_000; i++) steps.push(call({ t: 1 + i, path: ME, status: 200 }));
    steps.push(call({ t: 20_000, path: SHARE, status: 401 }));
    steps.push(call({ t: 20_001, path: `${GROUP_DRIVE}/root`, status: 200 }));
    steps.push(call({ t: 20_002, path: SHARE, status: 200 }));
    for (const c of steps) finder.push(c);
    const state = (finder as unknown as { states: Map<string, { log: unknown[] }> }).states.get("alice")!;
    expect(state.log.length).toBeLessThanOrEqual(1024 + 100);
    const scan = finder.finish();
    expect(scan.flips).toHaveLength(1);
    expect(scan.flips[0]!.between.map((b) => b.template)).toEqual(["GET /v1.0/groups/{id}/drive/root"]);
  });

  it("flags a window whose beginning fell off the capped log, but still counts it", () => {
    const steps: Call[] = [call({ t: 0, path: SHARE, status: 401 })];
    for (let i = 0; i < 3000; i++) steps.push(call({ t: 1 + i, path: ME, status: 200 }));
    steps.push(call({ t: 5000, path: SHARE, status: 200 }));
    const scan = findFlips(steps, { maxLog: 500 });
    expect(scan.flips[0]!.windowTruncated).toBe(true);
    expect(scan.flips[0]!.betweenCount).toBe(3000);
  });
});

describe("catalyst ranking", () => {
  it("ranks the group drive first and names it for every flip; GET /me, also seen between refusals that stayed refusals, loses", () => {
    const calls = [
      ...seed(),
      // Bob's share never recovers, and he polls /me between his refusals.
      ...script([
        { t: 0, who: "bob", path: SHARE, status: 401 },
        { t: 1, who: "bob", path: ME, status: 200 },
        { t: 2, who: "bob", path: SHARE, status: 401 },
        { t: 3, who: "bob", path: ME, status: 200 },
        { t: 4, who: "bob", path: SHARE, status: 401 },
      ]),
    ].sort((a, b) => a.startedAt - b.startedAt);
    const scan = findFlips(calls);
    // Bob's two share windows; Alice's group-drive calls also stay refused with /me between
    // them, but the group drive never flips, so those windows do not count against /me.
    expect(scan.failWindowTemplates.get("GET /v1.0/shares/{shareId}/driveItem")?.get("GET /v1.0/me")).toBe(2);
    expect(scan.failWindowTemplates.get("GET /v1.0/groups/{id}/drive")?.get("GET /v1.0/me")).toBe(2);
    const ranks = rankCatalysts(scan.flips, scan.failWindowTemplates);
    expect(ranks.map((r) => r.template)).toEqual(["GET /v1.0/groups/{id}/drive", "GET /v1.0/me"]);
    expect(ranks[0]).toMatchObject({ flips: 3, support: 1, failWindows: 0, statuses: [403] });
    expect(ranks[0]!.score).toBeCloseTo(0.8);
    expect(ranks[1]).toMatchObject({ flips: 3, support: 1, failWindows: 2, failWindowsAll: 4 });
    expect(ranks[1]!.score).toBeCloseTo(4 / 7);
    const named = attributeCatalysts(scan.flips, ranks);
    expect([...named.values()]).toEqual(Array(3).fill("GET /v1.0/groups/{id}/drive"));
    expect(ranks[0]!.attributed).toBe(3);
  });

  it("ignores token-refresh and retry flips, and names no catalyst for them", () => {
    const scan = findFlips(
      script([
        { t: 0, path: SHARE, status: 401, token: "a" },
        { t: 1, path: ME, status: 200, token: "a" },
        { t: 2, path: SHARE, status: 200, token: "b" },
        { t: 3, who: "bob", path: SHARE, status: 401 },
        { t: 4, who: "bob", path: SHARE, status: 200 },
      ]),
    );
    const ranks = rankCatalysts(scan.flips, scan.failWindowTemplates);
    expect(ranks).toEqual([]);
    expect([...attributeCatalysts(scan.flips, ranks).values()]).toEqual([null, null]);
  });

  it("prefers a pattern seen three times over one co-occurrence (the prior)", () => {
    const calls = [
      ...seed("alice", false),
      ...script([
        { t: 100, who: "erin", path: SHARE, status: 401 },
        { t: 101, who: "erin", path: "/v1.0/sites/root", status: 200 },
        { t: 102, who: "erin", path: SHARE, status: 200 },
      ]),
    ].sort((a, b) => a.startedAt - b.startedAt);
    const scan = findFlips(calls);
    const ranks = rankCatalysts(scan.flips, scan.failWindowTemplates);
    expect(ranks[0]!.template).toBe("GET /v1.0/groups/{id}/drive");
    expect(ranks[1]!.template).toBe("GET /v1.0/sites/root");
    const named = attributeCatalysts(scan.flips, ranks);
    expect(named.get(scan.flips.find((f) => f.identityKey === "erin")!)).toBe("GET /v1.0/sites/root");
  });
});

describe("merging inputs", () => {
  it("merges sorted streams by time, ties in input order", () => {
    const a = [1, 3, 3, 7].map((t) => ({ ...call({ t, path: ME, status: 200 }), source: 0 }));
    const b = [0, 3, 8].map((t) => ({ ...call({ t, path: ME, status: 200 }), source: 1 }));
    const c: Call[] = [];
    const out = [...mergeByTime([a[Symbol.iterator](), b[Symbol.iterator](), c[Symbol.iterator]()])];
    expect(out.map((x) => [x.startedAt - out[0]!.startedAt, x.source])).toEqual([
      [0, 1], [1000, 0], [3000, 0], [3000, 0], [3000, 1], [7000, 0], [8000, 1],
    ]);
  });
});
