import { readFileSync } from "node:fs";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import type { Exchange, TunnelRecord } from "../../src/exchange/types.js";
import { newId } from "../../src/exchange/id.js";
import { redactRequestHeaders } from "../../src/exchange/redact.js";
import { CaptureReader, CaptureWriter } from "../../src/recorder/index.js";
import { BASE_TIME, jwt, makeExchange, tempCapture } from "./helpers.js";

const TENANT = "11111111-2222-3333-4444-555555555555";
const HOME = "99999999-8888-7777-6666-555555555555";
const GUEST_OID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

const guestClaims = {
  tid: TENANT,
  oid: GUEST_OID,
  upn: "ann_contoso.com#EXT#@fabrikam.onmicrosoft.com",
  idp: `https://sts.windows.net/${HOME}/`,
  acct: 1,
  scp: "Files.Read.All User.Read",
  iat: 1_770_714_000,
  exp: 1_770_717_600,
};

const accessDenied = JSON.stringify({
  error: {
    code: "accessDenied",
    message: "Access denied",
    innerError: { "request-id": "req-401", "client-request-id": "cli-401", date: "2026-02-10T09:00:00" },
  },
});
const diagnostic = '{"ServerInfo":{"DataCenter":"West Europe","Slice":"E","Ring":"5","ScaleUnit":"001","RoleInstance":"AM4"}}';

/** Every optional field of an Exchange set, binary bodies included. */
function fullBatch(sessionId: string): Exchange[] {
  const envelope: Exchange = {
    id: newId(),
    sessionId,
    startedAt: BASE_TIME + 0.25,
    durationMs: 48.125,
    ttfbMs: 30.5,
    method: "POST",
    url: "https://graph.microsoft.com/v1.0/$batch",
    httpVersion: "1.1",
    requestHeaders: [
      ["host", "graph.microsoft.com"],
      ["authorization", "Bearer 0123456789abcdef"],
      ["content-type", "application/json"],
      ["x-dup", "one"],
      ["x-dup", "two"],
    ],
    requestBody: { bytes: Buffer.from('{"requests":[]}'), wireSize: 15, truncated: false },
    status: 200,
    statusText: "OK",
    responseHeaders: [
      ["content-type", "application/json"],
      ["content-encoding", "gzip"],
      ["request-id", "req-envelope"],
      ["set-cookie", "x=[redacted]; Path=/"],
    ],
    // Not valid UTF-8 on purpose: bodies are bytes, not text.
    responseBody: { bytes: Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x7f]), wireSize: 4096, truncated: true, encoding: "gzip" },
    token: { hash: "0123456789abcdef", claims: guestClaims },
    upstreamUrl: "https://127.0.0.1:9443/v1.0/$batch",
    clientAddress: "127.0.0.1:51234",
  };
  const part: Exchange = {
    id: newId(),
    sessionId,
    parentId: envelope.id,
    partId: "2",
    dependsOn: ["1"],
    sourceId: "01JSOURCE0000000000000000",
    startedAt: BASE_TIME + 0.25,
    durationMs: 48.125,
    method: "GET",
    url: "https://graph.microsoft.com/v1.0/shares/u!aHR0cHM6Ly9jb250b3NvLnNoYXJlcG9pbnQuY29t/driveItem",
    httpVersion: "1.1",
    requestHeaders: [["authorization", "Bearer 0123456789abcdef"]],
    status: 403,
    statusText: "Forbidden",
    responseHeaders: [
      ["content-type", "application/json"],
      ["x-ms-ags-diagnostic", diagnostic],
    ],
    responseBody: { bytes: Buffer.from(accessDenied), wireSize: accessDenied.length, truncated: false },
    token: { hash: "0123456789abcdef", claims: guestClaims },
  };
  const failed: Exchange = {
    id: newId(),
    sessionId,
    startedAt: BASE_TIME + 5,
    durationMs: 3,
    method: "PUT",
    url: "https://graph.microsoft.com/v1.0/me/drive/root:/a.txt:/content",
    httpVersion: "2.0",
    requestHeaders: [],
    // Present but empty is not the same as absent.
    requestBody: { bytes: Buffer.alloc(0), wireSize: 0, truncated: false },
    responseHeaders: [],
    error: { code: "ECONNRESET", message: "socket hang up", phase: "response" },
  };
  return [envelope, part, failed];
}

describe("capture round trip", () => {
  it("reads back exactly the Exchange that was written, Buffers included", () => {
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    const session = w.startSession({ kind: "proxy", label: "round trip", args: { port: 8080 } });
    const written = fullBatch(session);
    for (const ex of written) w.write(ex);
    w.close();

    const r = CaptureReader.open(file);
    const back = [...r.exchanges()];
    expect(back).toStrictEqual(written);
    expect(Buffer.isBuffer(back[0]!.responseBody!.bytes)).toBe(true);
    for (const ex of written) expect(r.exchange(ex.id)).toStrictEqual(ex);
    expect(r.exchange("missing")).toBeUndefined();
    r.close();
  });

  it("fills the Graph and identity columns, and summaries carry them", () => {
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    const session = w.startSession({ kind: "proxy" });
    const [envelope, part, failed] = fullBatch(session);
    w.write(envelope!);
    w.write(part!);
    w.write(failed!);
    w.close();

    const db = new Database(file, { readonly: true });
    const row = db.prepare("SELECT * FROM exchanges WHERE id = ?").get(part!.id) as Record<string, unknown>;
    db.close();
    expect(row).toMatchObject({
      host: "graph.microsoft.com",
      path: "/v1.0/shares/u!aHR0cHM6Ly9jb250b3NvLnNoYXJlcG9pbnQuY29t/driveItem",
      request_id: "req-401",
      client_request_id: "cli-401",
      graph_error_code: "accessDenied",
      graph_error_message: "Access denied",
      ags_diagnostic: diagnostic,
      data_center: "West Europe",
      scale_unit: "001",
      identity_key: `${TENANT}:${GUEST_OID}`,
      res_content_type: "application/json",
    });

    const r = CaptureReader.open(file);
    const sums = [...r.summaries()];
    expect(sums.map((s) => s.id)).toEqual([envelope!.id, part!.id, failed!.id]);
    expect(sums[1]).toStrictEqual({
      seq: 2,
      id: part!.id,
      sessionId: session,
      parentId: envelope!.id,
      partId: "2",
      sourceId: "01JSOURCE0000000000000000",
      startedAt: part!.startedAt,
      durationMs: 48.125,
      method: "GET",
      url: part!.url,
      status: 403,
      tokenHash: "0123456789abcdef",
      identityKey: `${TENANT}:${GUEST_OID}`,
      requestId: "req-401",
      clientRequestId: "cli-401",
      errorCode: "accessDenied",
      errorPhase: undefined,
      upstreamErrorCode: undefined,
    });
    expect(sums[2]).toMatchObject({ status: undefined, errorPhase: "response", upstreamErrorCode: "ECONNRESET", identityKey: "anonymous" });

    const ids = r.identities();
    expect(ids).toHaveLength(1);
    expect(ids[0]).toStrictEqual({
      tokenHash: "0123456789abcdef",
      identityKey: `${TENANT}:${GUEST_OID}`,
      kind: "user",
      tenantId: TENANT,
      objectId: GUEST_OID,
      upn: guestClaims.upn,
      guest: true,
      idp: guestClaims.idp,
      homeTenantId: HOME,
      claims: guestClaims,
      iat: guestClaims.iat,
      exp: guestClaims.exp,
      firstSeen: envelope!.startedAt,
      lastSeen: part!.startedAt,
    });
    expect(r.tokenClaims("0123456789abcdef")).toStrictEqual(guestClaims);
    expect(r.tokenClaims("ffffffffffffffff")).toBeUndefined();
    r.close();
  });

  it("keeps what redaction left of a token and nothing more: no raw token reaches the file", () => {
    const raw = jwt(guestClaims);
    const redacted = redactRequestHeaders([
      ["host", "graph.microsoft.com"],
      ["authorization", `Bearer ${raw}`],
      ["cookie", "session=abc123secret"],
    ]);
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    const ex = makeExchange({ requestHeaders: redacted.headers, token: redacted.token! });
    w.write(ex);
    w.close();

    const r = CaptureReader.open(file);
    const back = r.exchange(ex.id)!;
    r.close();
    const auth = back.requestHeaders.find(([n]) => n === "authorization")?.[1];
    expect(auth).toBe(`Bearer ${redacted.token!.hash}`);
    expect(back.token).toStrictEqual(redacted.token);

    // Look at every byte SQLite wrote (the WAL is checkpointed into the file on close).
    const bytes = readAll(file);
    const signature = raw.split(".")[2]!;
    expect(bytes.includes(raw)).toBe(false);
    expect(bytes.includes(signature)).toBe(false);
    expect(bytes.includes("abc123secret")).toBe(false);
    expect(bytes.includes(redacted.token!.hash)).toBe(true);
  });

  it("round-trips tunnels and lists sessions with their counts", () => {
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    const first = w.startSession({ kind: "replay", label: "lab", args: { allowWrites: false }, source: "prod.sqlite" });
    w.write(makeExchange({ sessionId: first }));
    w.write(makeExchange({ sessionId: first }));
    const tunnels: TunnelRecord[] = [
      { id: newId(), sessionId: first, host: "login.microsoftonline.com", port: 443, startedAt: BASE_TIME, durationMs: 812, bytesUp: 2048, bytesDown: 9000 },
      {
        id: newId(),
        sessionId: first,
        host: "Example.COM",
        port: 8443,
        startedAt: BASE_TIME + 10,
        durationMs: 5,
        bytesUp: 0,
        bytesDown: 0,
        error: { code: "ECONNREFUSED", message: "connect ECONNREFUSED", phase: "connect" },
        clientAddress: "127.0.0.1:5000",
      },
    ];
    for (const t of tunnels) w.writeTunnel(t);
    w.flush();
    const second = w.startSession({ kind: "demo" });
    w.write(makeExchange({ sessionId: second }));
    w.close();

    const r = CaptureReader.open(file);
    expect([...r.tunnels()]).toStrictEqual(tunnels);
    expect([...r.tunnels({ host: "example.com" })]).toStrictEqual([tunnels[1]]);
    expect([...r.tunnels({ sessionId: second })]).toStrictEqual([]);
    const sessions = r.sessions();
    expect(sessions.map((s) => [s.id, s.kind, s.exchanges, s.tunnels])).toEqual([
      [first, "replay", 2, 2],
      [second, "demo", 1, 0],
    ]);
    expect(sessions[0]).toMatchObject({ label: "lab", args: { allowWrites: false }, source: "prod.sqlite", toolVersion: "0.1.0" });
    // Starting the second session ended the first; close() ended the second.
    expect(sessions[0]!.endedAt).toBeGreaterThanOrEqual(sessions[0]!.startedAt);
    expect(sessions[1]!.endedAt).toBeGreaterThanOrEqual(sessions[1]!.startedAt);
    r.close();
  });
});

describe("CaptureReader filters", () => {
  function fixture(): { file: string; exchanges: Exchange[] } {
    const file = tempCapture();
    const w = CaptureWriter.open(file);
    const a = w.startSession({ kind: "proxy" });
    const guest = { hash: "aaaaaaaaaaaaaaaa", claims: { tid: TENANT, oid: GUEST_OID, scp: "User.Read", acct: 1 } };
    const exchanges: Exchange[] = [
      // Written out of time order: readers return (startedAt, seq) order.
      makeExchange({ sessionId: a, startedAt: BASE_TIME + 300, status: 200, token: guest, url: "https://graph.microsoft.com/v1.0/me/drive" }),
      makeExchange({ sessionId: a, startedAt: BASE_TIME + 100, status: 401, token: guest, url: "https://graph.microsoft.com/v1.0/shares/u!x/driveItem" }),
      makeExchange({ sessionId: a, startedAt: BASE_TIME + 200, status: 403, method: "POST", url: "https://graph.microsoft.com/v1.0/$batch" }),
      makeExchange({ sessionId: "other", startedAt: BASE_TIME + 100, status: 503, url: "https://graph.microsoft.us/v1.0/users" }),
      makeExchange({ sessionId: "other", startedAt: BASE_TIME + 400, status: undefined, error: { code: "ETIMEDOUT", message: "t", phase: "connect" } }),
    ];
    delete exchanges[4]!.status;
    delete exchanges[4]!.statusText;
    const part = makeExchange({ sessionId: a, startedAt: BASE_TIME + 200, parentId: exchanges[2]!.id, partId: "1", status: 200 });
    exchanges.push(part);
    for (const ex of exchanges) w.write(ex);
    w.close();
    return { file, exchanges };
  }

  it("orders by start time then write order, and applies every filter", () => {
    const { file, exchanges: e } = fixture();
    const r = CaptureReader.open(file);
    const ids = (f?: Parameters<CaptureReader["summaries"]>[0]) => [...r.summaries(f)].map((s) => s.id);
    const byIndex = (...i: number[]) => i.map((n) => e[n]!.id);

    expect(ids()).toEqual(byIndex(1, 3, 2, 5, 0, 4));
    expect([...r.exchanges()].map((x) => x.id)).toEqual(ids());
    expect(ids({ sessionId: "other" })).toEqual(byIndex(3, 4));
    expect(ids({ identityKey: `${TENANT}:${GUEST_OID}` })).toEqual(byIndex(1, 0));
    expect(ids({ identityKey: "anonymous" })).toEqual(byIndex(3, 2, 5, 4));
    expect(ids({ tokenHash: "aaaaaaaaaaaaaaaa" })).toEqual(byIndex(1, 0));
    expect(ids({ status: 403 })).toEqual(byIndex(2));
    expect(ids({ status: [401, 403] })).toEqual(byIndex(1, 2));
    expect(ids({ status: [] })).toEqual([]);
    expect(ids({ statusClass: 4 })).toEqual(byIndex(1, 2));
    expect(ids({ statusClass: 2 })).toEqual(byIndex(5, 0));
    expect(ids({ host: "GRAPH.microsoft.us" })).toEqual(byIndex(3));
    expect(ids({ method: "post" })).toEqual(byIndex(2));
    expect(ids({ urlContains: "/shares/" })).toEqual(byIndex(1));
    expect(ids({ urlContains: "%" })).toEqual([]);
    expect(ids({ parentId: e[2]!.id })).toEqual(byIndex(5));
    expect(ids({ from: BASE_TIME + 200, to: BASE_TIME + 400 })).toEqual(byIndex(2, 5, 0));
    expect(ids({ afterSeq: 4 })).toEqual(byIndex(5, 4));
    expect(ids({ limit: 2 })).toEqual(byIndex(1, 3));
    expect(ids({ sessionId: "other", statusClass: 5, limit: 10 })).toEqual(byIndex(3));
    expect([...r.exchanges({ status: 401 })].map((x) => x.id)).toEqual(byIndex(1));

    expect(r.count()).toBe(6);
    expect(r.count({ statusClass: 4 })).toBe(2);
    expect(r.count({ limit: 3 })).toBe(3);
    expect(r.lastSeq()).toBe(6);
    r.close();
  });

  it("allows two scans of the same shape at once", () => {
    const { file } = fixture();
    const r = CaptureReader.open(file);
    let pairs = 0;
    for (const outer of r.summaries({ sessionId: "other" })) {
      for (const inner of r.summaries({ sessionId: "other" })) if (inner.id !== outer.id) pairs++;
    }
    expect(pairs).toBe(2);
    r.close();
  });
});

function readAll(file: string): string {
  // latin1 keeps every byte as one character, so a substring search finds raw bytes.
  return readFileSync(file).toString("latin1");
}
