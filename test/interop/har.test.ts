import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeFiles } from "../../src/analyze/analysis.js";
import { UserError } from "../../src/errors.js";
import type { Exchange } from "../../src/exchange/types.js";
import { identityOf } from "../../src/graph/identity.js";
import { exportHar } from "../../src/interop/har-export.js";
import { importHar } from "../../src/interop/har-import.js";
import type { HarLog } from "../../src/interop/har-types.js";
import { CaptureReader } from "../../src/recorder/index.js";
import { buildCapture, GUEST_KEY, type Fixture } from "../browse/capture-fixture.js";
import { tempDir } from "../helpers/tmp.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/har/", import.meta.url));

let fx: Fixture;
let dir: string;
let harFile: string;
let har: HarLog;

beforeAll(() => {
  dir = tempDir();
  fx = buildCapture(dir);
  harFile = join(dir, "capture.har");
  const reader = CaptureReader.open(fx.file);
  try {
    expect(exportHar(reader, harFile).entries).toBe(fx.exchanges.length);
  } finally {
    reader.close();
  }
  har = JSON.parse(readFileSync(harFile, "utf8")) as HarLog;
});

function readAll(file: string, sessionId?: string): Exchange[] {
  const reader = CaptureReader.open(file);
  try {
    return [...reader.exchanges(sessionId ? { sessionId } : {})];
  } finally {
    reader.close();
  }
}

describe("HAR export", () => {
  it("is HAR 1.2 with the fields DevTools and Fiddler require", () => {
    expect(har.log.version).toBe("1.2");
    expect(har.log.creator.name).toBe("graphtap");
    expect(har.log.pages?.[0]?.id).toBe(fx.sessionId);
    for (const e of har.log.entries) {
      expect(e.pageref).toBe(fx.sessionId);
      expect(Number.isNaN(Date.parse(e.startedDateTime))).toBe(false);
      expect(e.request.cookies).toEqual([]);
      expect(e.request.headersSize).toBe(-1);
      expect(e.response.headersSize).toBe(-1);
      expect(e.response.redirectURL).toBe("");
      expect(e.cache).toEqual({});
      // HAR: time is the sum of the non-negative timings.
      expect(e.timings.send + e.timings.wait + e.timings.receive).toBeCloseTo(e.time, 5);
      expect(e.request.httpVersion).toBe("HTTP/1.1");
      expect(typeof e.response.content.mimeType).toBe("string");
    }
  });

  it("query strings, post data, binary content as base64, a failed request as status 0", () => {
    const post = har.log.entries.find((e) => e.request.method === "POST")!;
    expect(post.request.queryString).toEqual([{ name: "$select", value: "id,name" }]);
    expect(post.request.postData).toEqual({ mimeType: "application/json", text: '{"name":"New Folder","folder":{}}' });
    const photo = har.log.entries.find((e) => e.request.url.endsWith("/photo/$value"))!;
    expect(photo.response.content.encoding).toBe("base64");
    expect(Buffer.from(photo.response.content.text!, "base64")).toEqual(fx.exchanges[5]!.responseBody!.bytes);
    const failed = har.log.entries.find((e) => e.request.url.endsWith("/sites/root"))!;
    expect(failed.response.status).toBe(0);
    expect(failed.response._error).toContain("ECONNRESET");
    expect(har.log.entries[0]!.response.statusText).toBe("Unauthorized");
  });

  it("keeps secrets redacted: only the token hash, never a raw token", () => {
    const text = readFileSync(harFile, "utf8");
    expect(text).not.toContain("guest-token-1");
    const auth = har.log.entries[0]!.request.headers.find((h) => h.name === "authorization")!;
    expect(auth.value).toBe(`Bearer ${fx.exchanges[0]!.token!.hash}`);
    expect(har.log.entries[0]!._graphtap.identityKey).toBe(GUEST_KEY);
    expect(har.log.entries[0]!._graphtap.claims?.["upn"]).toContain("#EXT#");
  });
});

describe("capture → HAR → import", () => {
  it("gives back the same exchanges: ids, method, url, status, bodies, identity, timing", () => {
    const out = join(dir, "imported.sqlite");
    const r = importHar(harFile, out);
    expect(r).toMatchObject({ imported: fx.exchanges.length, lossless: fx.exchanges.length, renamed: 0 });
    const reader = CaptureReader.open(out);
    const sessions = reader.sessions();
    reader.close();
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.kind).toBe("import");
    expect(sessions[0]!.source).toBe(harFile);

    const back = readAll(out);
    expect(back).toHaveLength(fx.exchanges.length);
    for (const [i, orig] of fx.exchanges.entries()) {
      const got = back[i]!;
      expect(got.sessionId).toBe(r.sessionId);
      const { sessionId: _a, ...want } = orig;
      const { sessionId: _b, ...have } = got;
      expect(have).toEqual(want);
      expect(identityOf(got.token)).toEqual(identityOf(orig.token));
    }
  });

  it("into the capture it came from: a second session, colliding ids renamed", () => {
    const copy = join(dir, "again.sqlite");
    importHar(harFile, copy);
    const r = importHar(harFile, copy);
    expect(r.renamed).toBe(fx.exchanges.length);
    const reader = CaptureReader.open(copy);
    const sessions = reader.sessions();
    reader.close();
    expect(sessions.map((s) => s.exchanges)).toEqual([fx.exchanges.length, fx.exchanges.length]);
    const second = readAll(copy, r.sessionId);
    expect(second.map((e) => e.url)).toEqual(fx.exchanges.map((e) => e.url));
    expect(second.map((e) => e.token?.hash)).toEqual(fx.exchanges.map((e) => e.token?.hash));
  });
});

describe("HAR files from other tools", () => {
  it.each([
    ["chrome-devtools.har", 3],
    ["fiddler.har", 1],
    ["charles.har", 1],
  ])("%s imports cleanly", (name, count) => {
    const out = join(tempDir(), "from-tool.sqlite");
    const r = importHar(join(FIXTURES, name), out);
    expect(r.imported).toBe(count);
    expect(r.lossless).toBe(0);
    const back = readAll(out);
    expect(back).toHaveLength(count);
    for (const ex of back) {
      expect(ex.url).toMatch(/^https:\/\/graph\.microsoft\.com\//);
      expect(ex.id).toHaveLength(26);
      expect(ex.httpVersion).not.toMatch(/^http\//i);
    }
    // Raw tokens and cookie values from the tool's file never reach the capture.
    const bytes = readFileSync(out).toString("latin1");
    expect(bytes).not.toContain("c2lnbmF0dXJl");
    expect(bytes).not.toContain("77u/PD94bWwgdmVyc2lvbj0iMS4wIj8+");
  });

  it("Chrome: identity from the token, binary content decoded, the reset entry has no status", () => {
    const out = join(tempDir(), "chrome.sqlite");
    importHar(join(FIXTURES, "chrome-devtools.har"), out);
    const [me, photo, reset] = readAll(out);
    expect(me!.status).toBe(200);
    expect(identityOf(me!.token).upn).toBe("megan@contoso.com");
    expect(JSON.parse(me!.responseBody!.bytes.toString("utf8")).displayName).toBe("Megan Bowen");
    expect(me!.requestHeaders.some(([k]) => k.startsWith(":"))).toBe(false);
    expect(photo!.responseBody!.bytes).toEqual(Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
    expect(reset!.status).toBeUndefined();
    expect(reset!.error?.message).toContain("ERR_CONNECTION_RESET");
  });

  it("Fiddler: the guest's $batch with its POST body", () => {
    const out = join(tempDir(), "fiddler.sqlite");
    importHar(join(FIXTURES, "fiddler.har"), out);
    const [batch] = readAll(out);
    expect(batch!.method).toBe("POST");
    expect(identityOf(batch!.token).guest).toBe(true);
    expect(JSON.parse(batch!.requestBody!.bytes.toString("utf8")).requests).toHaveLength(2);
  });

  it.each(["malformed-truncated.har", "malformed-entry.har"])("%s is a one-line user error", (name) => {
    const out = join(tempDir(), "never.sqlite");
    let err: unknown;
    try {
      importHar(join(FIXTURES, name), out);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/not a valid HAR file/);
    expect((err as Error).message).not.toContain("\n");
  });
});

describe("capture → HAR → import → analyze", () => {
  it("finds the same flips with the same catalyst", () => {
    const out = join(tempDir(), "for-analyze.sqlite");
    importHar(harFile, out);
    const before = analyzeFiles([fx.file]);
    const after = analyzeFiles([out]);
    expect(before.flips.length).toBeGreaterThan(0);
    const shape = (doc: typeof before) =>
      doc.flips.map((f) => [f.identity.key, f.resource, f.failure.exchangeId, f.success.exchangeId, f.explanation, f.catalyst]);
    expect(shape(after)).toEqual(shape(before));
  });

  it("analyzes graphtap's own HAR directly with the recorded identities (no import needed)", () => {
    const before = analyzeFiles([fx.file]);
    const direct = analyzeFiles([harFile]);
    const shape = (doc: typeof before) =>
      doc.flips.map((f) => [f.identity.key, f.identity.upn, f.identity.guest, f.resource, f.failure.exchangeId, f.catalyst]);
    expect(direct.flips.length).toBeGreaterThan(0);
    expect(shape(direct)).toEqual(shape(before));
  });
});
