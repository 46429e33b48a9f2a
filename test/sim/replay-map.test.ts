// The no-tenant replay path a newcomer follows: record the story against prod (the
// demo), start the lab sim with a replay map, replay, and see prod's 401 become 200.
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { runDemo } from "../../src/demo/run.js";
import { writeReplayMap } from "../../src/sim/replay-map.js";
import { startSim, type Sim } from "../../src/sim/server.js";
import { prodScenario } from "../../src/sim/tenant.js";
import { decodeJwtClaims } from "../../src/graph/token.js";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const sims: Sim[] = [];
afterAll(async () => {
  for (const s of sims.splice(0)) await s.close();
});

const quiet = new Writable({ write: (_c, _e, cb) => cb() });

describe("sim --map-out: replay the demo against the lab", () => {
  it("writes a map whose ids and tokens turn prod's refusal into the lab's 200", async () => {
    const dir = tempDir();
    const demo = await runDemo({ outDir: dir, cycles: 1, warmForMs: 300, out: quiet, color: false, live: false });
    const lab = await startSim({ scenario: "lab", port: 0 });
    sims.push(lab);
    const mapFile = join(dir, "lab-map.json");
    const doc = writeReplayMap(lab, prodScenario(), mapFile);

    const prod = prodScenario();
    expect(doc.replace[prod.groups[0]!.id]).toBe(lab.scenario.groups[0]!.id);
    expect(doc.replace[prod.links[0]!.url]).toBe(lab.scenario.links[0]!.url);
    const aliceToken = doc.tokens[prod.principals.find((p) => p.name === "alice")!.upn!]!;
    expect(aliceToken).toMatch(/^file:/);
    const tokenFile = aliceToken.slice("file:".length);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(decodeJwtClaims(readFileSync(tokenFile, "utf8").trim())["tid"]).toBe(lab.scenario.tenant.id);

    const caFile = join(dir, "lab-ca.pem");
    writeFileSync(caFile, lab.caPem);
    const r = await runCli(
      ["replay", demo.capture, "--map", mapFile, "--upstream", `graph.microsoft.com=${lab.url}`, "--upstream-ca", caFile,
       "--db", join(dir, "replay.sqlite"), "--json"],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { steps: Array<{ url: string; recorded: number; replayed: number; diverged: boolean }>; diverged: number };
    const first = out.steps[0]!;
    expect(first.url).toContain("/shares/");
    expect([first.recorded, first.replayed, first.diverged]).toEqual([401, 200, true]);
    expect(out.diverged).toBeGreaterThan(0);
    // The lab saw lab ids only, with lab tokens.
    const labPaths = lab.requests.map((q) => q.path).join("\n");
    expect(labPaths).toContain(lab.scenario.groups[0]!.id);
    expect(labPaths).not.toContain(prod.groups[0]!.id);
    expect(lab.requests.every((q) => q.claims["tid"] === lab.scenario.tenant.id)).toBe(true);
  });
});
