// JSON shapes of the sim's resources, close to what Graph v1.0 returns, so that
// clients, analyze and replay see realistic bodies.
import { createHash } from "node:crypto";
import type { Drive, DriveItem, Group, Principal, Scenario, SharingLink, Site } from "./tenant.js";

export type Json = Record<string, unknown>;

export const GRAPH_ORIGIN = "https://graph.microsoft.com";

export function context(version: string, fragment: string): string {
  return `${GRAPH_ORIGIN}/${version}/$metadata#${fragment}`;
}

export function userJson(p: Principal): Json {
  return {
    businessPhones: [],
    displayName: p.displayName,
    givenName: p.givenName ?? null,
    jobTitle: null,
    mail: p.mail ?? null,
    mobilePhone: null,
    officeLocation: null,
    preferredLanguage: null,
    surname: p.surname ?? null,
    userPrincipalName: p.upn ?? null,
    id: p.id,
  };
}

export function groupJson(g: Group): Json {
  return {
    id: g.id,
    createdDateTime: "2025-10-01T09:30:00Z",
    description: `${g.displayName} workspace`,
    displayName: g.displayName,
    groupTypes: ["Unified"],
    mail: g.mail,
    mailEnabled: true,
    mailNickname: g.mailNickname,
    securityEnabled: false,
    visibility: "Private",
  };
}

export function driveJson(d: Drive, scenario: Scenario): Json {
  const group = d.groupId ? scenario.groups.find((g) => g.id === d.groupId) : undefined;
  return {
    createdDateTime: "2025-10-01T09:31:12Z",
    description: "",
    id: d.id,
    lastModifiedDateTime: "2026-01-20T16:40:02Z",
    name: d.name,
    webUrl: d.webUrl,
    driveType: d.driveType,
    createdBy: { user: { displayName: "System Account" } },
    owner: group
      ? { group: { email: group.mail, id: group.id, displayName: group.displayName } }
      : { user: { displayName: "System Account" } },
    quota: { deleted: 0, remaining: 27487790694400, state: "normal", total: 27487790694400, used: 0 },
  };
}

export function itemJson(item: DriveItem, scenario: Scenario): Json {
  const drive = scenario.drives.find((d) => d.id === item.driveId);
  const children = scenario.items.filter((i) => i.parentId === item.id);
  const etagGuid = guidOf(item.id);
  const out: Json = {
    createdDateTime: item.createdAt,
    eTag: `"{${etagGuid}},${item.eTagVersion}"`,
    id: item.id,
    lastModifiedDateTime: item.modifiedAt,
    name: item.name,
    webUrl: item.webUrl,
    cTag: `"c:{${etagGuid}},${item.eTagVersion}"`,
    size: item.folder ? children.reduce((n, c) => n + (c.content?.length ?? 0), 0) : (item.content?.length ?? 0),
    createdBy: { user: { displayName: "Megan Bowen" } },
    lastModifiedBy: { user: { displayName: "Megan Bowen" } },
  };
  if (item.parentId !== undefined) {
    out["parentReference"] = {
      driveType: drive?.driveType ?? "documentLibrary",
      driveId: item.driveId,
      id: item.parentId,
      path: parentPath(item, scenario),
      siteId: drive?.siteId,
    };
  } else {
    out["parentReference"] = { driveType: drive?.driveType ?? "documentLibrary", driveId: item.driveId };
    out["root"] = {};
  }
  if (item.folder) out["folder"] = { childCount: children.length };
  else {
    out["file"] = {
      mimeType: item.mimeType ?? "application/octet-stream",
      hashes: { quickXorHash: createHash("sha1").update(item.content ?? Buffer.alloc(0)).digest("base64").slice(0, 28) },
    };
  }
  out["fileSystemInfo"] = { createdDateTime: item.createdAt, lastModifiedDateTime: item.modifiedAt };
  return out;
}

export function siteJson(s: Site): Json {
  const out: Json = {
    createdDateTime: "2025-09-12T07:02:19Z",
    description: "",
    id: s.id,
    lastModifiedDateTime: "2026-01-20T16:40:02Z",
    name: s.name,
    webUrl: s.webUrl,
    displayName: s.displayName,
  };
  if (s.root) {
    out["root"] = {};
    out["siteCollection"] = { hostname: s.id.split(",")[0] };
  }
  return out;
}

export function permissionJson(link: SharingLink): Json {
  return {
    id: link.id,
    roles: [link.type === "edit" ? "write" : "read"],
    shareId: link.shareId,
    hasPassword: false,
    link: { scope: link.scope, type: link.type, webUrl: link.url, preventsDownload: false },
  };
}

/** Keeps only the $select-ed properties (and @odata annotations). */
export function select(json: Json, selectParam: string | null): Json {
  if (!selectParam) return json;
  const keep = new Set(selectParam.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean));
  const out: Json = {};
  for (const [k, v] of Object.entries(json)) if (k.startsWith("@") || keep.has(k.toLowerCase())) out[k] = v;
  return out;
}

function parentPath(item: DriveItem, scenario: Scenario): string {
  const names: string[] = [];
  let parent = scenario.items.find((i) => i.id === item.parentId);
  while (parent && parent.parentId !== undefined) {
    names.unshift(encodeURIComponent(parent.name));
    parent = scenario.items.find((i) => i.id === parent!.parentId);
  }
  return `/drives/${item.driveId}/root:${names.length ? "/" + names.join("/") : ""}`;
}

function guidOf(seed: string): string {
  const x = createHash("md5").update(seed).digest("hex").toUpperCase();
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
