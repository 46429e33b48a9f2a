// `graphtap demo` as a newcomer runs it: a child process from the built dist, the whole
// guest story against the simulated tenant, the catalyst named, the capture and the
// HTML report where it says, and nothing left running afterwards.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, ROOT, cleanEnv, runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const CATALYST = "GET /v1.0/groups/{id}/drive";
const DEMO_TIMEOUT_MS = 30_000;

interface DemoRun {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

let child: ChildProcess | undefined;
let out: string;
let demo: DemoRun;

/** Runs the demo as the leader of its own process group, so leftovers can be found by group. */
function runDemo(args: readonly string[]): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const c = spawn(process.execPath, [CLI, "demo", ...args], { cwd: ROOT, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true });
    child = c;
    let stdout = "";
    let stderr = "";
    c.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    c.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      killGroup(c);
      reject(new Error(`graphtap demo did not finish within ${DEMO_TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, DEMO_TIMEOUT_MS);
    c.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    c.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ pid: c.pid!, code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

function killGroup(c: ChildProcess): void {
  if (c.pid === undefined) return;
  try {
    process.kill(-c.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Resolves "refused" when nothing listens on 127.0.0.1:port, "open" when something does. */
function probe(port: number): Promise<"refused" | "open" | string> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.setTimeout(2000);
    s.once("connect", () => {
      s.destroy();
      resolve("open");
    });
    s.once("timeout", () => {
      s.destroy();
      resolve("timeout");
    });
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED" ? "refused" : String(err.code)));
  });
}

function portFrom(stdout: string, re: RegExp, what: string): number {
  const m = re.exec(stdout);
  if (!m) throw new Error(`the demo did not print the ${what} line\n${stdout}`);
  return Number(m[1]);
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  out = join(tempDir("graphtap-demo-test-"), "out");
  demo = await runDemo(["--out", out, "--cycles", "2", "--warm-for", "0.5"]);
}, DEMO_TIMEOUT_MS + 10_000);

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) killGroup(child);
});

describe("graphtap demo (child process from dist)", () => {
  it("exits 0 on its own, quickly, without errors", () => {
    expect(demo.signal, demo.stderr).toBeNull();
    expect(demo.code, `stdout:\n${demo.stdout}\nstderr:\n${demo.stderr}`).toBe(0);
    expect(demo.ms).toBeLessThan(DEMO_TIMEOUT_MS);
    expect(demo.stderr).toBe("");
  });

  it("names GET /v1.0/groups/{id}/drive as the top catalyst", () => {
    const lines = demo.stdout.split("\n");
    const heading = lines.findIndex((l) => /^Catalysts, best first/.test(l));
    expect(heading, demo.stdout).toBeGreaterThanOrEqual(0);
    // The first ranked line (an explanation of the score may come before it).
    const first = lines.slice(heading + 1).find((l) => /^\s*\d+\.\s/.test(l)) ?? "";
    expect(first).toMatch(/^\s*1\.\s+GET \/v1\.0\/groups\/\{id\}\/drive\s/);
    // And the flips are attributed to it, not to the GET /me noise.
    expect(demo.stdout).toMatch(/catalyst: GET \/v1\.0\/groups\/\{id\}\/drive/);
    expect(demo.stdout).toMatch(/2 flips \(refused, then succeeded\): 2 after a catalyst call/);
    // The story itself is visible: the guest's 401, the 403 "fix", the 200.
    expect(demo.stdout).toMatch(/401\s+guest opens the shared file/);
    expect(demo.stdout).toMatch(/403\s+guest asks for the team's drive/);
    expect(demo.stdout).toMatch(/200\s+guest opens the shared file/);
  });

  it("says where the capture and the HTML report are, and both exist", () => {
    const capture = /^\s*capture:\s+(\S.*)$/m.exec(demo.stdout)?.[1]?.trim();
    const report = /^\s*HTML report:\s+(\S.*)$/m.exec(demo.stdout)?.[1]?.trim();
    expect(capture, demo.stdout).toBe(join(out, "demo.sqlite"));
    expect(report, demo.stdout).toBe(join(out, "demo-report.html"));
    expect(statSync(capture!).size).toBeGreaterThan(0);
    const html = readFileSync(report!, "utf8");
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain("/v1.0/groups/{id}/drive");
  });

  it("analyze --json on the capture finds ≥2 catalyst flips and ranks the drive call first", async () => {
    const r = await runCli(["analyze", join(out, "demo.sqlite"), "--json"], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      flips: Array<{ explanation: string; catalyst: string | null; identity: { guest?: boolean }; failure: { status: number }; success: { status: number } }>;
      catalysts: Array<{ template: string }>;
    };
    const byCatalyst = doc.flips.filter((f) => f.explanation === "catalyst");
    expect(byCatalyst.length).toBeGreaterThanOrEqual(2);
    for (const f of byCatalyst) {
      expect(f.catalyst).toBe(CATALYST);
      expect(f.identity.guest).toBe(true);
      expect([401, 403]).toContain(f.failure.status);
      expect(f.success.status).toBe(200);
    }
    expect(doc.catalysts[0]?.template).toBe(CATALYST);
  });

  it("leaves no port and no process behind", async () => {
    const simPort = portFrom(demo.stdout, /simulated tenant .* on https:\/\/127\.0\.0\.1:(\d+)/, "simulated tenant");
    const proxyPort = portFrom(demo.stdout, /graphtap proxy on http:\/\/127\.0\.0\.1:(\d+)/, "graphtap proxy");
    expect(simPort).not.toBe(proxyPort);
    expect(await probe(simPort)).toBe("refused");
    expect(await probe(proxyPort)).toBe("refused");
    // The demo led its own process group: anything it forked and left running would
    // still carry that group id after the demo itself exited.
    const ps = spawnSync("ps", ["-eo", "pid=,pgid=,args="], { encoding: "utf8" });
    expect(ps.status, ps.stderr).toBe(0);
    const left = ps.stdout
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1] === String(demo.pid));
    expect(left).toEqual([]);
  });
});
