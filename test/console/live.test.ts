import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { LiveConsole } from "../../src/console/live.js";
import type { Exchange } from "../../src/exchange/types.js";

const GUEST = { hash: "aaaaaaaaaaaaaaaa", claims: { tid: "t-1", oid: "o-guest", upn: "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com" } };
const SHARE = "https://graph.microsoft.com/v1.0/shares/u!aHR0cHM6Ly9jb250b3NvLnNoYXJlcG9pbnQuY29tL3g/driveItem";
const DRIVE = "https://graph.microsoft.com/v1.0/groups/6f1c2a3b-1111-4222-8333-944455556666/drive";

let n = 0;
function ex(url: string, status: number, code?: string): Exchange {
  n += 1;
  return {
    id: `EX${n}`,
    sessionId: "S",
    startedAt: 1_780_000_000_000 + n * 1000,
    durationMs: 5,
    method: "GET",
    url,
    httpVersion: "1.1",
    requestHeaders: [["authorization", `Bearer ${GUEST.hash}`]],
    status,
    responseHeaders: [["content-type", "application/json"]],
    ...(code ? { responseBody: { bytes: Buffer.from(JSON.stringify({ error: { code, message: "x" } })), wireSize: 40, truncated: false } } : {}),
    token: GUEST,
  };
}

function capture(flips?: boolean) {
  let text = "";
  const out = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  const live = new LiveConsole({ out, color: false, ...(flips === undefined ? {} : { flips }) });
  return { live, text: () => text };
}

describe("live console", () => {
  it("reports a flip the moment the refused resource succeeds, with what came in between", () => {
    const { live, text } = capture();
    live.exchange(ex(SHARE, 401, "accessDenied"));
    live.exchange(ex(DRIVE, 403, "accessDenied"));
    expect(text()).not.toContain("▶ flip");
    live.exchange(ex(SHARE, 200));
    const line = text().split("\n").find((l) => l.startsWith("▶ flip"));
    expect(line).toBe(
      "▶ flip GET /v1.0/shares/{shareId}/driveItem 401 accessDenied → 200 for alice_fabrikam.com#EXT#@contoso.onmicrosoft.com " +
        "after GET /v1.0/groups/{id}/drive (403)",
    );
    expect(live.summary("c.sqlite")).toContain("flips seen: 1");
  });

  it("says so when nothing was called in between, and can be turned off", () => {
    const a = capture();
    a.live.exchange(ex(SHARE, 401, "accessDenied"));
    a.live.exchange(ex(SHARE, 200));
    expect(a.text()).toMatch(/▶ flip .* on a plain retry after 1\.0 s/);
    const b = capture(false);
    b.live.exchange(ex(SHARE, 401, "accessDenied"));
    b.live.exchange(ex(SHARE, 200));
    expect(b.text()).not.toContain("▶ flip");
    expect(b.live.summary()).not.toContain("flips seen");
  });
});
