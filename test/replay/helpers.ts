// Two simulated tenants and a prod trace recorded through the real proxy.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ProxyAgent, request } from "undici";
import { startRecordingProxy } from "../../src/capture/recording-proxy.js";
import { idMap, startSim, type Sim } from "../../src/sim/index.js";
import { createAuthority } from "../../src/tls/authority.js";

export const GRAPH = "https://graph.microsoft.com";

export function writeCa(dir: string, sim: Sim, name: string): string {
  const file = join(dir, `${name}-ca.pem`);
  writeFileSync(file, sim.caPem);
  return file;
}

export interface Recorded {
  db: string;
  prod: Sim;
  /** The prod tokens used while recording (must never reach the lab). */
  prodTokens: string[];
}

/**
 * The seed sequence, as alice (a guest) against prod through the proxy: shares 401 →
 * groups/drive 403 → shares 200 → a $batch of two reads → a POST createLink; then
 * megan (a member) reads the group's drive.
 */
export async function recordProd(dir: string): Promise<Recorded> {
  const prod = await startSim({ scenario: "prod" });
  const db = join(dir, "prod.sqlite");
  const authority = createAuthority({ commonName: "replay test proxy CA", permitted: ["graph.microsoft.com"] });
  const proxy = await startRecordingProxy({
    host: "127.0.0.1",
    port: 0,
    db,
    authority,
    upstream: [`graph.microsoft.com=${prod.url}`],
    upstreamCaFiles: [writeCa(dir, prod, "prod")],
    onWarning: () => undefined,
  });
  const agent = new ProxyAgent({ uri: proxy.url, requestTls: { ca: authority.certPem } });
  const s = prod.scenario;
  const link = s.links[0]!;
  const group = s.groups[0]!;
  const plan = s.items.find((i) => i.name === "Q1 Plan.docx")!;
  const alice = prod.token("alice");
  const megan = prod.token("megan");
  const send = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await request(`${GRAPH}${path}`, {
      dispatcher: agent,
      method: method as "GET",
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    await res.body.arrayBuffer();
    return res.statusCode;
  };
  const statuses = [
    await send("GET", `/v1.0/shares/${link.shareId}/driveItem`, alice),
    await send("GET", `/v1.0/groups/${group.id}/drive`, alice),
    await send("GET", `/v1.0/shares/${link.shareId}/driveItem?$select=id,name`, alice),
    await send("POST", "/v1.0/$batch", alice, {
      requests: [
        { id: "1", method: "GET", url: `/drives/${link.driveId}/items/${plan.id}` },
        { id: "2", method: "GET", url: `/shares/${link.shareId}/driveItem` },
      ],
    }),
    await send("POST", `/v1.0/drives/${link.driveId}/items/${plan.id}/createLink`, alice, { type: "view", scope: "organization" }),
    await send("GET", `/v1.0/groups/${group.id}/drive`, megan),
  ];
  await agent.close();
  await proxy.stop();
  if (statuses.join(",") !== "401,403,200,200,403,200") throw new Error(`unexpected prod statuses ${statuses.join(",")}`);
  return { db, prod, prodTokens: [alice, megan] };
}

/** The map file between the two scenarios, tokens per identity from the environment. */
export function writeMap(dir: string, prod: Sim, lab: Sim, tokens: Record<string, string> = {}, name = "map.json"): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ replace: idMap(prod.scenario, lab.scenario), tokens }, null, 2));
  return file;
}
