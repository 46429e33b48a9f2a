import { describe, expect, it } from "vitest";
import {
  buildBatchRequest,
  expandBatch,
  isBatchUrl,
  logicalExchanges,
  parseBatchRequest,
  parseBatchResponse,
  type BatchRequestPart,
} from "../../src/graph/batch.js";
import { graphFieldsOf } from "../../src/graph/fields.js";
import { encodeShareId } from "../../src/graph/shares.js";
import { templateOf } from "../../src/graph/templates.js";
import type { Exchange } from "../../src/exchange/types.js";
import { body, exchange, memberClaims } from "./helpers.js";

const SHARE = encodeShareId("https://contoso.sharepoint.com/:x:/s/finance/EaBcD1234efGH?e=Zx9");
const GROUP = "02bd9fd6-8f93-4758-87c3-1fb73740a315";

// Shaped like the examples at learn.microsoft.com/graph/json-batching.
const requestJson = {
  requests: [
    { id: "1", method: "GET", url: `/shares/${SHARE}/driveItem` },
    { id: "2", method: "GET", url: `groups/${GROUP}/drive`, headers: { "Client-Request-Id": "c-2", Authorization: "Bearer eyJraw.token.here" } },
    {
      id: "3",
      dependsOn: ["2"],
      method: "POST",
      url: "/me/drive/root/children",
      headers: { "Content-Type": "application/json" },
      body: { name: "New Folder", folder: {}, "@microsoft.graph.conflictBehavior": "rename" },
    },
    { id: "4", method: "PUT", url: "/me/drive/root:/photo.png:/content", headers: { "Content-Type": "image/png" }, body: "iVBORw0KGgoAAAANSUhEUg==" },
  ],
};
const responseJson = {
  responses: [
    { id: "2", status: 200, headers: { "Content-Type": "application/json" }, body: { id: "b!abc", driveType: "documentLibrary" } },
    {
      id: "1",
      status: 403,
      headers: { "Content-Type": "application/json" },
      body: { error: { code: "accessDenied", message: "Access denied", innerError: { date: "2026-02-10T09:00:00", "request-id": "part-rid" } } },
    },
    { id: "3", status: 201, headers: { Location: "https://graph.microsoft.com/v1.0/me/drive/items/01NEW" }, body: { id: "01NEW" } },
  ],
};

function envelope(over: Partial<Exchange> = {}): Exchange {
  return exchange({
    id: "01JKZ8Q5R3X0000000000000BB",
    method: "POST",
    url: "https://graph.microsoft.com/v1.0/$batch",
    requestHeaders: [
      ["authorization", "Bearer 5f2b9c1e0a7d3e44"],
      ["content-type", "application/json"],
      ["client-request-id", "env-crid"],
    ],
    requestBody: body(requestJson),
    status: 200,
    responseHeaders: [
      ["content-type", "application/json"],
      ["request-id", "env-rid"],
      ["x-ms-ags-diagnostic", '{"ServerInfo":{"DataCenter":"West Europe","Slice":"E","Ring":"5","ScaleUnit":"001","RoleInstance":"AM4PEPF00012345"}}'],
    ],
    responseBody: body(responseJson),
    token: { hash: "5f2b9c1e0a7d3e44", claims: memberClaims },
    ...over,
  });
}

describe("isBatchUrl", () => {
  it("recognises $batch endpoints", () => {
    expect(isBatchUrl("https://graph.microsoft.com/v1.0/$batch")).toBe(true);
    expect(isBatchUrl("https://graph.microsoft.com/beta/%24batch?x=1")).toBe(true);
    expect(isBatchUrl("https://graph.microsoft.com/v1.0/me/drive")).toBe(false);
    expect(isBatchUrl("https://graph.microsoft.com/v1.0/me/batchJobs")).toBe(false);
  });
});

describe("parseBatchRequest / parseBatchResponse / buildBatchRequest", () => {
  it("parses parts with headers, bodies and dependsOn", () => {
    const parts = parseBatchRequest(JSON.stringify(requestJson));
    expect(parts).toHaveLength(4);
    expect(parts?.[2]).toEqual({
      id: "3",
      method: "POST",
      url: "/me/drive/root/children",
      headers: { "Content-Type": "application/json" },
      body: { name: "New Folder", folder: {}, "@microsoft.graph.conflictBehavior": "rename" },
      dependsOn: ["2"],
    });
    const res = parseBatchResponse(Buffer.from(JSON.stringify(responseJson)));
    expect(res?.map((r) => [r.id, r.status])).toEqual([["2", 200], ["1", 403], ["3", 201]]);
  });

  it("accepts numeric ids", () => {
    expect(parseBatchRequest('{"requests":[{"id":1,"method":"GET","url":"/me"}]}')).toEqual([{ id: "1", method: "GET", url: "/me" }]);
  });

  it("rejects bodies that are not batches", () => {
    expect(parseBatchRequest("")).toBeUndefined();
    expect(parseBatchRequest('{"requests":[{"id":"1","method":"GET","url":"/me"}')).toBeUndefined();
    expect(parseBatchRequest('{"value":[]}')).toBeUndefined();
    expect(parseBatchRequest('{"requests":[{"id":"1","url":"/me"}]}')).toBeUndefined();
    expect(parseBatchResponse('{"responses":[{"id":"1"}]}')).toBeUndefined();
    expect(parseBatchResponse("[]")).toBeUndefined();
  });

  it("round-trips through buildBatchRequest", () => {
    const parts: BatchRequestPart[] = [
      { id: "a", method: "GET", url: "/me" },
      { id: "b", method: "PATCH", url: "/me", headers: { "Content-Type": "application/json" }, body: { jobTitle: "PM" }, dependsOn: ["a"] },
    ];
    const json = buildBatchRequest(parts);
    expect(JSON.parse(json)).toEqual({ requests: [parts[0], { ...parts[1] }] });
    expect(parseBatchRequest(json)).toEqual(parts);
  });
});

describe("expandBatch", () => {
  it("turns each part into an exchange with the envelope's context", () => {
    const parts = expandBatch(envelope())!;
    expect(parts.map((p) => p.id)).toEqual(["01JKZ8Q5R3X0000000000000BB.1", "01JKZ8Q5R3X0000000000000BB.2", "01JKZ8Q5R3X0000000000000BB.3", "01JKZ8Q5R3X0000000000000BB.4"]);
    const [share, group, create, upload] = parts as [Exchange, Exchange, Exchange, Exchange];
    expect(share).toMatchObject({
      sessionId: "sess-1",
      parentId: "01JKZ8Q5R3X0000000000000BB",
      partId: "1",
      method: "GET",
      url: `https://graph.microsoft.com/v1.0/shares/${SHARE}/driveItem`,
      status: 403,
      startedAt: envelope().startedAt,
      durationMs: 120,
      token: { hash: "5f2b9c1e0a7d3e44" },
    });
    expect(share.requestHeaders).toEqual([["authorization", "Bearer 5f2b9c1e0a7d3e44"]]);
    expect(templateOf(share.method, share.url)).toBe("GET /v1.0/shares/{shareId}/driveItem");
    expect(graphFieldsOf(share)).toMatchObject({ errorCode: "accessDenied", requestId: "env-rid", diagnostic: { dataCenter: "West Europe" } });

    expect(group.url).toBe(`https://graph.microsoft.com/v1.0/groups/${GROUP}/drive`);
    // Header names lower-cased; the part's own raw Authorization is replaced by the envelope's redacted one.
    expect(group.requestHeaders).toEqual([["client-request-id", "c-2"], ["authorization", "Bearer 5f2b9c1e0a7d3e44"]]);
    expect(JSON.stringify(parts)).not.toContain("eyJraw");
    expect(group.status).toBe(200);
    expect(JSON.parse(group.responseBody!.bytes.toString())).toEqual({ id: "b!abc", driveType: "documentLibrary" });

    expect(create.dependsOn).toEqual(["2"]);
    expect(JSON.parse(create.requestBody!.bytes.toString())).toEqual(requestJson.requests[2]!.body);
    expect(create.requestBody?.truncated).toBe(false);
    expect(create.responseHeaders).toContainEqual(["location", "https://graph.microsoft.com/v1.0/me/drive/items/01NEW"]);
    expect(create.status).toBe(201);

    expect(upload.requestBody!.bytes.toString()).toBe("iVBORw0KGgoAAAANSUhEUg==");
    expect(upload.status).toBeUndefined();
    expect(upload.error).toEqual({ code: "BATCH_PART_MISSING", message: expect.any(String), phase: "response" });
  });

  it("resolves part URLs against the envelope's host and version", () => {
    const ex = envelope({
      url: "https://graph.microsoft.us/beta/$batch",
      requestBody: body({ requests: [{ id: "1", method: "get", url: "/users/alice_fabrikam.com#EXT#@contoso.onmicrosoft.com" }, { id: "2", method: "GET", url: "/beta/me" }] }),
      responseBody: body({ responses: [] }),
    });
    const parts = expandBatch(ex)!;
    expect(parts[0]?.method).toBe("GET");
    expect(parts[0]?.url).toBe("https://graph.microsoft.us/beta/users/alice_fabrikam.com%23EXT%23@contoso.onmicrosoft.com");
    expect(parts[1]?.url).toBe("https://graph.microsoft.us/beta/me");
  });

  it("gives every part the envelope's refusal when the whole batch was refused", () => {
    const err = { error: { code: "InvalidAuthenticationToken", message: "Access token has expired or is not yet valid." } };
    const parts = expandBatch(envelope({ status: 401, responseBody: body(err), responseHeaders: [["request-id", "env-rid"]] }))!;
    expect(parts).toHaveLength(4);
    for (const p of parts) {
      expect(p.status).toBe(401);
      expect(graphFieldsOf(p).errorCode).toBe("InvalidAuthenticationToken");
    }
  });

  it("carries the envelope's transport error to parts when no response came", () => {
    const error = { code: "ECONNRESET", message: "socket hang up", phase: "response" as const };
    const parts = expandBatch(envelope({ status: undefined, responseBody: undefined, responseHeaders: [], error }))!;
    expect(parts.every((p) => p.status === undefined && p.error === error)).toBe(true);
  });

  it("links replayed parts to the recorded parts", () => {
    const parts = expandBatch(envelope({ id: "R1", sourceId: "01JKZ8Q5R3X0000000000000BB" }))!;
    expect(parts[0]?.sourceId).toBe("01JKZ8Q5R3X0000000000000BB.1");
  });

  it("returns undefined when the bodies cannot be read", () => {
    const full = body(requestJson);
    expect(expandBatch(envelope({ requestBody: { ...full, truncated: true } }))).toBeUndefined();
    expect(expandBatch(envelope({ requestBody: body(JSON.stringify(requestJson).slice(0, 80)) }))).toBeUndefined();
    expect(expandBatch(envelope({ requestBody: undefined }))).toBeUndefined();
    expect(expandBatch(envelope({ responseBody: body(JSON.stringify(responseJson).slice(0, 100)) }))).toBeUndefined();
    expect(expandBatch(envelope({ method: "GET" }))).toBeUndefined();
    expect(expandBatch(exchange())).toBeUndefined();
  });
});

describe("logicalExchanges", () => {
  it("replaces envelopes by their parts and keeps everything else in order", () => {
    const before = exchange({ id: "A", url: "https://graph.microsoft.com/v1.0/me" });
    const broken = envelope({ id: "C", responseBody: { ...body(responseJson), truncated: true } });
    const after = exchange({ id: "D" });
    const ids = [...logicalExchanges([before, envelope({ id: "B" }), broken, after])].map((e) => e.id);
    expect(ids).toEqual(["A", "B.1", "B.2", "B.3", "B.4", "C", "D"]);
  });

  it("is lazy over its input", () => {
    function* source(): Generator<Exchange> {
      yield exchange({ id: "A" });
      throw new Error("read too far");
    }
    const it = logicalExchanges(source());
    expect(it.next().value?.id).toBe("A");
  });
});
