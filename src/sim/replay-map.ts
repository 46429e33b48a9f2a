// A replay map from one scenario's ids to a running sim's: what a user would write by
// hand for a real lab tenant, made for the simulated one so `graphtap replay` can be
// tried end to end with no tenant (record against prod, replay against the lab).
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Sim } from "./server.js";
import { idMap, type Scenario } from "./tenant.js";

export interface ReplayMapDoc {
  replace: Record<string, string>;
  tokens: Record<string, string>;
}

/**
 * Writes `mapFile` (replace: every id of `from` that differs in the sim's scenario;
 * tokens: a fresh sim token per recorded principal, each in its own 0600 file beside
 * the map, referenced as file:PATH) and returns the document.
 */
export function writeReplayMap(sim: Sim, from: Scenario, mapFile: string): ReplayMapDoc {
  const dir = dirname(resolve(mapFile));
  mkdirSync(dir, { recursive: true });
  const tokens: Record<string, string> = {};
  for (const p of from.principals) {
    const q = sim.scenario.principals.find((x) => x.name === p.name);
    if (!q) continue;
    const file = join(dir, `${q.name}.${sim.scenario.name}.token`);
    writeFileSync(file, `${sim.token(q.name)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    // The recorded identity: its upn for a user, its app identity key for an app.
    tokens[p.upn ?? `app:${from.tenant.id}:${p.appId}`] = `file:${file}`;
  }
  const doc: ReplayMapDoc = { replace: idMap(from, sim.scenario), tokens };
  writeFileSync(mapFile, `${JSON.stringify(doc, null, 2)}\n`);
  return doc;
}
