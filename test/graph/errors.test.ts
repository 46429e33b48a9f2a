import { describe, expect, it } from "vitest";
import { claimsChallenge, parseGraphError, parseWwwAuthenticate } from "../../src/graph/errors.js";

const accessDenied = {
  error: {
    code: "accessDenied",
    message: "Access denied",
    innerError: {
      date: "2026-02-10T09:00:00",
      "request-id": "b4c5a2f1-3d6e-4b8a-9f0c-1a2b3c4d5e6f",
      "client-request-id": "9e8d7c6b-5a49-4838-a726-15f4e3d2c1b0",
    },
  },
};

describe("parseGraphError", () => {
  it("reads code, message and the innerError ids of a Graph error body", () => {
    expect(parseGraphError(JSON.stringify(accessDenied))).toEqual({
      code: "accessDenied",
      message: "Access denied",
      requestId: "b4c5a2f1-3d6e-4b8a-9f0c-1a2b3c4d5e6f",
      clientRequestId: "9e8d7c6b-5a49-4838-a726-15f4e3d2c1b0",
      date: "2026-02-10T09:00:00",
    });
  });

  it("accepts a Buffer", () => {
    expect(parseGraphError(Buffer.from(JSON.stringify(accessDenied)))?.code).toBe("accessDenied");
  });

  it("takes the deepest innerError code as innerCode", () => {
    const nested = {
      error: {
        code: "invalidRequest",
        message: "Invalid request",
        innerError: {
          code: "invalidRange",
          "request-id": "r-1",
          innerError: { code: "fragmentOverlap" },
        },
      },
    };
    const e = parseGraphError(JSON.stringify(nested));
    expect(e?.innerCode).toBe("fragmentOverlap");
    expect(e?.requestId).toBe("r-1");
  });

  it("accepts lower-case innererror", () => {
    const body = '{"error":{"code":"itemNotFound","message":"The resource could not be found.","innererror":{"code":"resourceNotFound"}}}';
    expect(parseGraphError(body)).toEqual({ code: "itemNotFound", message: "The resource could not be found.", innerCode: "resourceNotFound" });
  });

  it("accepts the OAuth error shape", () => {
    expect(parseGraphError('{"error":"invalid_grant","error_description":"AADSTS50173: token revoked"}')).toEqual({
      code: "invalid_grant",
      message: "AADSTS50173: token revoked",
    });
  });

  it("salvages code and message from a truncated body", () => {
    const full = JSON.stringify(accessDenied);
    expect(parseGraphError(full.slice(0, 60))).toEqual({ code: "accessDenied", message: "Access denied" });
  });

  it("returns undefined for success bodies, garbage and nothing", () => {
    expect(parseGraphError(undefined)).toBeUndefined();
    expect(parseGraphError("")).toBeUndefined();
    expect(parseGraphError('{"id":"01BYE5RZ6QN3ZWBTUFOFD3GSPGOHDJD36K","name":"a.docx"}')).toBeUndefined();
    expect(parseGraphError("<html>502 Bad Gateway</html>")).toBeUndefined();
    expect(parseGraphError('{"error":{}}')).toBeUndefined();
    expect(parseGraphError('{"error":null}')).toBeUndefined();
  });
});

describe("parseWwwAuthenticate", () => {
  it("parses a Graph Bearer challenge", () => {
    const v =
      'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';
    expect(parseWwwAuthenticate(v)).toEqual([
      {
        scheme: "Bearer",
        params: {
          realm: "",
          authorization_uri: "https://login.microsoftonline.com/common/oauth2/authorize",
          client_id: "00000003-0000-0000-c000-000000000000",
        },
      },
    ]);
  });

  it("splits several challenges and keeps commas inside quotes", () => {
    const v = 'Bearer realm="a, b", error="invalid_token", error_description="The token expired, renew it", Basic realm="legacy", Negotiate';
    const cs = parseWwwAuthenticate(v);
    expect(cs.map((c) => c.scheme)).toEqual(["Bearer", "Basic", "Negotiate"]);
    expect(cs[0]?.params).toEqual({ realm: "a, b", error: "invalid_token", error_description: "The token expired, renew it" });
    expect(cs[1]?.params).toEqual({ realm: "legacy" });
    expect(cs[2]?.params).toEqual({});
  });

  it("handles token68, unquoted values, escapes and case-insensitive names", () => {
    const cs = parseWwwAuthenticate('Negotiate YIIFyQYGKwYBBQUCoIIFvTCC==, Bearer Error=invalid_token, realm="say \\"hi\\""');
    expect(cs[0]).toEqual({ scheme: "Negotiate", params: {}, token68: "YIIFyQYGKwYBBQUCoIIFvTCC==" });
    expect(cs[1]?.params).toEqual({ error: "invalid_token", realm: 'say "hi"' });
  });

  it("returns [] for an empty value", () => {
    expect(parseWwwAuthenticate("")).toEqual([]);
  });
});

describe("claimsChallenge", () => {
  const cae =
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0="';

  it("decodes the base64 claims parameter of a CAE challenge", () => {
    const json = claimsChallenge(cae);
    expect(json).toBe('{"access_token":{"nbf":{"essential":true, "value":"1604106651"}}}');
    expect(JSON.parse(json!)).toEqual({ access_token: { nbf: { essential: true, value: "1604106651" } } });
  });

  it("accepts unpadded base64url and raw JSON claims", () => {
    const b64url = Buffer.from('{"access_token":{"acrs":{"essential":true,"value":"c1"}}}').toString("base64url");
    expect(claimsChallenge(`Bearer error="insufficient_claims", claims="${b64url}"`)).toBe(
      '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}',
    );
    expect(claimsChallenge('Bearer claims="{\\"id_token\\":{}}"')).toBe('{"id_token":{}}');
  });

  it("is undefined without claims or with undecodable claims", () => {
    expect(claimsChallenge('Bearer realm="", error="invalid_token"')).toBeUndefined();
    expect(claimsChallenge('Bearer claims="bm90IGpzb24"')).toBeUndefined();
  });
});
