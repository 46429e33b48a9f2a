// Real clients (curl, undici, python requests) through the CLI proxy to a local
// "Graph": every call lands in the capture with the right facts.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProxyAgent } from "undici";
import { exchangeRow, headerValue, query } from "../helpers/capture.js";
import { cleanEnv, run, startCliProxy, type CliProxy } from "../helpers/cli.js";
import { proxyAgent, viaProxy } from "../helpers/client.js";
import { makeJwt, OBJECT_ID, TENANT, UPN, type TestToken } from "../helpers/jwt.js";
import { tempDir } from "../helpers/tmp.js";
import { BIG_BODY, BIG_SHA256, BIG_SIZE, graphHandler, sha256, startUpstream, type GraphUpstreamState, type TestUpstream } from "../helpers/upstream.js";

const MAX_BODY = 256 * 1024;
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
    args: ["--upstream", `graph.microsoft.com=${upstream.url}`, "--upstream-ca", upstream.writeCa(dir), "--max-body", String(MAX_BODY)],
  });
  agent = proxyAgent(proxy.url, proxy.caPem);
  token = makeJwt();
});

afterAll(async () => {
  await agent?.close();
  await proxy?.stop();
  await upstream?.close();
});

function upstreamSaw(marker: string) {
  const seen = state.requests.find((r) => r.url.includes(marker));
  if (!seen) throw new Error(`upstream never saw ${marker}`);
  return seen;
}

describe("clients through graphtap proxy", () => {
  it("curl: GET /me is recorded with url, status, headers, body, request-id, identity and claims", async () => {
    const r = await run("curl", [
      "-sS", "--max-time", "10",
      "--proxy", proxy.url,
      "--cacert", proxy.caFile,
      "-H", `Authorization: Bearer ${token.raw}`,
      "-H", "client-request-id: crid-curl-1",
      "-w", "\n%{http_code}",
      `${GRAPH}/v1.0/me?via=curl`,
    ]);
    expect(r.stderr).toBe("");
    const [bodyText, code] = r.stdout.split("\n");
    expect(code).toBe("200");
    expect(JSON.parse(bodyText!)).toMatchObject({ displayName: "Megan Bowen" });

    // The upstream got the request unchanged, token included: graphtap forwards, it does not edit.
    const seen = upstreamSaw("via=curl");
    expect(seen.headers.authorization).toBe(`Bearer ${token.raw}`);

    const row = await exchangeRow(proxy.db, "via=curl");
    expect(row.method).toBe("GET");
    expect(row.url).toBe(`${GRAPH}/v1.0/me?via=curl`);
    expect(row.host).toBe("graph.microsoft.com");
    expect(row.upstream_url).toBe(`${upstream.url}/`);
    expect(row.status).toBe(200);
    expect(row.error_code).toBeNull();
    expect(row.client_request_id).toBe("crid-curl-1");
    expect(row.request_id).toMatch(/^rid-[0-9a-f]{16}$/);
    expect(headerValue(row, "res_headers", "request-id")).toBe(row.request_id);
    expect(headerValue(row, "req_headers", "user-agent")).toMatch(/^curl\//);
    expect(headerValue(row, "req_headers", "authorization")).toMatch(/^Bearer [0-9a-f]{16}$/);
    expect(row.data_center).toBe("West Europe");
    expect(JSON.parse(String((row.res_body as Buffer).toString("utf8")))).toMatchObject({ displayName: "Megan Bowen" });

    const hash = createHash("sha256").update(token.raw).digest("hex").slice(0, 16);
    expect(row.token_hash).toBe(hash);
    expect(row.identity_key).toBe(`${TENANT}:${OBJECT_ID}`);
    const [identity] = query(proxy.db, "SELECT * FROM identities WHERE token_hash = ?", hash);
    expect(identity).toMatchObject({ tenant_id: TENANT, object_id: OBJECT_ID, upn: UPN, kind: "user" });
    const claims = JSON.parse(String(identity!.claims)) as Record<string, unknown>;
    expect(claims).toMatchObject({ tid: TENANT, oid: OBJECT_ID, upn: UPN, scp: "User.Read Files.Read.All" });
    expect(claims).not.toHaveProperty("xms_secret_nonce"); // only kept claims reach disk
  });

  it("curl: a 401 accessDenied is recorded with its Graph error code", async () => {
    const r = await run("curl", [
      "-sS", "--max-time", "10", "--proxy", proxy.url, "--cacert", proxy.caFile,
      "-H", `Authorization: Bearer ${token.raw}`, "-w", "\n%{http_code}", `${GRAPH}/v1.0/denied?via=curl401`,
    ]);
    expect(r.stdout.split("\n")[1]).toBe("401");
    const row = await exchangeRow(proxy.db, "via=curl401");
    expect(row.status).toBe(401);
    expect(row.graph_error_code).toBe("accessDenied");
    expect(row.identity_key).toBe(`${TENANT}:${OBJECT_ID}`);
  });

  it("undici ProxyAgent: gzip and br bodies are stored decoded", async () => {
    for (const enc of ["gzip", "br"] as const) {
      const reply = await viaProxy(agent, `${GRAPH}/v1.0/${enc}?via=undici-${enc}`, { headers: { "accept-encoding": enc } });
      expect(reply.status).toBe(200);
      expect(reply.headers["content-encoding"]).toBe(enc); // the client got the wire bytes untouched
      const row = await exchangeRow(proxy.db, `via=undici-${enc}`);
      expect(row.res_body_encoding).toBe(enc);
      expect(row.res_body_truncated).toBe(0);
      expect(row.res_body_size).toBe(reply.body.length); // wire size: the compressed length
      const stored = JSON.parse((row.res_body as Buffer).toString("utf8")) as { value: unknown[] };
      expect(stored.value).toHaveLength(200);
    }
  });

  it("undici ProxyAgent: a POST body is captured", async () => {
    const payload = JSON.stringify({ displayName: "New group", mailNickname: "newgroup" });
    const reply = await viaProxy(agent, `${GRAPH}/v1.0/echo?via=post`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token.raw}` },
      body: payload,
    });
    expect(reply.status).toBe(201);
    expect(upstreamSaw("via=post").body.toString()).toBe(payload);
    const row = await exchangeRow(proxy.db, "via=post");
    expect(row.method).toBe("POST");
    expect(row.status).toBe(201);
    expect((row.req_body as Buffer).toString("utf8")).toBe(payload);
    expect(row.req_body_size).toBe(Buffer.byteLength(payload));
    expect(row.req_content_type).toBe("application/json");
    expect(JSON.parse((row.res_body as Buffer).toString())).toEqual({ received: payload });
  });

  it("a body larger than --max-body arrives whole but is truncated in the capture", async () => {
    const reply = await viaProxy(agent, `${GRAPH}/v1.0/big?via=big`);
    expect(reply.status).toBe(200);
    expect(reply.body.length).toBe(BIG_SIZE);
    expect(sha256(reply.body)).toBe(BIG_SHA256);
    const row = await exchangeRow(proxy.db, "via=big");
    expect(row.res_body_truncated).toBe(1);
    expect(row.res_body_size).toBe(BIG_SIZE);
    const kept = row.res_body as Buffer;
    expect(kept.length).toBe(MAX_BODY);
    expect(kept.equals(BIG_BODY.subarray(0, MAX_BODY))).toBe(true);
  });

  it("a request body larger than --max-body is truncated in the capture and arrives whole upstream", async () => {
    const big = Buffer.alloc(MAX_BODY * 2 + 17, 0x62);
    const reply = await viaProxy(agent, `${GRAPH}/v1.0/echo?via=bigpost`, { method: "POST", body: big, headers: { "content-type": "text/plain" } });
    expect(reply.status).toBe(201);
    expect(upstreamSaw("via=bigpost").body.length).toBe(big.length);
    const row = await exchangeRow(proxy.db, "via=bigpost");
    expect(row.req_body_truncated).toBe(1);
    expect(row.req_body_size).toBe(big.length);
    expect((row.req_body as Buffer).length).toBe(MAX_BODY);
  });

  it("Node fetch with undici EnvHttpProxyAgent, HTTPS_PROXY and NODE_EXTRA_CA_CERTS (child process)", async () => {
    const script = `
      import { EnvHttpProxyAgent, fetch } from "undici";
      const res = await fetch("${GRAPH}/v1.0/me?via=undici-env", {
        dispatcher: new EnvHttpProxyAgent(),
        headers: { authorization: "Bearer " + process.env.TEST_TOKEN },
      });
      console.log(res.status, JSON.stringify(await res.json()));
    `;
    const r = await run(process.execPath, ["--input-type=module", "-e", script], {
      env: cleanEnv({ HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: proxy.caFile, TEST_TOKEN: token.raw }),
    });
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^200 \{"displayName":"Megan Bowen"/);
    const row = await exchangeRow(proxy.db, "via=undici-env");
    expect(row.url).toBe(`${GRAPH}/v1.0/me?via=undici-env`);
    expect(row.status).toBe(200);
    expect(row.identity_key).toBe(`${TENANT}:${OBJECT_ID}`);
    expect(headerValue(row, "req_headers", "user-agent")).toMatch(/node|undici/i);
  });

  it("python requests with HTTPS_PROXY and REQUESTS_CA_BUNDLE", async () => {
    const script = [
      "import os, requests",
      `r = requests.get("${GRAPH}/v1.0/denied?via=python", headers={"Authorization": "Bearer " + os.environ["TEST_TOKEN"]}, timeout=10)`,
      "print(r.status_code, r.json()['error']['code'])",
    ].join("\n");
    const r = await run("python3", ["-c", script], {
      env: cleanEnv({ HTTPS_PROXY: proxy.url, REQUESTS_CA_BUNDLE: proxy.caFile, TEST_TOKEN: token.raw }),
    });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("401 accessDenied");
    const row = await exchangeRow(proxy.db, "via=python");
    expect(row.url).toBe(`${GRAPH}/v1.0/denied?via=python`);
    expect(row.status).toBe(401);
    expect(row.graph_error_code).toBe("accessDenied");
    expect(headerValue(row, "req_headers", "user-agent")).toMatch(/^python-requests\//);
    expect(row.identity_key).toBe(`${TENANT}:${OBJECT_ID}`);
  });
});
