// Who made a call, from the decoded claims of its bearer token. The identity key must
// stay the same across every token one person gets (refreshes, new scopes, CAE), so it
// is built only from the tenant and the object id.
import type { TokenInfo } from "../exchange/types.js";

export interface Identity {
  key: string;
  kind: "user" | "app" | "anonymous" | "opaque";
  tenantId?: string;
  objectId?: string;
  upn?: string;
  appId?: string;
  guest: boolean;
  idp?: string;
  homeTenantId?: string;
}

/** The tenant of personal Microsoft accounts: its users are not guests of anyone. */
const CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad";
const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

export function identityOf(token: TokenInfo | undefined): Identity {
  if (!token) return { key: "anonymous", kind: "anonymous", guest: false };
  const c = token.claims;
  const opaque: Identity = { key: `token:${token.hash}`, kind: "opaque", guest: false };
  if (Object.keys(c).length === 0) return opaque;

  const tid = str(c["tid"]);
  const oid = str(c["oid"]);
  const appId = str(c["appid"]) ?? str(c["azp"]);
  if (isAppOnly(c) && (appId || oid)) {
    const id: Identity = { key: `app:${tid ?? "?"}:${appId ?? oid}`, kind: "app", guest: false };
    if (tid) id.tenantId = tid;
    if (oid) id.objectId = oid;
    if (appId) id.appId = appId;
    return id;
  }

  const sub = str(c["sub"]);
  // oid is stable per user and tenant; sub is pairwise per app, a last resort only.
  const subject = oid ?? (sub ? `sub:${sub}` : undefined);
  if (!subject) return opaque;
  const guest = isGuest(c);
  const id: Identity = { key: `${tid ?? "?"}:${subject}`, kind: "user", guest };
  if (tid) id.tenantId = tid;
  if (oid) id.objectId = oid;
  const upn = upnOf(c);
  if (upn) id.upn = upn;
  if (appId) id.appId = appId;
  const idp = str(c["idp"]);
  if (idp) id.idp = idp;
  const home = str(c["home_tid"]) ?? (idp ? GUID.exec(idp)?.[0] : undefined);
  if (home && home.toLowerCase() !== tid?.toLowerCase()) id.homeTenantId = home;
  return id;
}

/** The user's sign-in name: upn ?? unique_name ?? preferred_username ?? email. */
export function upnOf(claims: Record<string, unknown>): string | undefined {
  return (
    str(claims["upn"]) ?? str(claims["unique_name"]) ?? str(claims["preferred_username"]) ?? str(claims["email"])
  );
}

/**
 * App-only (client credentials) tokens: idtyp=app when the optional claim is on;
 * otherwise no delegated scopes and oid equal to sub (both are the service principal).
 */
function isAppOnly(c: Record<string, unknown>): boolean {
  const idtyp = str(c["idtyp"]);
  if (idtyp === "app") return true;
  if (idtyp === "user") return false;
  if (c["scp"] !== undefined) return false;
  const oid = str(c["oid"]);
  const hasRoles = Array.isArray(c["roles"]) && c["roles"].length > 0;
  return hasRoles || oid === undefined || oid === str(c["sub"]);
}

/**
 * A guest (B2B) token: acct=1, or an identity provider other than the token's own
 * tenant (another Entra tenant, live.com, mail for email one-time passcode, google.com…),
 * or a #EXT# user principal name.
 */
export function isGuest(claims: Record<string, unknown>): boolean {
  const acct = claims["acct"];
  if (acct === 1 || acct === "1") return true;
  const tid = str(claims["tid"]);
  const idp = str(claims["idp"]);
  if (idp && tid?.toLowerCase() !== CONSUMER_TENANT && !isOwnIssuer(idp, claims)) return true;
  const homeTid = str(claims["home_tid"]);
  if (homeTid && tid && homeTid.toLowerCase() !== tid.toLowerCase()) return true;
  for (const name of ["upn", "unique_name", "preferred_username"]) {
    if (str(claims[name])?.toUpperCase().includes("#EXT#")) return true;
  }
  return false;
}

function isOwnIssuer(idp: string, claims: Record<string, unknown>): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/\/+$/, "");
  const iss = str(claims["iss"]);
  if (iss && norm(iss) === norm(idp)) return true;
  // v1 idp https://sts.windows.net/{tid}/ vs v2 iss https://login.microsoftonline.com/{tid}/v2.0
  const idpTenant = GUID.exec(idp)?.[0]?.toLowerCase();
  if (!idpTenant) return false;
  const tid = str(claims["tid"])?.toLowerCase();
  const issTenant = iss ? GUID.exec(iss)?.[0]?.toLowerCase() : undefined;
  return idpTenant === tid || idpTenant === issTenant;
}

/** Claims whose values differ between two tokens (arrays and objects compared by value). */
export function describeTokenChange(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): Array<{ claim: string; before: unknown; after: unknown }> {
  const out: Array<{ claim: string; before: unknown; after: unknown }> = [];
  const names = [...Object.keys(before), ...Object.keys(after).filter((k) => !(k in before))];
  for (const claim of names) {
    if (!sameValue(before[claim], after[claim])) out.push({ claim, before: before[claim], after: after[claim] });
  }
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => sameValue(v, b[i]));
  }
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => k in b && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}
