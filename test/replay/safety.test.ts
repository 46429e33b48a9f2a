// A map file must never be able to move a token off https or to another host.
import { describe, expect, it } from "vitest";
import type { Exchange } from "../../src/exchange/types.js";
import { Rewriter } from "../../src/replay/map.js";
import { planStep } from "../../src/replay/plan.js";
import { TokenBook } from "../../src/replay/tokens.js";

const recorded: Exchange = {
  id: "EX1",
  sessionId: "S",
  startedAt: 1_780_000_000_000,
  durationMs: 3,
  method: "GET",
  url: "https://graph.microsoft.com/v1.0/me",
  httpVersion: "1.1",
  requestHeaders: [["authorization", "Bearer 0123456789abcdef"]],
  status: 200,
  responseHeaders: [],
  token: { hash: "0123456789abcdef", claims: { tid: "t", oid: "o", upn: "a@contoso.com" } },
};

function plan(replace: Record<string, string>, rewriter: Rewriter = new Rewriter(replace)) {
  return planStep(recorded, 1, {
    rewriter,
    upstreams: new Map(),
    allowWrites: false,
    tokens: new TokenBook({ token: "lab-token" }, {}),
  });
}

describe("replay safety after rewriting", () => {
  it.each([
    ["userinfo trick", { "/v1.0": "@evil.example/v1.0" }],
    ["host suffix trick", { "/v1.0": ".evil.example/v1.0" }],
  ])("a map entry cannot send the token elsewhere (%s)", (_name, replace) => {
    const planned = plan(replace);
    if (!("step" in planned)) throw new Error(JSON.stringify(planned));
    expect(new URL(planned.step.sendUrl).hostname).toBe("graph.microsoft.com");
  });

  it.each([
    ["another host", "https://evil.example/v1.0/me"],
    ["plain http", "http://graph.microsoft.com/v1.0/me"],
    ["userinfo", "https://graph.microsoft.com@evil.example/v1.0/me"],
  ])("whatever a rewriter returns, the token is not sent to %s", (_name, target) => {
    const rogue = new Rewriter({});
    rogue.url = () => target;
    const planned = plan({}, rogue);
    expect("skip" in planned, JSON.stringify(planned)).toBe(true);
    if ("skip" in planned) expect(planned.skip.reason).toMatch(/only sent to graph\.microsoft\.com/);
  });

  it("a rewritten path stays a path under the same origin", () => {
    const url = new Rewriter({ "/v1.0": "@evil.example/v1.0" }).url("https://graph.microsoft.com/v1.0/me");
    expect(new URL(url).hostname).toBe("graph.microsoft.com");
  });

  it("an ordinary map still plans the step", () => {
    const planned = plan({ "11111111-2222-4333-8444-555555555555": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee" });
    expect("step" in planned).toBe(true);
  });
});
