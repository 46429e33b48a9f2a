// The raw bearer token never reaches disk or a log; cookies are redacted.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProxyAgent } from "undici";
import { exchangeRow, headerValue, waitForRows } from "../helpers/capture.js";
import { startCliProxy, type CliProxy } from "../helpers/cli.js";
import { proxyAgent, viaProxy } from "../helpers/client.js";
import { makeJwt, type TestToken } from "../helpers/jwt.js";
import { tempDir } from "../helpers/tmp.js";
import { graphHandler, startUpstream, type GraphUpstreamState, type TestUpstream } from "../helpers/upstream.js";

const GRAPH = "https://graph.microsoft.com";
let upstream: TestUpstream;
let proxy: CliProxy;
let agent: ProxyAgent;
let token: TestToken;
const state: GraphUpstreamState = { requests: [], streams: [] };

beforeAll(async () => {
  const dir = tempDir();
  upstream = await startUpstream(graphHandler(state));
  proxy = await startCliProxy({
    home: join(dir, "home"),
    db: join(dir, "capture.sqlite"),
    args: ["--upstream", `graph.microsoft.com=${upstream.url}`, "--upstream-ca", upstream.writeCa(dir)],
  });
  agent = proxyAgent(proxy.url, proxy.caPem);
  token = makeJwt();
});

afterAll(async () => {
  await agent?.close();
  await proxy?.stop();
  await upstream?.close();
});

/** The bytes of the capture and its WAL/SHM files, whichever exist now. */
function captureBytes(db: string): Array<[string, Buffer]> {
  return [db, `${db}-wal`, `${db}-shm`].filter((f) => existsSync(f)).map((f) => [f, readFileSync(f)]);
}

/** Every secret fragment that must never be found, with a name for the failure message. */
function secrets(): Array<[string, string]> {
  return [
    ["raw token", token.raw],
    ["token signature", token.signature],
    ["token payload", token.payload],
    ["token header", token.header],
    ["signature prefix", token.signature.slice(0, 24)],
    ["unkept claim value", String(token.claims["xms_secret_nonce"])],
    ["request cookie value", "REQCOOKIESECRET1"],
    ["second request cookie value", "REQCOOKIESECRET2"],
    ["set-cookie value", "SETCOOKIESECRETVALUE"],
  ];
}

function findSecrets(files: Array<[string, Buffer]>): string[] {
  const found: string[] = [];
  for (const [file, bytes] of files) {
    for (const [name, secret] of secrets()) {
      for (const enc of ["utf8", "utf16le"] as const) {
        if (bytes.includes(Buffer.from(secret, enc))) found.push(`${name} (${enc}) in ${file}`);
      }
    }
  }
  return found;
}

describe("secrets", () => {
  it("records token-bearing calls with the token hashed and cookies redacted", async () => {
    const auth = { authorization: `Bearer ${token.raw}` };
    const me = await viaProxy(agent, `${GRAPH}/v1.0/me?via=secret-get`, {
      headers: { ...auth, cookie: "session=REQCOOKIESECRET1; theme=REQCOOKIESECRET2" },
    });
    expect(me.status).toBe(200);
    // The upstream still gets the real credentials: redaction is for the capture only.
    const seen = state.requests.find((r) => r.url.includes("secret-get"))!;
    expect(seen.headers.authorization).toBe(`Bearer ${token.raw}`);
    expect(seen.headers.cookie).toBe("session=REQCOOKIESECRET1; theme=REQCOOKIESECRET2");

    const cookie = await viaProxy(agent, `${GRAPH}/v1.0/cookie?via=secret-setcookie`, { headers: auth });
    expect(cookie.headers["set-cookie"]).toContain("SETCOOKIESECRETVALUE");
    const denied = await viaProxy(agent, `${GRAPH}/v1.0/denied?via=secret-401`, { headers: auth });
    expect(denied.status).toBe(401);
    const post = await viaProxy(agent, `${GRAPH}/v1.0/echo?via=secret-post`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ subject: "hello" }),
    });
    expect(post.status).toBe(201);

    const row = await exchangeRow(proxy.db, "via=secret-get");
    expect(headerValue(row, "req_headers", "authorization")).toMatch(/^Bearer [0-9a-f]{16}$/);
    expect(headerValue(row, "req_headers", "authorization")).toBe(`Bearer ${row.token_hash}`);
    expect(headerValue(row, "req_headers", "cookie")).toBe("session=[redacted]; theme=[redacted]");
    const sc = await exchangeRow(proxy.db, "via=secret-setcookie");
    expect(headerValue(sc, "res_headers", "set-cookie")).toBe("session=[redacted]; Path=/; HttpOnly");
    await waitForRows(proxy.db, "SELECT 1 FROM exchanges WHERE instr(url, 'secret-') > 0", [], 4);
  });

  it("no byte of the token or a cookie value is in the .sqlite, -wal or -shm files, live or after stop", async () => {
    const live = captureBytes(proxy.db);
    expect(live.map(([f]) => f)).toContain(`${proxy.db}-wal`); // the rows are in the WAL while running
    // The probe can see what it looks for: the stored hash is in there.
    const rows = await waitForRows(proxy.db, "SELECT token_hash FROM exchanges WHERE token_hash IS NOT NULL");
    const hash = String(rows[0]!.token_hash);
    expect(live.some(([, b]) => b.includes(Buffer.from(hash)))).toBe(true);
    expect(findSecrets(live)).toEqual([]);

    const exit = await proxy.stop("SIGINT");
    expect(exit.code).toBe(0);
    const after = captureBytes(proxy.db);
    expect(after.some(([, b]) => b.includes(Buffer.from(hash)))).toBe(true);
    expect(findSecrets(after)).toEqual([]);
    // Nor in what the proxy printed.
    expect(findSecrets([["stdout", Buffer.from(proxy.stdout())], ["stderr", Buffer.from(proxy.stderr())]])).toEqual([]);
    expect(proxy.stdout()).toContain("/v1.0/me");
  });
});
