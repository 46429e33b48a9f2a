// What the reports say: the headline counts refusals and episodes, the never-recovered
// resources are named in every format, the exchange count says where $batch parts make
// it differ from the recorded count, and the text report states the precision formula.
import { describe, expect, it } from "vitest";
import { analyzeInputs, StreamCounter, type AnalysisDoc } from "../../src/analyze/analysis.js";
import type { Call, Inputs } from "../../src/analyze/inputs.js";
import { renderHtml } from "../../src/analyze/report-html.js";
import { renderJson } from "../../src/analyze/report-json.js";
import { renderText } from "../../src/analyze/report-text.js";
import { call, GROUP_DRIVE, ME, script, SHARE, type Step } from "./helpers.js";

function fakeInputs(calls: Call[]): Inputs {
  return {
    sources: [],
    calls: function* () {
      yield* calls;
    },
    details: () => undefined,
    tokenClaims: () => undefined,
    identity: () => undefined,
    close: () => undefined,
  };
}

const analyze = (calls: Call[]): AnalysisDoc => analyzeInputs(fakeInputs(calls));

/** Three episodes of two refusals each, the catalyst before every recovery; bob is refused /me twice for good. */
function seedSteps(): Step[] {
  const steps: Step[] = [];
  for (let k = 0; k < 3; k++) {
    const t = k * 1000;
    steps.push(
      { t, path: SHARE, status: 401 },
      { t: t + 1, path: ME, status: 200 },
      { t: t + 2, path: SHARE, status: 401 },
      { t: t + 3, path: GROUP_DRIVE, status: 403 },
      { t: t + 4, path: SHARE, status: 200 },
    );
  }
  steps.push({ t: 5000, who: "bob", path: ME, status: 403 }, { t: 5060, who: "bob", path: ME, status: 403 });
  return steps;
}

describe("the headline", () => {
  it("counts refusals (2 per episode) and episodes (flips), not flips as failures", () => {
    const doc = analyze(script(seedSteps()));
    expect(doc.flips).toHaveLength(3);
    expect(doc.flips.map((f) => f.failure.refusals)).toEqual([2, 2, 2]);
    expect(doc.summary.headline).toMatch(
      /^GET \/v1\.0\/shares\/\{shareId\}\/driveItem was refused 6 times \(401 accessDenied\) in 3 episodes for alice, and each time access came back right after GET \/v1\.0\/groups\/\{id\}\/drive \(403\); /,
    );
  });

  it("one refusal in one episode is 'once', with no episode count", () => {
    const doc = analyze(
      script([
        { t: 0, path: SHARE, status: 401 },
        { t: 1, path: GROUP_DRIVE, status: 403 },
        { t: 2, path: SHARE, status: 200 },
      ]),
    );
    expect(doc.summary.headline).toMatch(/^GET \/v1\.0\/shares\/\{shareId\}\/driveItem was refused once \(401 accessDenied\) for alice, and access came back right after /);
  });

  it("a recovery without a catalyst says how access came back", () => {
    const doc = analyze(
      script([
        { t: 0, path: SHARE, status: 403 },
        { t: 1, path: SHARE, status: 403 },
        { t: 9, path: SHARE, status: 200 },
      ]),
    );
    expect(doc.summary.headline).toMatch(/^GET \/v1\.0\/shares\/\{shareId\}\/driveItem was refused 2 times \(403 accessDenied\) for alice, and access came back on a plain retry/);
  });
});

describe("never-recovered resources", () => {
  const calls = script(seedSteps());
  const bobLast = calls[calls.length - 1]!;
  const doc = analyze(calls);

  it("are listed in the JSON, with the count kept in summary", () => {
    const json = JSON.parse(renderJson(doc));
    // alice's catalyst call (403 three times) never worked either; bob's /me never did.
    expect(json.summary.neverRecovered).toBe(2);
    expect(json.neverRecovered.map((x: { identity: { key: string }; template: string; refusals: number }) => [x.identity.key, x.template, x.refusals])).toEqual([
      ["alice", "GET /v1.0/groups/{id}/drive", 3],
      ["bob", "GET /v1.0/me", 2],
    ]);
    const u = json.neverRecovered[1];
    expect(u).toMatchObject({
      identity: { key: "bob" },
      template: "GET /v1.0/me",
      resource: "GET https://graph.microsoft.com/v1.0/me",
      status: 403,
      errorCode: "accessDenied",
      refusals: 2,
      firstAt: "2026-02-10T10:23:20.000Z",
      lastAt: "2026-02-10T10:24:20.000Z",
    });
    // The last refusal's request-id and exchange, not the first's.
    expect(u.lastRequestId).toBe(bobLast.requestId);
    expect(u.lastExchangeId).toBe(bobLast.id);
  });

  it("are named in the text report and in the HTML", () => {
    const u = doc.neverRecovered[1]!;
    const text = renderText(doc, { color: false });
    expect(text).toContain("2 refused resources never recovered (listed below)");
    expect(text).toContain(
      `GET /v1.0/me for bob (bob): 403 accessDenied, refused 2 times, 2026-02-10T10:23:20.000Z → 2026-02-10T10:24:20.000Z, last request-id ${u.lastRequestId}`,
    );
    const html = renderHtml(doc);
    expect(html).toContain("<h2>Never recovered</h2>");
    expect(html).toMatch(new RegExp(`<tr><td>bob<br>.*<code>GET /v1\\.0/me</code>.*403 accessDenied</td><td>2</td><td><code>2026-02-10T10:23:20\\.000Z</code></td><td><code>2026-02-10T10:24:20\\.000Z</code></td><td><code>${u.lastRequestId}</code>`));
  });

  it("lists the most refused first", () => {
    const d = analyze(
      script([
        { t: 0, who: "carol", path: ME, status: 401 },
        { t: 1, who: "dave", path: ME, status: 403 },
        { t: 2, who: "dave", path: ME, status: 403 },
        { t: 3, who: "dave", path: ME, status: 403 },
      ]),
    );
    expect(d.neverRecovered.map((u) => [u.identity.key, u.refusals])).toEqual([
      ["dave", 3],
      ["carol", 1],
    ]);
  });
});

describe("exchange counts", () => {
  it("says where $batch parts make the logical count differ from the recorded one", () => {
    const parts = [call({ t: 0, path: SHARE, status: 401 }), call({ t: 0, path: ME, status: 200 })].map((c) => ({ ...c, id: `env1.${c.id}`, parentId: "env1" }));
    const calls = [...parts, call({ t: 1, path: GROUP_DRIVE, status: 403 })];
    const doc = analyze(calls);
    expect(doc.exchanges).toBe(3);
    expect(doc.recorded).toBe(2);
    const text = renderText(doc, { color: false });
    expect(text.split("\n")[0]).toBe("graphtap analyze: 3 exchanges (2 recorded; $batch parts counted one each) from ");
    expect(renderHtml(doc)).toContain("3 exchanges (2 recorded; $batch parts counted one each)");
  });

  it("says nothing more when they agree", () => {
    const doc = analyze(script(seedSteps()));
    expect(doc.recorded).toBe(doc.exchanges);
    expect(renderText(doc, { color: false }).split("\n")[0]).toBe(`graphtap analyze: ${doc.exchanges} exchanges from `);
  });
});

describe("the text report's score line", () => {
  it("states the smoothed precision formula, worked for the top catalyst", () => {
    const doc = analyze(script(seedSteps()));
    const text = renderText(doc, { color: false });
    // 3 flips, none stayed-failed: (3 + 1) / (3 + 0 + 2) = 0.80, shown at 100% support.
    expect(text).toContain("  precision = (flips + 1) / (flips + stayed-failed + 2), smoothed; #1: (3 + 1) / (3 + 0 + 2) = 0.80\n");
    expect(text).toMatch(/1\. GET \/v1\.0\/groups\/\{id\}\/drive .*\(support 100%\), 0 stayed-failed, score 0\.80/);
  });
});

describe("double-counting", () => {
  const base = call({ t: 0, path: SHARE, status: 401 });

  it("counts the same exchange id read from two inputs", () => {
    const c = new StreamCounter();
    c.push(base);
    c.push({ ...base, source: 1 });
    expect([c.sameId, c.sameRequest]).toEqual([1, 0]);
    expect([...c.dupSources]).toEqual([0, 1]);
  });

  it("counts the same request recorded twice under different ids (a HAR imported twice)", () => {
    const c = new StreamCounter();
    c.push(base);
    c.push({ ...base, id: "other-id" });
    expect([c.sameId, c.sameRequest]).toEqual([0, 1]);
  });

  it("does not count distinct calls in the same millisecond, nor calls without a request-id", () => {
    const c = new StreamCounter();
    c.push(base);
    c.push({ ...base, id: "b", requestId: "another" });
    c.push({ ...base, id: "c", status: 200, requestId: undefined, clientRequestId: undefined });
    c.push({ ...base, id: "d", status: 200, requestId: undefined, clientRequestId: undefined });
    // The same request-id a millisecond later is another exchange window: not compared.
    c.push({ ...base, id: "e", startedAt: base.startedAt + 1 });
    expect([c.sameId, c.sameRequest]).toEqual([0, 0]);
    expect(c.recorded).toBe(5);
  });

  it("warns once, in the document, when traffic is read twice", () => {
    const calls = script(seedSteps());
    const doubled = calls.flatMap((c) => [c, { ...c, id: `${c.id}-again` }]);
    const doc = analyze(doubled);
    expect(doc.duplicates.sameRequest).toBe(calls.length);
    expect(doc.warnings).toHaveLength(1);
    expect(doc.warnings[0]).toMatch(/figures may be double-counted/);
    expect(analyze(calls).warnings).toEqual([]);
  });
});
