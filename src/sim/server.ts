// The simulated Graph tenant: an HTTPS server on loopback that answers like Graph
// (headers, error bodies, OData shapes, $batch) and misbehaves on purpose, per
// principal, under a clock the tests control. Used by the demo, by the tests of
// analyze and replay, and by `graphtap sim`.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { decodeShareId, encodeShareId } from "../graph/shares.js";
import { bearerToken, decodeJwtClaims, tokenHash } from "../graph/token.js";
import { createAuthority, LeafFactory } from "../tls/authority.js";
import {
  BehaviourEngine,
  matchPattern,
  type CallFacts,
  type PrincipalBehaviours,
  type Refusal,
  type WarmState,
} from "./behaviours.js";
import { runBatch } from "./batch.js";
import {
  accessDenied,
  finish,
  graphError,
  insufficient,
  invalidToken,
  itemNotFound,
  methodNotAllowed,
  notFoundDirectory,
  ok,
  refuse,
  unknownSegment,
  type Call,
  type Reply,
} from "./reply.js";
import {
  context,
  driveJson,
  groupJson,
  itemJson,
  permissionJson,
  select,
  siteJson,
  userJson,
} from "./entities.js";
import { findPrincipal, scenarioByName, type DriveItem, type Principal, type Scenario, type SharingLink } from "./tenant.js";
import { appClaims, DEFAULT_TOKEN_LIFETIME_MS, mintToken, userClaims, type Claims } from "./tokens.js";

export interface SimFaults {
  /** Every Nth request (counted over all connections) has its connection reset. */
  resetEveryN?: number;
  /** Requests matching these path patterns get no response: the connection is closed. */
  dropPaths?: string[];
}

export interface SimOptions {
  /** 0 (default) picks a free port. The sim only ever listens on 127.0.0.1. */
  port?: number;
  scenario?: Scenario | "prod" | "lab";
  /** Behaviours per principal (name, id or upn), replacing the scenario's for that principal. */
  behaviours?: Record<string, PrincipalBehaviours | undefined>;
  /** "real" (default): wall time plus whatever advance() added. "manual": time moves only by advance(). */
  clock?: "real" | "manual";
  /** Start of a manual clock, epoch ms (default: now). */
  startAt?: number;
  /** Gzip bodies when the client accepts it (default true). */
  gzip?: boolean;
  faults?: SimFaults;
  /** Lifetime of tokens from sim.token() (default 75 min). */
  tokenLifetimeMs?: number;
}

export interface SimClock {
  now(): number;
  advance(ms: number): void;
  readonly manual: boolean;
}

export interface SimRequest {
  /** 1-based order of arrival; $batch parts get their own numbers after the envelope. */
  seq: number;
  /** Sim clock, epoch ms. */
  time: number;
  method: string;
  /** Path with query, as received (for a $batch part: the part's url, version added). */
  path: string;
  /** Lower-cased names; for a batch part the envelope's authorization plus the part's headers. */
  headers: Record<string, string>;
  /** The raw Authorization value (the sim is the server: it sees the token). */
  authorization?: string;
  /** Decoded claims of the bearer token, {} if none or not a JWT. */
  claims: Claims;
  /** The principal's name when the token was accepted. */
  principal?: string;
  /** Undefined when the connection was reset or dropped. */
  status?: number;
  errorCode?: string;
  /** The behaviour that refused the call, if one did. */
  behaviour?: Refusal["behaviour"];
  requestId: string;
  batch?: { envelopeSeq: number; partId: string };
  fault?: "reset" | "drop";
}

export interface TokenRequest {
  /** Token lifetime (default the sim's). */
  lifetimeMs?: number;
  /** Issue time, epoch ms (default the sim clock's now). */
  issuedAt?: number;
  /** Delegated scopes instead of the principal's. */
  scopes?: string[];
  /** App roles instead of the principal's. */
  roles?: string[];
  /** Extra or overriding claims. */
  claims?: Claims;
}

export interface Sim {
  url: string;
  port: number;
  caPem: string;
  scenario: Scenario;
  /** A fresh token for a principal (name, id or upn), issued on the sim clock. */
  token(who: string, opts?: TokenRequest): string;
  principal(who: string): Principal;
  requests: SimRequest[];
  clock: SimClock;
  /** Changeable while running. */
  faults: SimFaults;
  gzip: boolean;
  behaviours(who: string): PrincipalBehaviours | undefined;
  setBehaviours(who: string, behaviours: PrincipalBehaviours | undefined): void;
  /** Whether the principal's link access is warm right now. */
  warmState(who: string): WarmState;
  /** Forgets warm-up grants and throttle counters (of one principal, or all). */
  resetState(who?: string): void;
  /** Every token of the principal issued so far is refused from now on (like revokeSignInSessions). */
  revokeTokens(who: string): void;
  close(): Promise<void>;
}

const SIM_HOSTS = ["127.0.0.1", "localhost", "graph.microsoft.com"];
const MAX_BODY = 4 * 1024 * 1024;
const READ_SCOPES = ["files.read", "files.read.all", "files.readwrite", "files.readwrite.all", "sites.read.all", "sites.readwrite.all", "sites.manage.all", "sites.fullcontrol.all"];
const WRITE_SCOPES = ["files.readwrite", "files.readwrite.all", "sites.readwrite.all", "sites.manage.all", "sites.fullcontrol.all"];

interface Auth {
  principal: Principal;
  claims: Claims;
  token: string;
}

export async function startSim(opts: SimOptions = {}): Promise<Sim> {
  const scenario = typeof opts.scenario === "object" ? opts.scenario : scenarioByName(opts.scenario ?? "prod");
  const clock = makeClock(opts);
  const engine = new BehaviourEngine();
  const lookup = (who: string): Principal => {
    const p = findPrincipal(scenario, who);
    if (!p) throw new Error(`no principal "${who}" in the ${scenario.name} scenario`);
    return p;
  };
  for (const [who, b] of Object.entries(scenario.behaviours)) engine.set(lookup(who).id, b);
  for (const [who, b] of Object.entries(opts.behaviours ?? {})) engine.set(lookup(who).id, b);

  const ca = createAuthority({ commonName: "graphtap sim CA", permitted: SIM_HOSTS });
  const leaf = new LeafFactory(ca).issue(SIM_HOSTS);
  const minted = new Map<string, Set<string>>();
  const requests: SimRequest[] = [];
  let seq = 0;
  let arrivals = 0;
  const lifetime = opts.tokenLifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS;

  const state = {
    faults: { ...opts.faults } as SimFaults,
    gzip: opts.gzip ?? true,
  };

  // ---- one call through auth, behaviours and routing -------------------------------

  /** Logs a call as it arrives (so a $batch envelope comes before its parts). */
  const begin = (call: Call, fault?: "reset" | "drop"): SimRequest => {
    const authorization = call.headers["authorization"];
    const entry: SimRequest = {
      seq: ++seq,
      time: call.time,
      method: call.method,
      path: `/${call.version}${call.path}${call.query.size ? `?${call.query.toString()}` : ""}`,
      headers: { ...call.headers },
      claims: claimsOf(authorization),
      requestId: call.requestId,
    };
    if (authorization !== undefined) entry.authorization = authorization;
    if (call.batch) entry.batch = call.batch;
    if (fault) entry.fault = fault;
    call.seq = entry.seq;
    requests.push(entry);
    return entry;
  };

  const end = (entry: SimRequest, reply: Reply, principal?: Principal): void => {
    entry.status = reply.status;
    if (principal) entry.principal = principal.name;
    if (reply.errorCode) entry.errorCode = reply.errorCode;
    if (reply.behaviour) entry.behaviour = reply.behaviour;
  };

  const authenticate = (call: Call): Auth | Reply => {
    const raw = call.headers["authorization"];
    if (raw === undefined || raw.trim() === "") return invalidToken(call, "Access token is empty.");
    const token = bearerToken(raw);
    if (!token) return invalidToken(call, "Access token is empty.");
    const claims = decodeJwtClaims(token);
    if (Object.keys(claims).length === 0 || token.split(".").length !== 3) {
      return invalidToken(call, "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format.");
    }
    const aud = claims["aud"];
    if (aud !== "https://graph.microsoft.com" && aud !== "https://graph.microsoft.com/" && aud !== "00000003-0000-0000-c000-000000000000") {
      return invalidToken(call, "Access token validation failure. Invalid audience.");
    }
    const now = clock.now();
    const exp = num(claims["exp"]);
    if (exp === undefined || exp * 1000 <= now) return invalidToken(call, "Lifetime validation failed, the token is expired.");
    const nbf = num(claims["nbf"]);
    if (nbf !== undefined && nbf * 1000 > now + 5 * 60_000) return invalidToken(call, "Lifetime validation failed, the token is not yet valid.");
    if (String(claims["tid"]).toLowerCase() !== scenario.tenant.id) {
      return invalidToken(call, "Access token validation failure. Invalid issuer.");
    }
    const hasScp = typeof claims["scp"] === "string" && claims["scp"] !== "";
    const hasRoles = Array.isArray(claims["roles"]) && claims["roles"].length > 0;
    if (!hasScp && !hasRoles) return invalidToken(call, "Either scp or roles claim need to be present in the token.");
    const principal = hasScp
      ? scenario.principals.find((p) => p.kind !== "app" && p.id === String(claims["oid"]).toLowerCase())
      : scenario.principals.find((p) => p.kind === "app" && p.appId === String(claims["appid"]).toLowerCase());
    if (!principal) return invalidToken(call, "Access token validation failure. The user or application does not exist in the tenant.");
    return { principal, claims, token };
  };

  /** Runs one call (top-level or batch part) and logs it. */
  const runCall = async (call: Call): Promise<Reply> => {
    const entry = begin(call);
    const auth = authenticate(call);
    if (!("principal" in auth)) {
      end(entry, auth);
      return auth;
    }
    const facts: CallFacts = {
      method: call.method,
      path: call.path,
      token: auth.token,
      issuedAt: num(auth.claims["iat"]),
      now: call.time,
    };
    let reply: Reply;
    if (call.path === "/$batch" && !call.batch) {
      reply = call.method === "POST" ? await runBatch(call, runCall, clock.now) : methodNotAllowed(call, ["POST"]);
    } else {
      const refusal = engine.before(auth.principal.id, facts);
      if (refusal) reply = refuse(call, refusal);
      else {
        engine.observe(auth.principal.id, facts);
        reply = route(call, auth, call.time);
      }
    }
    end(entry, reply, auth.principal);
    return reply;
  };

  // ---- routing ------------------------------------------------------------------------

  const route = (call: Call, auth: Auth, now: number): Reply => {
    const segs = call.path.split("/").filter((s) => s !== "").map(safeDecode);
    const method = call.method === "HEAD" ? "GET" : call.method;
    const [a, b, c, d] = segs;
    const n = segs.length;
    const v = call.version;
    const p = auth.principal;
    const sel = call.query.get("$select");
    const lower = (s: string | undefined) => (s ?? "").toLowerCase();

    if (n === 1 && lower(a) === "me") {
      if (method !== "GET") return methodNotAllowed(call, ["GET"]);
      if (p.kind === "app") return graphError(call, 400, "BadRequest", "/me request is only valid with delegated authentication flow.");
      return ok({ "@odata.context": context(v, "users/$entity"), ...select(userJson(p), sel) });
    }
    if (n === 2 && lower(a) === "users") {
      if (method !== "GET") return methodNotAllowed(call, ["GET"]);
      const user = findPrincipal(scenario, b!);
      if (!user || user.kind === "app") return notFoundDirectory(call, b!);
      if (p.kind === "guest" && user.id !== p.id) return insufficient(call);
      return ok({ "@odata.context": context(v, "users/$entity"), ...select(userJson(user), sel) });
    }
    if (lower(a) === "groups" && (n === 2 || (n === 3 && lower(c) === "drive"))) {
      if (method !== "GET") return methodNotAllowed(call, ["GET"]);
      const group = scenario.groups.find((g) => g.id === lower(b));
      if (!group) return notFoundDirectory(call, b!);
      const member = p.kind === "app" || group.members.includes(p.id);
      if (n === 2) {
        if (!member && p.kind === "guest") return insufficient(call);
        return ok({ "@odata.context": context(v, "groups/$entity"), ...select(groupJson(group), sel) });
      }
      // Guests are not members: the group's drive refuses them (and, in prod, warms them up).
      if (!member || !hasScope(auth, false)) return accessDenied(call);
      const drive = scenario.drives.find((x) => x.id === group.driveId);
      if (!drive) return itemNotFound(call);
      return ok({ "@odata.context": context(v, `groups('${group.id}')/drive/$entity`), ...select(driveJson(drive, scenario), sel) });
    }
    if (lower(a) === "sites" && n >= 2) {
      const site = lower(b) === "root"
        ? scenario.sites.find((s) => s.root)
        : scenario.sites.find((s) => s.id.toLowerCase() === lower(b) || (s.root && lower(b) === s.id.split(",")[0]));
      if (!site) return itemNotFound(call, "Requested site could not be found");
      if (method !== "GET") return methodNotAllowed(call, ["GET"]);
      const drive = scenario.drives.find((x) => x.siteId === site.id);
      const full = site.root || (drive !== undefined && hasFullAccess(p, drive.id));
      if (n === 2) {
        if (!full) return accessDenied(call);
        return ok({ "@odata.context": context(v, "sites/$entity"), ...select(siteJson(site), sel) });
      }
      if (n === 3 && lower(c) === "drive") {
        if (!drive) return itemNotFound(call);
        if (!full || !hasScope(auth, false)) return accessDenied(call);
        return ok({ "@odata.context": context(v, `sites('${site.id}')/drive/$entity`), ...select(driveJson(drive, scenario), sel) });
      }
      return unknownSegment(call, segs[2] ?? "");
    }
    if (lower(a) === "drives" && n >= 2) {
      const drive = scenario.drives.find((x) => x.id === b);
      if (!drive) return graphError(call, 404, "itemNotFound", "The provided drive id appears to be malformed, or does not represent a valid drive.");
      if (n === 2) {
        if (method !== "GET") return methodNotAllowed(call, ["GET"]);
        if (!hasFullAccess(p, drive.id) || !hasScope(auth, false)) return accessDenied(call);
        return ok({ "@odata.context": context(v, "drives/$entity"), ...select(driveJson(drive, scenario), sel) });
      }
      let item: DriveItem | undefined;
      let rest: string[];
      let ctx: string;
      if (lower(c) === "root") {
        item = scenario.items.find((i) => i.id === drive.rootId);
        rest = segs.slice(3);
        ctx = `drives('${drive.id}')/root`;
      } else if (lower(c) === "items" && d !== undefined) {
        item = scenario.items.find((i) => i.driveId === drive.id && i.id.toLowerCase() === lower(d));
        rest = segs.slice(4);
        ctx = `drives('${drive.id}')/items`;
        if (item && item.id === drive.rootId) ctx = `drives('${drive.id}')/root`;
      } else return unknownSegment(call, c ?? "");
      if (!item) return itemNotFound(call);
      return itemRoute(call, auth, now, item, rest, ctx, method);
    }
    if (lower(a) === "shares" && n >= 3 && lower(c) === "driveitem") {
      const url = decodeShareId(b!);
      if (url === undefined) return graphError(call, 400, "invalidRequest", "Invalid shares key.");
      const link = findLink(url);
      if (!link) return itemNotFound(call);
      const item = scenario.items.find((i) => i.id === link.itemId);
      if (!item) return itemNotFound(call);
      if (!hasFullAccess(p, item.driveId) && !linkGrants(link, p)) return accessDenied(call);
      if (n > 4 || (n === 4 && lower(d) !== "content")) return unknownSegment(call, d ?? "");
      return itemRoute(call, auth, now, item, segs.slice(3), `shares('${b}')/driveItem`, method);
    }
    return unknownSegment(call, a ?? "");
  };

  /** /…/{item}[/children|/content|/createLink]: access, warm-up gate, then the action. */
  const itemRoute = (call: Call, auth: Auth, now: number, item: DriveItem, rest: string[], ctx: string, method: string): Reply => {
    const p = auth.principal;
    const v = call.version;
    const sel = call.query.get("$select");
    const action = (rest[0] ?? "").toLowerCase();
    if (rest.length > 1 || !["", "children", "content", "createlink"].includes(action)) {
      return unknownSegment(call, rest[0] ?? "");
    }
    const write = method !== "GET" || action === "createlink";
    const allowed = { GET: action !== "createlink", PATCH: action === "", POST: action === "createlink" } as Record<string, boolean>;
    if (!allowed[method]) return methodNotAllowed(call, action === "createlink" ? ["POST"] : action === "" ? ["GET", "PATCH"] : ["GET"]);

    const full = hasFullAccess(p, item.driveId);
    const link = full ? undefined : linkFor(p, item);
    if (!full && !link) return accessDenied(call);
    if (!hasScope(auth, write)) return accessDenied(call);
    if (link) {
      // Access through a sharing link is what the guest warm-up gates.
      const refusal = engine.gate(p.id, now);
      if (refusal) return refuse(call, refusal);
      if (write && (link.type !== "edit" || action === "createlink")) return accessDenied(call);
    }

    if (action === "content") {
      if (item.folder) return graphError(call, 400, "invalidRequest", "The item is a folder: it has no content.");
      return {
        status: 200,
        headers: { "content-type": item.mimeType ?? "application/octet-stream" },
        body: item.content ?? Buffer.alloc(0),
      };
    }
    if (action === "children") {
      const children = scenario.items.filter((i) => i.parentId === item.id);
      return ok({
        "@odata.context": context(v, `${ctx.endsWith("/items") ? `${ctx}('${item.id}')` : ctx}/children`),
        value: children.map((i) => select(itemJson(i, scenario), sel)),
      });
    }
    if (action === "createlink") return createLink(call, item);
    if (method === "PATCH") {
      const body = jsonBody(call);
      if (!body) return graphError(call, 400, "invalidRequest", "Invalid request body.");
      if (typeof body["name"] === "string" && body["name"] !== "") item.name = body["name"];
      item.modifiedAt = new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z");
      item.eTagVersion++;
    }
    return ok({ "@odata.context": context(v, `${ctx}/$entity`), ...select(itemJson(item, scenario), sel) });
  };

  const createLink = (call: Call, item: DriveItem): Reply => {
    const body = jsonBody(call);
    const type = body?.["type"];
    const scope = body?.["scope"] ?? "organization";
    if (type !== "view" && type !== "edit") return graphError(call, 400, "invalidRequest", "Invalid value for 'type'.");
    if (scope !== "users" && scope !== "organization" && scope !== "anonymous") {
      return graphError(call, 400, "invalidRequest", "Invalid value for 'scope'.");
    }
    const existing = scenario.links.find((l) => l.itemId === item.id && l.type === type && l.scope === scope && l.grantedTo.length === 0);
    if (existing) return ok({ "@odata.context": context(call.version, "microsoft.graph.permission"), ...permissionJson(existing) });
    const drive = scenario.drives.find((x) => x.id === item.driveId);
    const site = scenario.sites.find((s) => s.id === drive?.siteId);
    const kind = item.folder ? "f" : /\.docx$/i.test(item.name) ? "w" : /\.xlsx$/i.test(item.name) ? "x" : "u";
    const url = `https://${scenario.tenant.sharePointHost}/:${kind}:/s/${site?.name || "root"}/E${randomUUID().replace(/-/g, "")}${randomUUID().replace(/-/g, "").slice(0, 13)}`;
    const link: SharingLink = {
      id: randomUUID(),
      url,
      shareId: encodeShareId(url),
      driveId: item.driveId,
      itemId: item.id,
      type,
      scope,
      grantedTo: [],
    };
    scenario.links.push(link);
    return {
      ...ok({ "@odata.context": context(call.version, "microsoft.graph.permission"), ...permissionJson(link) }),
      status: 201,
    };
  };

  const hasFullAccess = (p: Principal, driveId: string): boolean => {
    if (p.kind === "app") return true;
    const drive = scenario.drives.find((d) => d.id === driveId);
    const group = drive?.groupId ? scenario.groups.find((g) => g.id === drive.groupId) : undefined;
    return group !== undefined && group.members.includes(p.id);
  };

  const linkGrants = (link: SharingLink, p: Principal): boolean =>
    link.scope === "anonymous" ||
    (link.scope === "organization" && p.kind === "member") ||
    link.grantedTo.includes(p.id);

  /** The sharing link that lets `p` reach `item` (on the item or a folder above it). */
  const linkFor = (p: Principal, item: DriveItem): SharingLink | undefined => {
    for (let cur: DriveItem | undefined = item; cur; cur = scenario.items.find((i) => i.id === cur!.parentId)) {
      const link = scenario.links.find((l) => l.itemId === cur!.id && linkGrants(l, p));
      if (link) return link;
      if (cur.parentId === undefined) break;
    }
    return undefined;
  };

  const findLink = (url: string): SharingLink | undefined => {
    const norm = (u: string) => u.split("?")[0]!.replace(/\/+$/, "").toLowerCase();
    return scenario.links.find((l) => norm(l.url) === norm(url));
  };

  const hasScope = (auth: Auth, write: boolean): boolean => {
    const granted = [
      ...String(auth.claims["scp"] ?? "").split(" "),
      ...(Array.isArray(auth.claims["roles"]) ? auth.claims["roles"].map(String) : []),
    ].map((s) => s.toLowerCase());
    const need = write ? WRITE_SCOPES : READ_SCOPES;
    return granted.some((s) => need.includes(s));
  };

  // ---- HTTP ---------------------------------------------------------------------------

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    arrivals++;
    const headers = headerRecord(req);
    const target = new URL(req.url ?? "/", "https://graph.microsoft.com");
    const versionMatch = /^\/(v1\.0|beta)(\/.*)?$/i.exec(target.pathname);
    const call: Call = {
      method: (req.method ?? "GET").toUpperCase(),
      version: versionMatch?.[1]?.toLowerCase() ?? "v1.0",
      path: versionMatch ? (versionMatch[2] ?? "/") : target.pathname,
      query: target.searchParams,
      headers,
      body: Buffer.alloc(0),
      requestId: randomUUID(),
      clientRequestId: headers["client-request-id"] ?? randomUUID(),
      time: clock.now(),
    };

    const { resetEveryN, dropPaths } = state.faults;
    if (resetEveryN && resetEveryN > 0 && arrivals % resetEveryN === 0) {
      begin(call, "reset");
      resetConnection(req.socket);
      return;
    }
    if (dropPaths?.some((p) => matchPattern(p, call.method, call.path))) {
      begin(call, "drop");
      req.socket.destroy();
      return;
    }

    let reply: Reply;
    try {
      call.body = await readBody(req);
      if (versionMatch) reply = await runCall(call);
      else {
        reply = unknownSegment(call, target.pathname.split("/")[1] ?? "");
        end(begin(call), reply);
      }
    } catch (err) {
      if ((err as { code?: string }).code !== "BODY_TOO_LARGE") throw err;
      reply = graphError(call, 413, "RequestEntityTooLarge", "The request body is too large.");
      end(begin(call), reply);
    }
    write(req, res, call, reply);
  };

  /** An RST, not a FIN: the client sees ECONNRESET, like a load balancer killing the flow. */
  const resetConnection = (tlsSocket: Socket): void => {
    const raw = [...sockets].find((s) => s.remotePort === tlsSocket.remotePort && s !== tlsSocket);
    try {
      if (raw) raw.resetAndDestroy();
      else tlsSocket.destroy();
    } catch {
      tlsSocket.destroy();
    }
  };

  const write = (req: IncomingMessage, res: ServerResponse, call: Call, reply: Reply): void => {
    const out = finish(call, reply, clock.now());
    let body = out.body;
    const accept = (req.headers["accept-encoding"] ?? "").toString();
    if (state.gzip && body.length > 0 && acceptsGzip(accept)) {
      body = gzipSync(body);
      out.headers["content-encoding"] = "gzip";
      out.headers["vary"] = "Accept-Encoding";
    }
    out.headers["content-length"] = String(body.length);
    if (!res.writable || res.headersSent) return;
    res.writeHead(reply.status, out.headers);
    res.end(call.method === "HEAD" ? undefined : body);
  };

  // ---- server -------------------------------------------------------------------------

  const sockets = new Set<Socket>();
  const server: Server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A bug in the sim must not leave the client hanging.
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(err));
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  // Tests fire many short calls: don't let idle keep-alive sockets linger for long.
  server.keepAliveTimeout = 2000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  const mintFor = (p: Principal, t: TokenRequest = {}): string => {
    const now = t.issuedAt ?? clock.now();
    const lifetimeMs = t.lifetimeMs ?? lifetime;
    const claims =
      p.kind === "app"
        ? appClaims({
            tenantId: scenario.tenant.id,
            appId: p.appId,
            servicePrincipalId: p.id,
            appName: p.appName,
            roles: t.roles ?? p.roles ?? [],
            now,
            lifetimeMs,
            ...(t.claims ? { extra: t.claims } : {}),
          })
        : userClaims({
            tenantId: scenario.tenant.id,
            objectId: p.id,
            upn: p.upn ?? p.name,
            name: p.displayName,
            ...(p.givenName ? { givenName: p.givenName } : {}),
            ...(p.surname ? { familyName: p.surname } : {}),
            appId: p.appId,
            appName: p.appName,
            scopes: t.scopes ?? p.scopes ?? [],
            now,
            lifetimeMs,
            ...(p.kind === "guest" && p.homeTenantId
              ? {
                  guest: {
                    homeTenantId: p.homeTenantId,
                    ...(p.homeObjectId ? { homeObjectId: p.homeObjectId } : {}),
                    ...(p.mail ? { email: p.mail } : {}),
                  },
                }
              : {}),
            ...(t.claims ? { extra: t.claims } : {}),
          });
    const token = mintToken(claims);
    let set = minted.get(p.id);
    if (!set) minted.set(p.id, (set = new Set()));
    set.add(tokenHash(token));
    return token;
  };

  let closed: Promise<void> | undefined;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caPem: ca.certPem,
    scenario,
    token: (who, t) => mintFor(lookup(who), t),
    principal: lookup,
    requests,
    clock,
    get faults() {
      return state.faults;
    },
    set faults(f: SimFaults) {
      state.faults = { ...f };
    },
    get gzip() {
      return state.gzip;
    },
    set gzip(on: boolean) {
      state.gzip = on;
    },
    behaviours: (who) => engine.get(lookup(who).id),
    setBehaviours: (who, b) => engine.set(lookup(who).id, b),
    warmState: (who) => engine.warmState(lookup(who).id, clock.now()),
    resetState: (who) => engine.reset(who === undefined ? undefined : lookup(who).id),
    revokeTokens: (who) => {
      const p = lookup(who);
      const current = engine.get(p.id) ?? {};
      const seen = requests.filter((r) => r.principal === p.name && r.authorization).map((r) => tokenHash(bearerToken(r.authorization) ?? ""));
      const tokens = new Set([...(current.tokenBound?.tokens ?? []), ...(minted.get(p.id) ?? []), ...seen]);
      engine.set(p.id, { ...current, tokenBound: { ...current.tokenBound, issuedBefore: clock.now(), tokens: [...tokens] } });
    },
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
      });
      return closed;
    },
  };

}

// ---- stateless helpers ---------------------------------------------------------------------

function makeClock(opts: SimOptions): SimClock {
  const manual = opts.clock === "manual";
  let offset = 0;
  const start = opts.startAt ?? Date.now();
  return {
    manual,
    now: () => (manual ? start + offset : Date.now() + offset),
    advance: (ms: number) => {
      if (!(ms >= 0)) throw new Error("the sim clock only moves forward");
      offset += ms;
    },
  };
}

function jsonBody(call: Call): Record<string, unknown> | undefined {
  if (call.body.length === 0) return undefined;
  try {
    const v: unknown = JSON.parse(call.body.toString("utf8"));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function claimsOf(authorization: string | undefined): Claims {
  const token = bearerToken(authorization);
  return token ? decodeJwtClaims(token) : {};
}

function headerRecord(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.removeAllListeners("data");
        req.resume();
        reject(Object.assign(new Error("body too large"), { code: "BODY_TOO_LARGE" }));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function acceptsGzip(accept: string): boolean {
  return accept.split(",").some((part) => {
    const [name, ...params] = part.trim().split(";");
    if (name?.trim().toLowerCase() !== "gzip" && name?.trim() !== "*") return false;
    const q = params.map((x) => /^\s*q=([\d.]+)/.exec(x)?.[1]).find((x) => x !== undefined);
    return q === undefined || Number(q) > 0;
  });
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v)) ? Number(v) : undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
