import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/exchange/id.js";
import { DEFAULT_GRAPH_HOSTS } from "../../src/graph/hosts.js";
import { CaptureReader, CaptureWriter } from "../../src/recorder/index.js";
import { matchOptions } from "../../src/serve/match.js";
import { ReplayServer, type Answer } from "../../src/serve/server.js";
import { createAuthority } from "../../src/tls/authority.js";
import { buildCapture, exchangeOf, SHARE_URL, type Fixture } from "../browse/capture-fixture.js";
import { proxyAgent, viaProxy } from "../helpers/client.js";
import { tempDir } from "../helpers/tmp.js";
import { startUpstream, type TestUpstream } from "../helpers/upstream.js";

let fx: Fixture;
let reader: CaptureReader;
let server: ReplayServer;
let url: string;
let agent: ReturnType<typeof proxyAgent>;
const answers: Answer[] = [];
// Like `graphtap ca --permit localhost`: the Graph hosts plus the passthrough test host.
const ca = { authority: createAuthority({ commonName: "graphtap serve test CA", permitted: [...DEFAULT_GRAPH_HOSTS, "localhost"] }) };

beforeAll(async () => {
  const dir = tempDir();
  fx = buildCapture(dir);
  // A later call of users?$top=5 with a $skiptoken: --ignore-query makes it the same request.
  const w = CaptureWriter.open(fx.file);
  const s = w.startSession({ kind: "proxy" });
  w.write({
    ...exchangeOf(s, { at: 20_000, url: "https://graph.microsoft.com/v1.0/users?$top=5&$skiptoken=AAA", status: 200 }),
    id: newId(),
    responseBody: { bytes: Buffer.from('{"value":[{"id":"u1"}]}'), wireSize: 23, truncated: false },
  });
  w.close();
  reader = CaptureReader.open(fx.file);
  server = new ReplayServer({
    reader,
    authority: ca.authority,
    port: 0,
    match: matchOptions({ ignoreQuery: ["$skiptoken"] }),
  });
  server.on("answer", (a) => answers.push(a));
  ({ url } = await server.listen());
  agent = proxyAgent(url, ca.authority.certPem);
});

afterAll(async () => {
  await agent.close();
  await server.close();
  reader.close();
});

describe("graphtap serve through HTTPS_PROXY (CONNECT, TLS with the graphtap CA)", () => {
  it("plays back 401, 403, 200 for the same request as recorded, then keeps the last", async () => {
    const got: Array<[number, string | undefined]> = [];
    for (let i = 0; i < 4; i++) {
      const r = await viaProxy(agent, SHARE_URL, { headers: { authorization: "Bearer a-token-of-today" } });
      const body = JSON.parse(r.body.toString("utf8")) as { error?: { code: string }; name?: string };
      got.push([r.status, body.error?.code ?? body.name]);
    }
    expect(got).toEqual([
      [401, "InvalidAuthenticationToken"],
      [403, "accessDenied"],
      [200, "doc.docx"],
      [200, "doc.docx"],
    ]);
    const mine = answers.filter((a) => a.url === SHARE_URL);
    expect(mine.map((a) => `${a.nth}/${a.of}`)).toEqual(["1/3", "2/3", "3/3", "3/3"]);
  });

  it("recorded headers come back, hop-by-hop and length are rewritten, the source exchange is named", async () => {
    const r = await viaProxy(agent, "https://graph.microsoft.com/v1.0/me");
    expect(r.status).toBe(200);
    expect(r.headers["request-id"]).toBe("r-1000");
    expect(r.headers["x-graphtap-exchange"]).toBe(fx.exchanges[1]!.id);
    expect(Number(r.headers["content-length"])).toBe(r.body.length);
  });

  it("binary bodies are sent byte for byte", async () => {
    const r = await viaProxy(agent, "https://graph.microsoft.com/v1.0/me/photo/$value");
    expect(r.headers["content-type"]).toBe("image/png");
    expect(r.body).toEqual(fx.exchanges[5]!.responseBody!.bytes);
  });

  it("POST matches on the JSON body by value, not by key order; another body is unmatched", async () => {
    const post = "https://graph.microsoft.com/v1.0/me/drive/root/children?$select=id,name";
    const same = await viaProxy(agent, post, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{ "folder": {}, "name": "New Folder" }',
    });
    expect(same.status).toBe(201);
    const other = await viaProxy(agent, post, { method: "POST", headers: { "content-type": "application/json" }, body: '{"name":"Other"}' });
    expect(other.status).toBe(404);
  });

  it("query order does not matter; an ignored query parameter is left out of matching", async () => {
    const reordered = await viaProxy(agent, "https://graph.microsoft.com/v1.0/me/drive/root/children?$select=id,name", {
      method: "POST",
      body: '{"name":"New Folder","folder":{}}',
    });
    expect(reordered.status).toBe(201);
    // Without $skiptoken, users?$top=5 was recorded twice: a 500 first, the page later.
    const first = await viaProxy(agent, "https://graph.microsoft.com/v1.0/users?$skiptoken=ZZZ&$top=5");
    expect(first.status).toBe(500);
    const page = await viaProxy(agent, "https://graph.microsoft.com/v1.0/users?$top=5");
    expect(JSON.parse(page.body.toString("utf8"))).toEqual({ value: [{ id: "u1" }] });
  });

  it("an unmatched request gets the Graph-shaped graphtap 404", async () => {
    const r = await viaProxy(agent, "https://graph.microsoft.com/v1.0/me/messages");
    expect(r.status).toBe(404);
    const body = JSON.parse(r.body.toString("utf8")) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("graphtapNoRecordedResponse");
    expect(body.error.message).toBe("graphtap serve has no recorded response for GET https://graph.microsoft.com/v1.0/me/messages");
  });

  it("as a base URL on the same port (plain HTTP), for apps that take one", async () => {
    const res = await request(`${url}/v1.0/me`);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(await res.body.text())).toMatchObject({ userPrincipalName: "megan@contoso.com" });
    const ca = await request(`${url}/ca.pem`);
    expect(await ca.body.text()).toContain("BEGIN CERTIFICATE");
  });
});

describe("graphtap serve --passthrough", () => {
  let upstream: TestUpstream;
  let pass: ReplayServer;
  let passAgent: ReturnType<typeof proxyAgent>;
  let passReader: CaptureReader;
  let upstreamUrl: string;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ from: "upstream", path: req.url }));
    });
    upstreamUrl = `https://localhost:${upstream.port}`;
    // A capture of the upstream host with one recorded answer.
    const dir = tempDir();
    const file = join(dir, "pass.sqlite");
    const w = CaptureWriter.open(file);
    const s = w.startSession({ kind: "proxy" });
    w.write({ ...exchangeOf(s, { at: 0, url: `${upstreamUrl}/v1.0/recorded`, status: 200 }), responseBody: { bytes: Buffer.from('{"from":"capture"}'), wireSize: 18, truncated: false } });
    w.close();
    passReader = CaptureReader.open(file);
    pass = new ReplayServer({
      reader: passReader,
      authority: ca.authority,
      port: 0,
      match: matchOptions({}),
      passthrough: true,
      upstreamCa: [upstream.caPem],
    });
    const { url: passUrl } = await pass.listen();
    passAgent = proxyAgent(passUrl, ca.authority.certPem);
  });

  afterAll(async () => {
    await passAgent.close();
    await pass.close();
    passReader.close();
    await upstream.close();
  });

  it("answers recorded requests from the capture and sends the rest to the real host", async () => {
    const recorded = await viaProxy(passAgent, `${upstreamUrl}/v1.0/recorded`);
    expect(JSON.parse(recorded.body.toString("utf8"))).toEqual({ from: "capture" });
    const live = await viaProxy(passAgent, `${upstreamUrl}/v1.0/not-recorded?x=1`);
    expect(live.status).toBe(200);
    expect(JSON.parse(live.body.toString("utf8"))).toEqual({ from: "upstream", path: "/v1.0/not-recorded?x=1" });
  });
});
