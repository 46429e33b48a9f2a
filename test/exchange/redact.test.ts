import { describe, expect, it } from "vitest";
import { redactBodyTokens, redactRequestHeaders, redactResponseHeaders } from "../../src/exchange/redact.js";
import { tokenHash } from "../../src/graph/token.js";

const claims = { tid: "t-1", oid: "o-1", upn: "alice@contoso.com", secret_blob: "x" };
const token = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.c2lnbmF0dXJl`;

describe("redaction at the proxy edge", () => {
  it("replaces a bearer token by its hash and keeps only known claims", () => {
    const { headers, token: info } = redactRequestHeaders([
      ["authorization", `Bearer ${token}`],
      ["accept", "application/json"],
    ]);
    expect(headers).toEqual([
      ["authorization", `Bearer ${tokenHash(token)}`],
      ["accept", "application/json"],
    ]);
    expect(info?.hash).toBe(tokenHash(token));
    expect(info?.claims).toEqual({ tid: "t-1", oid: "o-1", upn: "alice@contoso.com" });
    expect(JSON.stringify(headers)).not.toContain(token.split(".")[1]!);
  });

  it("keeps only the scheme of a non-bearer credential and removes cookie values", () => {
    const { headers } = redactRequestHeaders([
      ["authorization", "Basic dXNlcjpwYXNz"],
      ["cookie", "FedAuth=secret1; rtFa=secret2"],
      ["proxy-authorization", "Basic abc"],
    ]);
    expect(JSON.stringify(headers)).not.toMatch(/dXNlcjpwYXNz|secret1|secret2|abc/);
    expect(headers[1]).toEqual(["cookie", "FedAuth=[redacted]; rtFa=[redacted]"]);
    const res = redactResponseHeaders([["set-cookie", "FedAuth=secret; Path=/; HttpOnly"]]);
    expect(res).toEqual([["set-cookie", "FedAuth=[redacted]; Path=/; HttpOnly"]]);
  });

  it("scrubs tokens inside $batch part headers, even in a truncated body", () => {
    const body = JSON.stringify({
      requests: [{ id: "1", method: "GET", url: "/me", headers: { Authorization: `Bearer ${token}` } }],
    });
    const out = redactBodyTokens(Buffer.from(body)).toString();
    expect(out).not.toContain(token);
    expect(out).toContain(`Bearer ${tokenHash(token)}`);
    expect(JSON.parse(out).requests[0].headers.Authorization).toBe(`Bearer ${tokenHash(token)}`);
    const cut = body.slice(0, body.indexOf(token) + 20);
    expect(redactBodyTokens(Buffer.from(cut)).toString()).not.toContain(token.slice(0, 20));
    const plain = Buffer.from('{"displayName":"x"}');
    expect(redactBodyTokens(plain)).toBe(plain);
  });
});
