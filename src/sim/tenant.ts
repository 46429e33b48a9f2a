// The simulated tenant's directory and files: tenants, users (members, guests),
// an app, groups with their team site and drive, drive items and sharing links.
// Ids are derived from a seed, so the same scenario always has the same ids (tests
// can write a replay map between prod and lab) while looking like real Graph ids.
import { createHash } from "node:crypto";
import { encodeShareId } from "../graph/shares.js";
import type { PrincipalBehaviours } from "./behaviours.js";

export interface Tenant {
  id: string;
  /** The initial domain: contoso.onmicrosoft.com */
  domain: string;
  /** SharePoint host: contoso.sharepoint.com */
  sharePointHost: string;
  displayName: string;
}

export type PrincipalKind = "member" | "guest" | "app";

export interface Principal {
  /** Short handle tests and the CLI use: "alice", "megan", "daemon". */
  name: string;
  kind: PrincipalKind;
  /** Object id in the resource tenant (a service principal's id for an app). */
  id: string;
  displayName: string;
  /** User principal name in the resource tenant (#EXT# form for a guest); apps have none. */
  upn?: string;
  mail?: string;
  givenName?: string;
  surname?: string;
  /** The client app a user signs in with, or the app's own id. */
  appId: string;
  appName: string;
  /** Delegated scopes on a user's tokens. */
  scopes?: string[];
  /** Application roles on an app-only token. */
  roles?: string[];
  /** For a guest: where the account lives. */
  homeTenantId?: string;
  homeObjectId?: string;
  homeDomain?: string;
}

export interface Site {
  /** hostname,siteCollectionId,webId */
  id: string;
  name: string;
  displayName: string;
  webUrl: string;
  root: boolean;
}

export interface Group {
  id: string;
  displayName: string;
  mailNickname: string;
  mail: string;
  /** Object ids of members (owners included). */
  members: string[];
  siteId: string;
  driveId: string;
}

export interface Drive {
  /** b!… */
  id: string;
  name: string;
  driveType: "documentLibrary" | "business";
  siteId: string;
  groupId?: string;
  rootId: string;
  webUrl: string;
}

export interface DriveItem {
  /** 01… (34 characters) */
  id: string;
  driveId: string;
  name: string;
  /** Undefined for the root. */
  parentId?: string;
  folder: boolean;
  /** File bytes; folders have none. */
  content?: Buffer;
  mimeType?: string;
  webUrl: string;
  createdAt: string;
  modifiedAt: string;
  eTagVersion: number;
}

export interface SharingLink {
  /** Permission id. */
  id: string;
  /** https://contoso.sharepoint.com/:w:/s/Team/EaBc… */
  url: string;
  /** u!… as Graph expects it in /shares/{shareId}. */
  shareId: string;
  driveId: string;
  itemId: string;
  type: "view" | "edit";
  scope: "users" | "organization" | "anonymous";
  /** Object ids the link was shared with (scope "users"). */
  grantedTo: string[];
}

export interface Scenario {
  name: string;
  tenant: Tenant;
  /** Tenants guests come from (not served by the sim; named in their tokens). */
  homeTenants: Tenant[];
  principals: Principal[];
  groups: Group[];
  sites: Site[];
  drives: Drive[];
  items: DriveItem[];
  links: SharingLink[];
  /** Behaviours per principal name, the sim's defaults for this scenario. */
  behaviours: Record<string, PrincipalBehaviours>;
}

// ---------------------------------------------------------------------------------
// Deterministic ids

/** A GUID derived from seed and label (version-4 layout, so it looks like Entra's). */
export function seededGuid(seed: string, label: string): string {
  const h = digest(seed, label);
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** A OneDrive/SharePoint item id: "01" + 32 base32 characters. */
export function seededItemId(seed: string, label: string): string {
  const h = digest(seed, label);
  let out = "01";
  for (let i = 0; i < 32; i++) out += BASE32[h[i]! & 31];
  return out;
}

/** A drive id: "b!" + base64url of site, web and list GUIDs (what SharePoint encodes). */
export function seededDriveId(seed: string, label: string): string {
  const bytes = Buffer.concat([
    guidBytes(seededGuid(seed, `${label}/site`)),
    guidBytes(seededGuid(seed, `${label}/web`)),
    guidBytes(seededGuid(seed, `${label}/list`)),
  ]);
  return `b!${bytes.toString("base64url")}`;
}

/** The last path segment of a sharing link: "E" + a 45-character token, stable per seed. */
function seededShareToken(seed: string, label: string): string {
  return "E" + Buffer.concat([digest(seed, label), digest(seed, `${label}/2`)]).toString("base64url").replace(/[-_]/g, "x").slice(0, 45);
}

function digest(seed: string, label: string): Buffer {
  return createHash("sha256").update(`${seed}\u0000${label}`).digest();
}

function guidBytes(guid: string): Buffer {
  return Buffer.from(guid.replace(/-/g, ""), "hex");
}

// ---------------------------------------------------------------------------------
// Scenarios

export interface ScenarioOptions {
  /** How long the guest's access lasts after a catalyst (prod only). Default 90 min. */
  warmForMs?: number;
  /** Delay between the catalyst and access being granted (prod only). Default 0. */
  propagationDelayMs?: number;
  /** Turn the guest warm-up on or off (default: on in prod, off in lab). */
  warmUp?: boolean;
}

export const DEFAULT_WARM_FOR_MS = 5_400_000;

interface ScenarioSpec {
  name: string;
  seed: string;
  /** Tenant short name: contoso → contoso.onmicrosoft.com, contoso.sharepoint.com */
  tenant: string;
  tenantDisplayName: string;
  guestHome: string;
  guestHomeDisplayName: string;
  guestHomeDomain: string;
  team: string;
}

const SCOPES = ["Files.ReadWrite.All", "Sites.Read.All", "User.Read", "User.ReadBasic.All", "Group.Read.All", "openid", "profile", "email"];
const ROLES = ["Files.ReadWrite.All", "Sites.Read.All", "Group.Read.All", "User.Read.All"];

function buildScenario(spec: ScenarioSpec, opts: ScenarioOptions, warmUpDefault: boolean): Scenario {
  const { seed } = spec;
  const tenant: Tenant = {
    id: seededGuid(seed, "tenant"),
    domain: `${spec.tenant}.onmicrosoft.com`,
    sharePointHost: `${spec.tenant}.sharepoint.com`,
    displayName: spec.tenantDisplayName,
  };
  const home: Tenant = {
    id: seededGuid(seed, "home-tenant"),
    domain: spec.guestHomeDomain,
    sharePointHost: `${spec.guestHome}.sharepoint.com`,
    displayName: spec.guestHomeDisplayName,
  };
  const spHost = tenant.sharePointHost;
  const clientAppId = seededGuid(seed, "client-app");

  const alice: Principal = {
    name: "alice",
    kind: "guest",
    id: seededGuid(seed, "user/alice"),
    displayName: "Alice Martin",
    givenName: "Alice",
    surname: "Martin",
    upn: `alice_${spec.guestHomeDomain}#EXT#@${tenant.domain}`,
    mail: `alice@${spec.guestHomeDomain}`,
    appId: clientAppId,
    appName: `${spec.guestHomeDisplayName} Partner Portal`,
    scopes: SCOPES,
    homeTenantId: home.id,
    homeObjectId: seededGuid(seed, "home-user/alice"),
    homeDomain: spec.guestHomeDomain,
  };
  const megan: Principal = {
    name: "megan",
    kind: "member",
    id: seededGuid(seed, "user/megan"),
    displayName: "Megan Bowen",
    givenName: "Megan",
    surname: "Bowen",
    upn: `megan@${tenant.domain}`,
    mail: `megan@${tenant.domain}`,
    appId: clientAppId,
    appName: `${spec.guestHomeDisplayName} Partner Portal`,
    scopes: SCOPES,
  };
  const daemon: Principal = {
    name: "daemon",
    kind: "app",
    id: seededGuid(seed, "sp/daemon"),
    displayName: `${spec.tenantDisplayName} Sync Daemon`,
    appId: seededGuid(seed, "app/daemon"),
    appName: `${spec.tenantDisplayName} Sync Daemon`,
    roles: ROLES,
  };

  const rootSite: Site = {
    id: `${spHost},${seededGuid(seed, "site/root")},${seededGuid(seed, "web/root")}`,
    name: "",
    displayName: "Communication site",
    webUrl: `https://${spHost}`,
    root: true,
  };
  const teamSite: Site = {
    id: `${spHost},${seededGuid(seed, "site/team")},${seededGuid(seed, "web/team")}`,
    name: spec.team,
    displayName: spec.team,
    webUrl: `https://${spHost}/sites/${spec.team}`,
    root: false,
  };
  const groupId = seededGuid(seed, "group/team");
  const driveId = seededDriveId(seed, "drive/team");
  const docs = `${teamSite.webUrl}/Shared%20Documents`;
  const created = "2025-11-03T08:12:44Z";
  const item = (label: string, name: string, parentId: string | undefined, extra: Partial<DriveItem>): DriveItem => ({
    id: seededItemId(seed, `item/${label}`),
    driveId,
    name,
    ...(parentId ? { parentId } : {}),
    folder: false,
    webUrl: parentId ? `${docs}/${encodeURIComponent(name)}` : docs,
    createdAt: created,
    modifiedAt: "2026-01-20T16:40:02Z",
    eTagVersion: 3,
    ...extra,
  });
  const root = item("root", "root", undefined, { folder: true });
  const plan = item("plan", "Q1 Plan.docx", root.id, {
    content: Buffer.from(`${spec.tenantDisplayName} Q1 plan: shared with partners.\n`),
    mimeType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  });
  const budget = item("budget", "Budget.xlsx", root.id, {
    content: Buffer.from(`${spec.tenantDisplayName} budget: internal only.\n`),
    mimeType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  });
  const archive = item("archive", "Archive", root.id, { folder: true });
  const old = item("old-notes", "Notes 2024.txt", archive.id, {
    content: Buffer.from("old notes\n"),
    mimeType: "text/plain",
  });
  const drive: Drive = {
    id: driveId,
    name: "Documents",
    driveType: "documentLibrary",
    siteId: teamSite.id,
    groupId,
    rootId: root.id,
    webUrl: docs,
  };
  const group: Group = {
    id: groupId,
    displayName: spec.team,
    mailNickname: spec.team,
    mail: `${spec.team}@${tenant.domain}`,
    members: [megan.id],
    siteId: teamSite.id,
    driveId,
  };
  const shareUrl = `https://${spHost}/:w:/s/${spec.team}/${seededShareToken(seed, "link/plan")}`;
  const link: SharingLink = {
    id: seededGuid(seed, "permission/plan"),
    url: shareUrl,
    shareId: encodeShareId(shareUrl),
    driveId,
    itemId: plan.id,
    type: "edit",
    scope: "users",
    grantedTo: [alice.id],
  };

  const warm = opts.warmUp ?? warmUpDefault;
  const behaviours: Record<string, PrincipalBehaviours> = {};
  if (warm) {
    behaviours["alice"] = {
      warmUp: {
        catalysts: ["/groups/{id}/drive"],
        warmForMs: opts.warmForMs ?? DEFAULT_WARM_FOR_MS,
        propagationDelayMs: opts.propagationDelayMs ?? 0,
        failStatus: 401,
        failCode: "accessDenied",
      },
    };
  }
  return {
    name: spec.name,
    tenant,
    homeTenants: [home],
    principals: [alice, megan, daemon],
    groups: [group],
    sites: [rootSite, teamSite],
    drives: [drive],
    items: [root, plan, budget, archive, old],
    links: [link],
    behaviours,
  };
}

/** Production: the contoso tenant, guest alice from fabrikam.com, guest warm-up ON. */
export function prodScenario(opts: ScenarioOptions = {}): Scenario {
  return buildScenario(
    {
      name: "prod",
      seed: "graphtap/prod",
      tenant: "contoso",
      tenantDisplayName: "Contoso",
      guestHome: "fabrikam",
      guestHomeDisplayName: "Fabrikam",
      guestHomeDomain: "fabrikam.com",
      team: "Team",
    },
    opts,
    true,
  );
}

/** The lab: same shape, other ids, guest warm-up OFF (what replay is compared against). */
export function labScenario(opts: ScenarioOptions = {}): Scenario {
  return buildScenario(
    {
      name: "lab",
      seed: "graphtap/lab",
      tenant: "contosolab",
      tenantDisplayName: "Contoso Lab",
      guestHome: "fabrikamlab",
      guestHomeDisplayName: "Fabrikam Lab",
      guestHomeDomain: "fabrikamlab.com",
      team: "LabTeam",
    },
    opts,
    false,
  );
}

export function scenarioByName(name: "prod" | "lab", opts: ScenarioOptions = {}): Scenario {
  return name === "prod" ? prodScenario(opts) : labScenario(opts);
}

/**
 * Pairs of ids and URLs that stand for the same thing in two scenarios of the same
 * shape: the `replace` section of a replay map file. Share ids are left out: the
 * share URLs are mapped and replay re-encodes /shares/u!… ids.
 */
export function idMap(from: Scenario, to: Scenario): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (a: string | undefined, b: string | undefined) => {
    if (a !== undefined && b !== undefined && a !== b) out[a] = b;
  };
  add(from.tenant.id, to.tenant.id);
  from.homeTenants.forEach((t, i) => add(t.id, to.homeTenants[i]?.id));
  for (const p of from.principals) {
    const q = to.principals.find((x) => x.name === p.name);
    add(p.id, q?.id);
    add(p.upn, q?.upn);
    add(p.appId, q?.appId);
  }
  from.groups.forEach((g, i) => add(g.id, to.groups[i]?.id));
  from.sites.forEach((s, i) => add(s.id, to.sites[i]?.id));
  from.drives.forEach((d, i) => add(d.id, to.drives[i]?.id));
  from.items.forEach((it, i) => add(it.id, to.items[i]?.id));
  from.links.forEach((l, i) => add(l.url, to.links[i]?.url));
  return out;
}

export function findPrincipal(scenario: Scenario, who: string): Principal | undefined {
  const w = who.toLowerCase();
  return scenario.principals.find(
    (p) => p.name.toLowerCase() === w || p.id.toLowerCase() === w || p.upn?.toLowerCase() === w || p.appId.toLowerCase() === w,
  );
}
