// Entra-like access tokens for the simulated tenant. They look like the real thing
// (RS256 header, v1.0 Graph claims, guest and app-only shapes) so every part of
// graphtap that reads claims can be tested on them, but the "signature" is random
// bytes: nothing here is trusted, and the sim checks claims, not signatures.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { decodeJwtClaims } from "../graph/token.js";

export type Claims = Record<string, unknown>;

export const GRAPH_AUDIENCE = "https://graph.microsoft.com";
/** Entra hands out access tokens valid for 60–90 minutes; the sim picks the middle. */
export const DEFAULT_TOKEN_LIFETIME_MS = 75 * 60_000;

export interface MintOptions {
  /** Key id in the header; real tokens carry the signing key's thumbprint. */
  kid?: string;
}

/** A compact JWS: base64url(header).base64url(claims).base64url(random "signature"). */
export function mintToken(claims: Claims, opts: MintOptions = {}): string {
  const kid = opts.kid ?? DEFAULT_KID;
  const header = { typ: "JWT", alg: "RS256", x5t: kid, kid };
  return [b64(JSON.stringify(header)), b64(JSON.stringify(claims)), randomBytes(256).toString("base64url")].join(".");
}

/** The header of a token minted here (or any JWS), {} when it is not one. */
export function decodeJwtHeader(token: string): Claims {
  const first = token.split(".")[0];
  if (!first) return {};
  try {
    const v: unknown = JSON.parse(Buffer.from(first, "base64url").toString("utf8"));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Claims) : {};
  } catch {
    return {};
  }
}

interface TimeOptions {
  /** Epoch ms the token is issued at (the sim clock's now); default Date.now(). */
  now?: number;
  lifetimeMs?: number;
}

export interface UserTokenInput extends TimeOptions {
  tenantId: string;
  objectId: string;
  upn: string;
  name: string;
  givenName?: string;
  familyName?: string;
  /** The client application the user signed in to. */
  appId: string;
  appName?: string;
  scopes: string[];
  /** For a B2B guest: the tenant (and object id there) the user really belongs to. */
  guest?: { homeTenantId: string; homeObjectId?: string; email?: string };
  /** Extra or overriding claims (e.g. wids, xms_cc, acrs). */
  extra?: Claims;
}

export interface AppTokenInput extends TimeOptions {
  tenantId: string;
  appId: string;
  /** The service principal's object id in the tenant. */
  servicePrincipalId: string;
  appName?: string;
  roles: string[];
  extra?: Claims;
}

/** Claims of a delegated (user) token for Graph, member or guest. */
export function userClaims(input: UserTokenInput): Claims {
  const t = times(input);
  const issuer = stsIssuer(input.tenantId);
  const claims: Claims = {
    aud: GRAPH_AUDIENCE,
    iss: issuer,
    iat: t.iat,
    nbf: t.nbf,
    exp: t.exp,
  };
  // acct=1 marks a guest; Entra puts it near the top, after the time claims.
  if (input.guest) claims["acct"] = 1;
  Object.assign(claims, {
    acr: "1",
    aio: opaque(42),
    amr: ["pwd", "mfa"],
    app_displayname: input.appName ?? "graphtap sim client",
    appid: input.appId,
    appidacr: "0",
  });
  if (input.guest) {
    claims["email"] = input.guest.email ?? input.upn;
    claims["idp"] = stsIssuer(input.guest.homeTenantId);
  }
  Object.assign(claims, {
    family_name: input.familyName ?? lastWord(input.name),
    given_name: input.givenName ?? firstWord(input.name),
    idtyp: "user",
    ipaddr: "127.0.0.1",
    name: input.name,
    oid: input.objectId,
    platf: "3",
    puid: puid(input.objectId),
    rh: `0.${opaque(60)}.`,
    scp: input.scopes.join(" "),
    sid: randomUUID(),
    sub: subject(input.objectId, input.appId),
    tenant_region_scope: "EU",
    tid: input.tenantId,
    unique_name: input.upn,
    upn: input.upn,
    uti: opaque(22),
    ver: "1.0",
    wids: input.guest ? ["08372b7b-2c0e-4be2-b3b5-75ed4ef0f541"] : ["b79fbf4d-3ef9-4689-8143-76b194e85509"],
    xms_ftd: opaque(43),
    xms_idrel: input.guest ? "5 1" : "1 10",
    xms_st: { sub: subject(input.objectId, "sim") },
    xms_tcdt: 1_600_000_000,
  });
  if (input.guest?.homeObjectId) claims["home_oid"] = input.guest.homeObjectId;
  if (input.guest) claims["home_tid"] = input.guest.homeTenantId;
  return { ...claims, ...input.extra };
}

/** Claims of an app-only (client credentials) token: roles, no scp, no upn. */
export function appClaims(input: AppTokenInput): Claims {
  const t = times(input);
  return {
    aud: GRAPH_AUDIENCE,
    iss: stsIssuer(input.tenantId),
    iat: t.iat,
    nbf: t.nbf,
    exp: t.exp,
    aio: opaque(42),
    app_displayname: input.appName ?? "graphtap sim daemon",
    appid: input.appId,
    appidacr: "1",
    idp: stsIssuer(input.tenantId),
    idtyp: "app",
    oid: input.servicePrincipalId,
    rh: `0.${opaque(60)}.`,
    roles: [...input.roles],
    sub: input.servicePrincipalId,
    tenant_region_scope: "EU",
    tid: input.tenantId,
    uti: opaque(22),
    ver: "1.0",
    wids: ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"],
    xms_idrel: "7 30",
    xms_tcdt: 1_600_000_000,
    ...input.extra,
  };
}

export interface RefreshOptions extends TimeOptions {
  /** Claims to change on the new token (e.g. another scp, added xms_cc). */
  claims?: Claims;
  kid?: string;
}

/**
 * A new token for the same person and app, as a refresh would give: new iat/nbf/exp,
 * new uti/aio/sid, the identity claims (tid, oid, upn, idp…) unchanged.
 */
export function refreshToken(token: string, opts: RefreshOptions = {}): string {
  const old = decodeJwtClaims(token);
  if (Object.keys(old).length === 0) throw new Error("not a JWT: cannot refresh it");
  const t = times(opts);
  const next: Claims = { ...old, iat: t.iat, nbf: t.nbf, exp: t.exp, uti: opaque(22) };
  if ("aio" in old) next["aio"] = opaque(42);
  if ("sid" in old) next["sid"] = randomUUID();
  const kid = opts.kid ?? (decodeJwtHeader(token)["kid"] as string | undefined);
  return mintToken({ ...next, ...opts.claims }, kid ? { kid } : {});
}

/** The v1 issuer Graph tokens carry: https://sts.windows.net/{tid}/ */
export function stsIssuer(tenantId: string): string {
  return `https://sts.windows.net/${tenantId}/`;
}

// Entra's current signing key ids look like this (a base64url SHA-1 thumbprint).
const DEFAULT_KID = createHash("sha1").update("graphtap sim signing key").digest("base64url");

function times(opts: TimeOptions): { iat: number; nbf: number; exp: number } {
  const now = opts.now ?? Date.now();
  const iat = Math.floor(now / 1000);
  // Entra backdates nbf/iat by five minutes against clock skew; iat stays "now" here
  // so "issued before" comparisons in the sim are exact to the second.
  return { iat, nbf: iat - 300, exp: iat + Math.floor((opts.lifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS) / 1000) };
}

function b64(s: string): string {
  return Buffer.from(s, "utf8").toString("base64url");
}

function opaque(length: number): string {
  return randomBytes(Math.ceil((length * 3) / 4) + 1).toString("base64url").slice(0, length);
}

/** Pairwise subject: stable per user and app, like Entra's. */
function subject(objectId: string, appId: string): string {
  return createHash("sha256").update(`${objectId}|${appId}`).digest("base64url").slice(0, 43);
}

function puid(objectId: string): string {
  return createHash("sha256").update(objectId).digest("hex").slice(0, 16).toUpperCase();
}

function firstWord(name: string): string {
  return name.split(/\s+/)[0] ?? name;
}

function lastWord(name: string): string {
  const parts = name.split(/\s+/);
  return parts[parts.length - 1] ?? name;
}
