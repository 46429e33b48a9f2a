import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import { newId } from "../../src/exchange/id.js";
import { DEFAULT_GRAPH_HOSTS } from "../../src/graph/hosts.js";
import { CaptureReader, CaptureWriter } from "../../src/recorder/index.js";
import { matchOptions } from "../../src/serve/match.js";
import { ReplayServer, type Answer } from "../../src/serve/server.js";
import { createAuthority } from "../../src/tls/authority.js";
import {
  buildCapture, exchangeOf, GUEST_KEY, GUEST_OID, GUEST_UPN, guestToken, jwt, OWNER_KEY, OWNER_OID, OWNER_UPN, ownerToken,
  SHARE_URL, TENANT, type Fixture,
} from "../browse/capture-fixture.js";
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
// Today's tokens: new raw tokens (other hashes than the recorded ones) of the same people.
const GUEST_NOW = `Bearer ${jwt({ tid: TENANT, oid: GUEST_OID, upn: GUEST_UPN, acct: 1, scp: "Files.Read.All", iat: 1780000000 })}`;
const GUEST_REFRESHED = `Bearer ${jwt({ tid: TENANT, oid: GUEST_OID, upn: GUEST_UPN, acct: 1, scp: "Files.Read.All", iat: 1780003600 })}`;
const OWNER_NOW = `Bearer ${jwt({ tid: TENANT, oid: OWNER_OID, upn: OWNER_UPN, scp: "Files.ReadWrite.All", iat: 1780000000 })}`;
const asGuest = { authorization: GUEST_NOW };
const asOwner = { authorization: OWNER_NOW };
// Recorded for both people, interleaved: the guest's 401, the owner's 200, the guest's 200.
const PLAN_URL = "https://graph.microsoft.com/v1.0/me/drive/root:/plan.docx";
const ODD_HEADER_URL = "https://graph.microsoft.com/v1.0/me/drive/root:/odd-header.txt";
const ODD_STATUS_URL = "https://graph.microsoft.com/v1.0/me/drive/root:/odd-status.txt";

const ca = { authority: createAuthority({ commonName: "graphtap serve test CA", permitted: [...DEFAULT_GRAPH_HOSTS, "localhost"] }) };

beforeAll(async () => {
  const dir = tempDir();
  fx = buildCapture(dir);
  // A later call of users?$top=5 with a $skiptoken: --ignore-query makes it the same request.
  const w = CaptureWriter.open(fx.file);
  const s = w.startSession({ kind: "proxy" });
  const body = (v: unknown) => {
    const bytes = Buffer.from(JSON.stringify(v));
    return { bytes, wireSize: bytes.length, truncated: false };
  };
  w.write({
    ...exchangeOf(s, { at: 20_000, url: "https://graph.microsoft.com/v1.0/users?$top=5&$skiptoken=AAA", status: 200, token: ownerToken }),
    id: newId(),
    responseBody: { bytes: Buffer.from('{"value":[{"id":"u1"}]}'), wireSize: 23, truncated: false },
  });
  // /me of the guest too: each caller must get its own.
  w.write(exchangeOf(s, { at: 21_000, url: "https://graph.microsoft.com/v1.0/me", status: 200, token: guestToken, resBody: body({ userPrincipalName: GUEST_UPN }) }));
  w.write(exchangeOf(s, { at: 22_000, url: PLAN_URL, status: 401, token: guestToken, resBody: body({ who: "guest", n: 1 }) }));
  w.write(exchangeOf(s, { at: 23_000, url: PLAN_URL, status: 200, token: ownerToken, resBody: body({ who: "owner", n: 1 }) }));
  w.write(exchangeOf(s, { at: 24_000, url: PLAN_URL, status: 200, token: guestToken, resBody: body({ who: "guest", n: 2 }) }));
  // What another tool may have recorded: a header value HTTP forbids, a status out of range.
  w.write(exchangeOf(s, { at: 25_000, url: ODD_HEADER_URL, status: 200, token: ownerToken, resHeaders: [["set-cookie", "a=[redacted]\nb=[redacted]"], ["content-type", "application/json"]], resBody: body({ ok: true }) }));
  w.write(exchangeOf(s, { at: 26_000, url: ODD_STATUS_URL, status: 1200, token: ownerToken, resBody: body({ odd: true }) }));
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
  it("plays back 401, 403, 200 for the same request and identity as recorded (across a token refresh), then keeps the last", async () => {
    const got: Array<[number, string | undefined]> = [];
    for (let i = 0; i < 4; i++) {
      const r = await viaProxy(agent, SHARE_URL, { headers: { authorization: i % 2 ? GUEST_REFRESHED : GUEST_NOW } });
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
    expect(mine.map((a) => a.identity)).toEqual([GUEST_KEY, GUEST_KEY, GUEST_KEY, GUEST_KEY]);
  });

  it("another person never gets the guest's answers: a 404 names the caller and counts the others' recordings", async () => {
    const r = await viaProxy(agent, SHARE_URL, { headers: asOwner });
    expect(r.status).toBe(404);
    const body = JSON.parse(r.body.toString("utf8")) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("graphtapNoRecordedResponse");
    expect(body.error.message).toBe(
      `graphtap serve has no recorded response for GET ${SHARE_URL} as ${OWNER_UPN} (${OWNER_KEY}); ` +
        "3 recordings of other identities exist (graphtap serve --any-identity answers any caller with them)",
    );
    expect(answers.at(-1)).toMatchObject({ how: "unmatched", identity: OWNER_KEY, upn: OWNER_UPN, otherIdentities: 3 });
  });

  it("a call without a token matches only tokenless recordings (anonymous)", async () => {
    const r = await viaProxy(agent, SHARE_URL);
    expect(r.status).toBe(404);
    const body = JSON.parse(r.body.toString("utf8")) as { error: { message: string } };
    expect(body.error.message).toContain(" as anonymous; 3 recordings of other identities exist");
    // A token that is not a JWT is its own (opaque) identity, not anyone recorded.
    const opaque = await viaProxy(agent, SHARE_URL, { headers: { authorization: "Bearer a-token-of-today" } });
    expect(opaque.status).toBe(404);
  });

  it("keeps playback order per identity when people's recordings interleave", async () => {
    const call = async (headers: Record<string, string>) => {
      const r = await viaProxy(agent, PLAN_URL, { headers });
      return `${r.status} ${JSON.stringify(JSON.parse(r.body.toString("utf8")))}`;
    };
    expect(await call(asOwner)).toBe('200 {"who":"owner","n":1}');
    expect(await call(asGuest)).toBe('401 {"who":"guest","n":1}');
    expect(await call(asOwner)).toBe('200 {"who":"owner","n":1}');
    expect(await call({ authorization: GUEST_REFRESHED })).toBe('200 {"who":"guest","n":2}');
    expect(await call(asGuest)).toBe('200 {"who":"guest","n":2}');
    const mine = answers.filter((a) => a.url === PLAN_URL);
    expect(mine.map((a) => `${a.upn} ${a.nth}/${a.of}`)).toEqual([
      `${OWNER_UPN} 1/1`, `${GUEST_UPN} 1/2`, `${OWNER_UPN} 1/1`, `${GUEST_UPN} 2/2`, `${GUEST_UPN} 2/2`,
    ]);
  });

  it("the same URL answers each caller with its own recording", async () => {
    const owner = await viaProxy(agent, "https://graph.microsoft.com/v1.0/me", { headers: asOwner });
    const guest = await viaProxy(agent, "https://graph.microsoft.com/v1.0/me", { headers: asGuest });
    expect(JSON.parse(owner.body.toString("utf8"))).toMatchObject({ userPrincipalName: OWNER_UPN });
    expect(JSON.parse(guest.body.toString("utf8"))).toEqual({ userPrincipalName: GUEST_UPN });
  });

  it("recorded headers come back, hop-by-hop and length are rewritten, the source exchange is named", async () => {
    const r = await viaProxy(agent, "https://graph.microsoft.com/v1.0/me", { headers: asOwner });
    expect(r.status).toBe(200);
    expect(r.headers["request-id"]).toBe("r-1000");
    expect(r.headers["x-graphtap-exchange"]).toBe(fx.exchanges[1]!.id);
    expect(Number(r.headers["content-length"])).toBe(r.body.length);
  });

  it("binary bodies are sent byte for byte", async () => {
    const r = await viaProxy(agent, "https://graph.microsoft.com/v1.0/me/photo/$value", { headers: asOwner });
    expect(r.headers["content-type"]).toBe("image/png");
    expect(r.body).toEqual(fx.exchanges[5]!.responseBody!.bytes);
  });

  it("POST matches on the JSON body by value, not by key order; another body is unmatched", async () => {
    const post = "https://graph.microsoft.com/v1.0/me/drive/root/children?$select=id,name";
    const same = await viaProxy(agent, post, {
      method: "POST",
      headers: { "content-type": "application/json", ...asOwner },
      body: '{ "folder": {}, "name": "New Folder" }',
    });
    expect(same.status).toBe(201);
    const other = await viaProxy(agent, post, { method: "POST", headers: { "content-type": "application/json", ...asOwner }, body: '{"name":"Other"}' });
    expect(other.status).toBe(404);
  });

  it("query order does not matter; an ignored query parameter is left out of matching", async () => {
    const reordered = await viaProxy(agent, "https://graph.microsoft.com/v1.0/me/drive/root/children?$select=id,name", {
      method: "POST",
      headers: asOwner,
      body: '{"name":"New Folder","folder":{}}',
    });
    expect(reordered.status).toBe(201);
    // Without $skiptoken, users?$top=5 was recorded twice: a 500 first, the page later.
    const first = await viaProxy(agent, "https://graph.microsoft.com/v1.0/users?$skiptoken=ZZZ&$top=5", { headers: asOwner });
    expect(first.status).toBe(500);
    const page = await viaProxy(agent, "https://graph.microsoft.com/v1.0/users?$top=5", { headers: asOwner });
    expect(JSON.parse(page.body.toString("utf8"))).toEqual({ value: [{ id: "u1" }] });
  });

  it("a recording with a header HTTP forbids or a status out of range is played back without taking the server down", async () => {
    const odd = await viaProxy(agent, ODD_HEADER_URL, { headers: asOwner });
    expect(odd.status).toBe(200);
    expect(odd.headers["set-cookie"]).toBeUndefined();
    const status = await viaProxy(agent, ODD_STATUS_URL, { headers: asOwner });
    expect(status.status).toBe(502);
    const after = await viaProxy(agent, PLAN_URL, { headers: asOwner });
    expect(after.status).toBe(200);
  });

  it("an unmatched request gets the Graph-shaped graphtap 404", async () => {
    const r = await viaProxy(agent, "https://graph.microsoft.com/v1.0/me/messages", { headers: asOwner });
    expect(r.status).toBe(404);
    const body = JSON.parse(r.body.toString("utf8")) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("graphtapNoRecordedResponse");
    expect(body.error.message).toBe("graphtap serve has no recorded response for GET https://graph.microsoft.com/v1.0/me/messages");
  });

  it("as a base URL on the same port (plain HTTP), for apps that take one", async () => {
    const res = await request(`${url}/v1.0/me`, { headers: asOwner });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(await res.body.text())).toMatchObject({ userPrincipalName: "megan@contoso.com" });
    const ca = await request(`${url}/ca.pem`);
    expect(await ca.body.text()).toContain("BEGIN CERTIFICATE");
  });
});

describe("graphtap serve --any-identity", () => {
  let blind: ReplayServer;
  let blindAgent: ReturnType<typeof proxyAgent>;

  beforeAll(async () => {
    blind = new ReplayServer({ reader, authority: ca.authority, port: 0, match: matchOptions({}), anyIdentity: true });
    const { url: blindUrl } = await blind.listen();
    blindAgent = proxyAgent(blindUrl, ca.authority.certPem);
  });

  afterAll(async () => {
    await blindAgent.close();
    await blind.close();
  });

  it("answers any caller, tokenless too, from every identity's recordings in recorded order", async () => {
    const got: number[] = [];
    got.push((await viaProxy(blindAgent, SHARE_URL)).status);
    got.push((await viaProxy(blindAgent, SHARE_URL, { headers: asOwner })).status);
    got.push((await viaProxy(blindAgent, SHARE_URL, { headers: { authorization: "Bearer lab-token" } })).status);
    expect(got).toEqual([401, 403, 200]);
    const plan = await viaProxy(blindAgent, PLAN_URL, { headers: asOwner });
    expect(plan.status).toBe(401);
  });
});

describe("--match-header authorization", () => {
  it("is refused with why: tokens are stored hashed, identity is matched automatically", () => {
    expect(() => matchOptions({ matchHeaders: ["Authorization"] })).toThrow(UserError);
    expect(() => matchOptions({ matchHeaders: ["authorization"] })).toThrow(/stored hashed.*identity is matched automatically/);
    expect(matchOptions({ matchHeaders: ["x-ms-client-request-id"] }).matchHeaders).toContain("x-ms-client-request-id");
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
