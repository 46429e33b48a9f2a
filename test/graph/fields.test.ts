import { describe, expect, it } from "vitest";
import { graphFieldsOf } from "../../src/graph/fields.js";
import { body, exchange } from "./helpers.js";

const diag = '{"ServerInfo":{"DataCenter":"West Europe","Slice":"E","Ring":"5","ScaleUnit":"001","RoleInstance":"AM4PEPF00012345"}}';

describe("graphFieldsOf", () => {
  it("reads a 403 from Graph: headers, error body and diagnostic", () => {
    const ex = exchange({
      status: 403,
      requestHeaders: [["client-request-id", "11111111-2222-3333-4444-555555555555"]],
      responseHeaders: [
        ["content-type", "application/json"],
        ["request-id", "b4c5a2f1-3d6e-4b8a-9f0c-1a2b3c4d5e6f"],
        ["client-request-id", "9e8d7c6b-5a49-4838-a726-15f4e3d2c1b0"],
        ["x-ms-ags-diagnostic", diag],
      ],
      responseBody: body({
        error: {
          code: "accessDenied",
          message: "Access denied",
          innerError: { code: "sharingDenied", date: "2026-02-10T09:00:00", "request-id": "from-body" },
        },
      }),
    });
    expect(graphFieldsOf(ex)).toEqual({
      requestId: "b4c5a2f1-3d6e-4b8a-9f0c-1a2b3c4d5e6f",
      clientRequestId: "9e8d7c6b-5a49-4838-a726-15f4e3d2c1b0",
      errorCode: "accessDenied",
      errorMessage: "Access denied",
      innerErrorCode: "sharingDenied",
      errorDate: "2026-02-10T09:00:00",
      diagnostic: {
        dataCenter: "West Europe",
        slice: "E",
        ring: "5",
        scaleUnit: "001",
        roleInstance: "AM4PEPF00012345",
        raw: diag,
      },
    });
  });

  it("falls back to the error body's request-id and the request's client-request-id", () => {
    const ex = exchange({
      status: 401,
      requestHeaders: [["client-request-id", "11111111-2222-3333-4444-555555555555"]],
      responseBody: body({
        error: { code: "InvalidAuthenticationToken", message: "Access token has expired or is not yet valid.", innerError: { "request-id": "from-body" } },
      }),
    });
    const f = graphFieldsOf(ex);
    expect(f.requestId).toBe("from-body");
    expect(f.clientRequestId).toBe("11111111-2222-3333-4444-555555555555");
    expect(f.errorCode).toBe("InvalidAuthenticationToken");
  });

  it("reads the error and claims of a CAE challenge", () => {
    const ex = exchange({
      status: 401,
      responseHeaders: [
        [
          "www-authenticate",
          'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0="',
        ],
      ],
    });
    const f = graphFieldsOf(ex);
    expect(f.authError).toBe("insufficient_claims");
    expect(f.claimsChallenge).toContain('"nbf"');
  });

  it("is empty for a plain success with no Graph headers", () => {
    const ex = exchange({ responseBody: body({ id: "4d1c8c9e-2f5a-4c3e-8b7a-1e2d3c4b5a69", displayName: "Megan Bowen" }) });
    expect(graphFieldsOf(ex)).toEqual({});
  });

  it("copes with no response at all", () => {
    const ex = exchange({ status: undefined, error: { code: "ECONNRESET", message: "socket hang up", phase: "response" } });
    expect(graphFieldsOf(ex)).toEqual({});
  });
});
