// graphtap demo: the whole story on this machine with no tenant. A simulated tenant
// with the guest warm-up, the real proxy in-process on free loopback ports, a guest
// driven through the seed sequence, then the analysis and the HTML report.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pc from "picocolors";
import { analyzeFiles } from "../analyze/analysis.js";
import type { AnalysisDoc } from "../analyze/analysis.js";
import { renderHtml } from "../analyze/report-html.js";
import { renderText } from "../analyze/report-text.js";
import { startRecordingProxy } from "../capture/recording-proxy.js";
import { prodScenario } from "../sim/tenant.js";
import { startSim } from "../sim/server.js";
import { createAuthority } from "../tls/authority.js";
import { DEFAULT_GRAPH_HOSTS } from "../graph/hosts.js";
import { playGuestStory, proxiedClient } from "./story.js";

export interface DemoOptions {
  /** Folder for the capture and the report (default recordings/). */
  outDir: string;
  cycles: number;
  /** How long the guest's access lasts after the catalyst, in the simulated tenant. */
  warmForMs: number;
  out: NodeJS.WritableStream;
  color: boolean;
  /** Print the live line of every exchange as it passes the proxy. */
  live: boolean;
}

export interface DemoResult {
  capture: string;
  report: string;
  analysis: AnalysisDoc;
  proxyPort: number;
  simPort: number;
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const c = pc.createColors(opts.color);
  const say = (line = "") => opts.out.write(`${line}\n`);
  mkdirSync(opts.outDir, { recursive: true });
  const capture = resolve(opts.outDir, "demo.sqlite");
  const report = resolve(opts.outDir, "demo-report.html");
  for (const f of [capture, `${capture}-wal`, `${capture}-shm`]) rmSync(f, { force: true });

  // A throw-away CA: the demo never touches the user's GRAPHTAP_HOME.
  const scratch = mkdtempSync(join(tmpdir(), "graphtap-demo-"));
  const authority = createAuthority({ commonName: "graphtap demo CA", permitted: [...DEFAULT_GRAPH_HOSTS] });
  const sim = await startSim({ scenario: prodScenario({ warmForMs: opts.warmForMs }), port: 0 });
  let running: Awaited<ReturnType<typeof startRecordingProxy>> | undefined;
  let proxyPort = 0;
  try {
    const simCa = join(scratch, "sim-ca.pem");
    writeFileSync(simCa, sim.caPem);
    running = await startRecordingProxy({
      host: "127.0.0.1",
      port: 0,
      db: capture,
      authority,
      upstream: [`graph.microsoft.com=${sim.url}`],
      upstreamCaFiles: [simCa],
      sessionKind: "demo",
      ...(opts.live ? { console: { out: opts.out, color: opts.color } } : {}),
      onWarning: (m) => say(c.yellow(`warning: ${m}`)),
    });
    proxyPort = running.port;
    const guest = sim.principal("alice");
    say(c.bold("graphtap demo: a guest user, a shared file, and a 401 that a 403 \"fixes\""));
    say(`  simulated tenant ${sim.scenario.tenant.domain} on ${sim.url} (guest access lasts ${opts.warmForMs / 1000}s after the catalyst)`);
    say(`  graphtap proxy on ${running.url}, recording to ${capture}`);
    say(`  guest: ${guest.upn ?? guest.name}`);
    say();
    const client = proxiedClient(running.url, authority.certPem);
    try {
      await playGuestStory(sim, client, {
        cycles: opts.cycles,
        warmForMs: opts.warmForMs,
        onCycle: (cycle) =>
          say(
            c.dim(
              cycle === 0
                ? `  cycle 1 of ${opts.cycles}: the guest has never opened the file`
                : `  cycle ${cycle + 1} of ${opts.cycles}: ${opts.warmForMs / 1000}s later, the guest's access has expired`,
            ),
          ),
        ...(opts.live ? {} : { onStep: (what, status) => say(`    ${statusColor(c, status)}  ${what}`) }),
      });
    } finally {
      await client.close();
    }
    await running.stop();
    running = undefined;
  } finally {
    await running?.stop();
    await sim.close();
    rmSync(scratch, { recursive: true, force: true });
  }

  const analysis = analyzeFiles([capture]);
  say();
  say(renderText(analysis, { color: opts.color, maxFlips: 3 }));
  writeFileSync(report, renderHtml(analysis));
  say();
  say(c.bold("Where things are"));
  say(`  capture:     ${capture}`);
  say(`  HTML report: ${report}`);
  say(`  explore:     graphtap list ${capture} --status 4xx`);
  say(`               graphtap analyze ${capture} --json`);
  return { capture, report, analysis, proxyPort, simPort: sim.port };
}

function statusColor(c: ReturnType<typeof pc.createColors>, status: number): string {
  const s = String(status);
  return status >= 400 ? c.red(s) : c.green(s);
}
