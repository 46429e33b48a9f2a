import { describe, expect, it } from "vitest";
import { redactBodySecrets, redactRequestHeaders, redactResponseHeaders } from "../../src/exchange/redact.js";
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
    const out = redactBodySecrets(Buffer.from(body)).toString();
    expect(out).not.toContain(token);
    expect(out).toContain(`Bearer ${tokenHash(token)}`);
    expect(JSON.parse(out).requests[0].headers.Authorization).toBe(`Bearer ${tokenHash(token)}`);
    const cut = body.slice(0, body.indexOf(token) + 20);
    expect(redactBodySecrets(Buffer.from(cut)).toString()).not.toContain(token.slice(0, 20));
    const plain = Buffer.from('{"displayName":"x"}');
    expect(redactBodySecrets(plain)).toBe(plain);
  });

  it("drops a credential sent with no scheme, and nameless cookies", () => {
    const { headers } = redactRequestHeaders([
      ["authorization", token],
      ["cookie", "secretwithoutname; a=1"],
    ]);
    expect(JSON.stringify(headers)).not.toContain(token.slice(0, 30));
    expect(headers[0]).toEqual(["authorization", "[redacted]"]);
    expect(headers[1]).toEqual(["cookie", "[redacted]; a=[redacted]"]);
    expect(redactResponseHeaders([["set-cookie", "opaquevalue; Path=/"]])).toEqual([["set-cookie", "[redacted]; Path=/"]]);
  });

  it("finds tokens in bodies whatever the key's case, and through JSON escapes", () => {
    const upper = Buffer.from(`{"requests":[{"headers":{"AUTHORIZATION":"Bearer ${token}"}}]}`);
    expect(redactBodySecrets(upper).toString()).not.toContain(token.slice(-20));
    const escaped = token.replace(".", "\\u002e");
    expect(escaped).not.toBe(token);
    const body = Buffer.from(`{"headers":{"Authorization":"Bearer ${escaped}"}}`);
    const out = redactBodySecrets(body).toString();
    expect(out).toContain(`Bearer ${tokenHash(token)}`);
    expect(out).not.toContain(token.split(".")[2]!);
  });

  it("removes OAuth secrets from token requests and responses, and keeps Graph error codes", () => {
    const response = Buffer.from(
      JSON.stringify({ token_type: "Bearer", access_token: token, refresh_token: "RTSECRET-1", id_token: "IDSECRET", expires_in: 3599 }),
    );
    const r = redactBodySecrets(response).toString();
    expect(r).not.toMatch(/RTSECRET|IDSECRET/);
    expect(r).not.toContain(token.slice(-20));
    expect(JSON.parse(r)).toMatchObject({ token_type: "Bearer", access_token: "[redacted]", expires_in: 3599 });
    const form = Buffer.from("grant_type=refresh_token&client_id=abc&refresh_token=RTSECRET-2&client_secret=CS~SECRET&scope=openid");
    const f = redactBodySecrets(form).toString();
    expect(f).toBe("grant_type=refresh_token&client_id=abc&refresh_token=[redacted]&client_secret=[redacted]&scope=openid");
    const code = redactBodySecrets(Buffer.from("code=AUTHCODE&grant_type=authorization_code&code_verifier=V")).toString();
    expect(code).toBe("code=[redacted]&grant_type=authorization_code&code_verifier=[redacted]");
    const graphError = Buffer.from('{"error":{"code":"accessDenied","message":"Access denied"}}');
    expect(redactBodySecrets(graphError)).toBe(graphError);
  });
});
