import { connect } from "node:net";
import { Agent } from "node:https";
import { afterEach, describe, expect, test } from "vitest";
import { parseGraphError, parseWwwAuthenticate } from "../../src/graph/errors.js";
import { parseAgsDiagnostic } from "../../src/graph/diagnostics.js";
import { identityOf } from "../../src/graph/identity.js";
import { decodeJwtClaims } from "../../src/graph/token.js";
import { decodeShareId } from "../../src/graph/shares.js";
import { idMap, labScenario, mintToken, prodScenario, refreshToken, startSim, type Sim } from "../../src/sim/index.js";
import { call, get } from "./helpers.js";

let sim: Sim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const share = (s: Sim) => `/v1.0/shares/${s.scenario.links[0]!.shareId}/driveItem`;

describe("tokens", () => {
  test("guest, member and app tokens carry Entra-shaped claims", async () => {
    sim = await startSim({ clock: "manual", startAt: Date.UTC(2026, 1, 10, 9) });
    const alice = decodeJwtClaims(sim.token("alice"));
    const home = sim.scenario.homeTenants[0]!.id;
    expect(alice).toMatchObject({
      aud: "https://graph.microsoft.com",
      iss: `https://sts.windows.net/${sim.scenario.tenant.id}/`,
      tid: sim.scenario.tenant.id,
      idp: `https://sts.windows.net/${home}/`,
      acct: 1,
      upn: "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com",
      unique_name: "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com",
      ver: "1.0",
      idtyp: "user",
      iat: Date.UTC(2026, 1, 10, 9) / 1000,
    });
    expect(alice["exp"]).toBe((alice["iat"] as number) + 75 * 60);
    expect(identityOf({ hash: "x", claims: alice })).toMatchObject({ guest: true, kind: "user", homeTenantId: home });
    const megan = decodeJwtClaims(sim.token("megan"));
    expect(identityOf({ hash: "x", claims: megan })).toMatchObject({ guest: false, kind: "user" });
    const app = decodeJwtClaims(sim.token("daemon"));
    expect(app).toMatchObject({ idtyp: "app" });
    expect(app["scp"]).toBeUndefined();
    expect(app["upn"]).toBeUndefined();
    expect(app["roles"]).toContain("Files.ReadWrite.All");
    expect(identityOf({ hash: "x", claims: app }).kind).toBe("app");
    const header = JSON.parse(Buffer.from(sim.token("alice").split(".")[0]!, "base64url").toString());
    expect(header).toMatchObject({ typ: "JWT", alg: "RS256" });
    expect(typeof header.kid).toBe("string");
  });

  test("refreshToken: same person, new times and uti", () => {
    const a = prodScenario().principals[0]!;
    const first = mintToken({ tid: "t", oid: a.id, upn: a.upn, iat: 1, nbf: 1, exp: 2, uti: "u1" });
    const next = decodeJwtClaims(refreshToken(first, { now: 10_000_000, claims: { xms_cc: ["CP1"] } }));
    expect(next).toMatchObject({ tid: "t", oid: a.id, upn: a.upn, iat: 10_000, xms_cc: ["CP1"] });
    expect(next["uti"]).not.toBe("u1");
  });

  test("missing, garbage, expired, wrong-tenant tokens: 401 InvalidAuthenticationToken with WWW-Authenticate", async () => {
    sim = await startSim({ clock: "manual", scenario: "lab" });
    const other = labScenario();
    other.tenant.id = prodScenario().tenant.id;
    const expired = sim.token("alice", { lifetimeMs: 60_000 });
    sim.clock.advance(60_000);
    const wrongTenant = mintToken({ ...decodeJwtClaims(sim.token("alice")), tid: prodScenario().tenant.id });
    for (const token of [undefined, "garbage", expired, wrongTenant]) {
      const r = await get(sim, "/v1.0/me", token);
      expect(r.status).toBe(401);
      expect(parseGraphError(r.raw)?.code).toBe("InvalidAuthenticationToken");
      const [challenge] = parseWwwAuthenticate(String(r.headers["www-authenticate"]));
      expect(challenge).toMatchObject({
        scheme: "Bearer",
        params: {
          realm: "",
          authorization_uri: "https://login.microsoftonline.com/common/oauth2/authorize",
          client_id: "00000003-0000-0000-c000-000000000000",
        },
      });
    }
    expect((await get(sim, "/v1.0/me", sim.token("alice"))).status).toBe(200);
  });
});

describe("behaviours", () => {
  test("tokenBound: tokens issued before a time fail until a new token is used", async () => {
    sim = await startSim({ clock: "manual", scenario: "lab" });
    const old = sim.token("alice");
    sim.clock.advance(2000);
    sim.setBehaviours("alice", { tokenBound: { issuedBefore: sim.clock.now() } });
    const r = await get(sim, share(sim), old);
    expect([r.status, r.json.error.code]).toEqual([401, "InvalidAuthenticationToken"]);
    expect(sim.requests.at(-1)?.behaviour).toBe("tokenBound");
    expect((await get(sim, share(sim), sim.token("alice"))).status).toBe(200);
  });

  test("tokenBound: one specific token, and revokeTokens()", async () => {
    sim = await startSim({ clock: "manual", scenario: "lab" });
    const bad = sim.token("megan");
    sim.setBehaviours("megan", { tokenBound: { tokens: [bad], code: "accessDenied" } });
    expect((await get(sim, "/v1.0/me", bad)).json.error.code).toBe("accessDenied");
    const good = sim.token("megan");
    expect((await get(sim, "/v1.0/me", good)).status).toBe(200);
    sim.revokeTokens("megan");
    expect((await get(sim, "/v1.0/me", good)).status).toBe(401);
    expect((await get(sim, "/v1.0/me", sim.token("megan"))).status).toBe(200);
  });

  test("throttle: burst limit per window answers 429 TooManyRequests with Retry-After", async () => {
    sim = await startSim({ clock: "manual", scenario: "lab", behaviours: { megan: { throttle: { limit: 2, windowMs: 10_000 } } } });
    const t = sim.token("megan");
    expect((await get(sim, "/v1.0/me", t)).status).toBe(200);
    sim.clock.advance(3000);
    expect((await get(sim, "/v1.0/me", t)).status).toBe(200);
    const r = await get(sim, "/v1.0/me", t);
    expect(r.status).toBe(429);
    expect(r.json.error.code).toBe("TooManyRequests");
    expect(r.headers["retry-after"]).toBe("7");
    sim.clock.advance(7000);
    expect((await get(sim, "/v1.0/me", t)).status).toBe(200);
    // Other principals have their own budget.
    expect((await get(sim, "/v1.0/me", sim.token("alice"))).status).toBe(200);
  });

  test("throttle: every Nth call", async () => {
    sim = await startSim({ clock: "manual", scenario: "lab", behaviours: { alice: { throttle: { everyN: 3, retryAfterSeconds: 4 } } } });
    const t = sim.token("alice");
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await get(sim, "/v1.0/me", t)).status);
    expect(statuses).toEqual([200, 200, 429, 200, 200, 429]);
    expect(sim.requests.at(-1)?.behaviour).toBe("throttle");
  });

  test("failAlways: a failure that never recovers", async () => {
    sim = await startSim({ clock: "manual", behaviours: { alice: { failAlways: ["/shares/*/driveItem"] } } });
    const t = sim.token("alice");
    await get(sim, `/v1.0/groups/${sim.scenario.groups[0]!.id}/drive`, t);
    for (let i = 0; i < 3; i++) {
      const r = await get(sim, share(sim), t);
      expect([r.status, r.json.error.code]).toEqual([403, "accessDenied"]);
      sim.clock.advance(60_000);
    }
    expect((await get(sim, "/v1.0/me", t)).status).toBe(200);
  });
});

describe("$batch", () => {
  test("a hidden flip inside one batch: share 401, catalyst 403, share 200", async () => {
    sim = await startSim({ clock: "manual" });
    const group = sim.scenario.groups[0]!;
    const shareRel = share(sim).replace("/v1.0", "");
    const r = await call(sim, "POST", "/v1.0/$batch", {
      token: sim.token("alice"),
      body: {
        requests: [
          { id: "1", method: "GET", url: shareRel },
          { id: "2", method: "GET", url: `groups/${group.id}/drive` },
          { id: "3", method: "GET", url: shareRel, headers: { "client-request-id": "part-3" } },
        ],
      },
    });
    expect(r.status).toBe(200);
    const parts = r.json.responses as Array<{ id: string; status: number; headers: Record<string, string>; body: any }>;
    expect(parts.map((p) => [p.id, p.status])).toEqual([["1", 401], ["2", 403], ["3", 200]]);
    expect(parts[0]!.body.error.code).toBe("accessDenied");
    expect(parts[0]!.headers["WWW-Authenticate"]).toContain("Bearer");
    expect(parts[2]!.body.name).toBe("Q1 Plan.docx");
    expect(parts[2]!.headers["client-request-id"]).toBe("part-3");
    const log = sim.requests.map((x) => [x.path.replace(/u!\w+/, "u!…"), x.status, x.batch?.partId ?? null]);
    expect(log).toEqual([
      ["/v1.0/$batch", 200, null],
      ["/v1.0/shares/u!…/driveItem", 401, "1"],
      [`/v1.0/groups/${group.id}/drive`, 403, "2"],
      ["/v1.0/shares/u!…/driveItem", 200, "3"],
    ]);
    expect(sim.requests[1]!.batch?.envelopeSeq).toBe(sim.requests[0]!.seq);
  });

  test("dependsOn order, 424 after a failed dependency, the 20-part limit", async () => {
    sim = await startSim({ clock: "manual", scenario: "lab" });
    const t = sim.token("megan");
    const r = await call(sim, "POST", "/beta/$batch", {
      token: t,
      body: {
        requests: [
          { id: "a", method: "GET", url: "/me", dependsOn: ["b"] },
          { id: "b", method: "GET", url: "/users/nobody@nowhere" },
          { id: "c", method: "GET", url: "/v1.0/sites/root" },
        ],
      },
    });
    const parts = r.json.responses as Array<{ id: string; status: number }>;
    expect(parts.map((p) => [p.id, p.status])).toEqual([["b", 404], ["a", 424], ["c", 200]]);
    const tooMany = await call(sim, "POST", "/v1.0/$batch", {
      token: t,
      body: { requests: Array.from({ length: 21 }, (_, i) => ({ id: String(i), method: "GET", url: "/me" })) },
    });
    expect([tooMany.status, tooMany.json.error.code]).toEqual([400, "BadRequest"]);
    const noAuth = await call(sim, "POST", "/v1.0/$batch", { body: { requests: [{ id: "1", method: "GET", url: "/me" }] } });
    expect(noAuth.status).toBe(401);
  });

  test("a batch part is throttled like any call", async () => {
    sim = await startSim({ clock: "manual", scenario: "lab", behaviours: { alice: { throttle: { everyN: 2 } } } });
    const r = await call(sim, "POST", "/v1.0/$batch", {
      token: sim.token("alice"),
      body: { requests: [1, 2, 3].map((i) => ({ id: String(i), method: "GET", url: "/me" })) },
    });
    const parts = r.json.responses as Array<{ status: number; headers: Record<string, string> }>;
    expect(parts.map((p) => p.status)).toEqual([200, 429, 200]);
    expect(parts[1]!.headers["Retry-After"]).toBe("1");
  });
});

describe("HTTP surface", () => {
  test("Graph headers on every response, client-request-id echoed, OData context", async () => {
    sim = await startSim({ scenario: "lab", clock: "manual", startAt: Date.UTC(2026, 1, 10, 9) });
    const r = await get(sim, "/v1.0/me", sim.token("megan"), { "client-request-id": "abc-123" });
    expect(r.status).toBe(200);
    expect(r.headers["request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers["client-request-id"]).toBe("abc-123");
    expect(parseAgsDiagnostic(String(r.headers["x-ms-ags-diagnostic"]))).toMatchObject({ dataCenter: "West Europe", slice: "E", ring: "5" });
    expect(r.headers["date"]).toBe("Tue, 10 Feb 2026 09:00:00 GMT");
    expect(r.json["@odata.context"]).toBe("https://graph.microsoft.com/v1.0/$metadata#users/$entity");
    const missing = await get(sim, "/v1.0/nothing/here", sim.token("megan"));
    expect(missing.status).toBe(404);
    const err = parseGraphError(missing.raw)!;
    expect(err.requestId).toBe(missing.headers["request-id"]);
    expect(err.clientRequestId).toBe(missing.headers["client-request-id"]);
    expect(err.date).toBe("2026-02-10T09:00:00");
    expect((await get(sim, "/v1.0/drives/b!nope/root", sim.token("megan"))).json.error.code).toBe("itemNotFound");
    expect((await get(sim, "/v1.0/users/nobody", sim.token("megan"))).json.error.code).toBe("Request_ResourceNotFound");
  });

  test("gzip when accepted, and configurable", async () => {
    sim = await startSim({ scenario: "lab", clock: "manual" });
    const t = sim.token("megan");
    const zipped = await get(sim, "/v1.0/me", t, { "accept-encoding": "gzip, deflate" });
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    expect(zipped.wire.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(zipped.json.userPrincipalName).toBe(sim.principal("megan").upn);
    expect((await get(sim, "/v1.0/me", t)).headers["content-encoding"]).toBeUndefined();
    sim.gzip = false;
    expect((await get(sim, "/v1.0/me", t, { "accept-encoding": "gzip" })).headers["content-encoding"]).toBeUndefined();
  });

  test("writes: createLink and PATCH for a member; a guest is refused", async () => {
    sim = await startSim({ scenario: "lab", clock: "manual" });
    const budget = sim.scenario.items.find((i) => i.name === "Budget.xlsx")!;
    const base = `/v1.0/drives/${budget.driveId}/items/${budget.id}`;
    const link = await call(sim, "POST", `${base}/createLink`, { token: sim.token("megan"), body: { type: "view", scope: "organization" } });
    expect(link.status).toBe(201);
    expect(decodeShareId(link.json.shareId)).toBe(link.json.link.webUrl);
    // The new link resolves through /shares for a member of the tenant.
    expect((await get(sim, `/v1.0/shares/${link.json.shareId}/driveItem`, sim.token("megan"))).json.id).toBe(budget.id);
    const patched = await call(sim, "PATCH", base, { token: sim.token("megan"), body: { name: "Budget 2026.xlsx" } });
    expect([patched.status, patched.json.name]).toEqual([200, "Budget 2026.xlsx"]);
    const guest = await call(sim, "POST", `${base}/createLink`, { token: sim.token("alice"), body: { type: "view" } });
    expect(guest.status).toBe(403);
  });

  test("content bytes, /users by UPN, sites, app-only /me", async () => {
    sim = await startSim({ scenario: "prod", clock: "manual" });
    const plan = sim.scenario.items.find((i) => i.name === "Q1 Plan.docx")!;
    const bytes = await get(sim, `/v1.0/drives/${plan.driveId}/items/${plan.id}/content`, sim.token("megan"));
    expect(bytes.raw.equals(plan.content!)).toBe(true);
    const upn = encodeURIComponent(sim.principal("alice").upn!);
    expect((await get(sim, `/v1.0/users/${upn}`, sim.token("megan"))).json.id).toBe(sim.principal("alice").id);
    expect((await get(sim, "/v1.0/sites/root", sim.token("alice"))).json.root).toEqual({});
    expect((await get(sim, `/v1.0/sites/${sim.scenario.sites[1]!.id}`, sim.token("megan"))).status).toBe(200);
    expect((await get(sim, "/v1.0/me", sim.token("daemon"))).status).toBe(400);
  });
});

describe("faults and lifecycle", () => {
  test("resetEveryN resets the connection; dropPaths closes it without an answer", async () => {
    sim = await startSim({ scenario: "lab", clock: "manual", faults: { resetEveryN: 2 } });
    const t = sim.token("megan");
    expect((await get(sim, "/v1.0/me", t)).status).toBe(200);
    await expect(get(sim, "/v1.0/me", t)).rejects.toMatchObject({ code: "ECONNRESET" });
    expect((await get(sim, "/v1.0/me", t)).status).toBe(200);
    sim.faults = { dropPaths: ["/sites/**"] };
    await expect(get(sim, "/v1.0/sites/root", t)).rejects.toThrow();
    expect(sim.requests.map((r) => r.fault ?? r.status)).toEqual([200, "reset", 200, "drop"]);
  });

  test("close() closes the listener and every socket, even a kept-alive one", async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r.startsWith("TCP")).length;
    sim = await startSim({ scenario: "lab" });
    const agent = new Agent({ keepAlive: true });
    const r = await call(sim, "GET", "/v1.0/me", { token: sim.token("megan"), agent });
    expect(r.status).toBe(200);
    const port = sim.port;
    await sim.close();
    sim = undefined;
    agent.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(process.getActiveResourcesInfo().filter((x) => x.startsWith("TCP")).length).toBeLessThanOrEqual(before);
    const refused = await new Promise<string>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.on("connect", () => { s.destroy(); resolve("connected"); });
      s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    });
    expect(refused).toBe("ECONNREFUSED");
  });
});

describe("scenarios", () => {
  test("deterministic ids, realistic shapes, and a prod → lab id map", () => {
    const a = prodScenario();
    const b = prodScenario();
    const lab = labScenario();
    expect(a.tenant.id).toBe(b.tenant.id);
    expect(a.links[0]!.url).toBe(b.links[0]!.url);
    expect(a.tenant.id).not.toBe(lab.tenant.id);
    expect(a.tenant.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.drives[0]!.id).toMatch(/^b![A-Za-z0-9_-]{64}$/);
    for (const item of a.items) expect(item.id).toMatch(/^01[A-Z2-7]{32}$/);
    expect(a.links[0]!.url).toMatch(/^https:\/\/contoso\.sharepoint\.com\/:w:\/s\/Team\/E[A-Za-z0-9]{45}$/);
    expect(decodeShareId(a.links[0]!.shareId)).toBe(a.links[0]!.url);
    expect(a.behaviours["alice"]?.warmUp).toBeDefined();
    expect(lab.behaviours["alice"]).toBeUndefined();
    const map = idMap(a, lab);
    expect(map[a.drives[0]!.id]).toBe(lab.drives[0]!.id);
    expect(map[a.links[0]!.url]).toBe(lab.links[0]!.url);
    expect(map[a.principals[0]!.upn!]).toBe(lab.principals[0]!.upn);
    expect(map[a.items[1]!.id]).toBe(lab.items[1]!.id);
  });
});
