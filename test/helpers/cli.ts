// Runs dist/cli.js (build first: npm run build) as a child process.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll } from "vitest";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const CLI = join(ROOT, "dist", "cli.js");

/** An environment without proxy settings inherited from the machine. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(https?_proxy|all_proxy|no_proxy|node_extra_ca_certs|requests_ca_bundle|curl_ca_bundle|ssl_cert_file|graphtap_home|node_options)$/i.test(k)) continue;
    env[k] = v;
  }
  delete env["FORCE_COLOR"];
  return { ...env, NO_COLOR: "1", ...extra };
}

const children = new Set<ChildProcess>();

function track(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
}

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
});

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (with a timeout), collecting its output. */
export function run(
  command: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { env: opts.env ?? cleanEnv(), cwd: opts.cwd ?? ROOT, stdio: "pipe" });
    track(child);
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 20_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, stdout, stderr });
    });
    // A command that exits without reading its input (openssl x509 -in FILE) closes
    // the pipe: EPIPE on our side is expected then, not a failure.
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}

export function runCli(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], opts);
}

export interface CliProxy {
  child: ChildProcess;
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  home: string;
  db: string;
  caFile: string;
  caPem: string;
  stdout(): string;
  stderr(): string;
  /** Sends the signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `graphtap proxy --port 0 --home HOME --db DB ...args` and resolves once it
 * prints `listening on http://HOST:PORT`.
 */
export async function startCliProxy(opts: { home: string; db: string; args?: readonly string[]; env?: NodeJS.ProcessEnv }): Promise<CliProxy> {
  const args = [CLI, "proxy", "--port", "0", "--home", opts.home, "--db", opts.db, ...(opts.args ?? [])];
  const child = spawn(process.execPath, args, { env: opts.env ?? cleanEnv(), cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once("exit", (code, signal) => r({ code, signal })),
  );
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start\nstdout: ${stdout}\nstderr: ${stderr}`)), 15_000);
    const onData = (): void => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        child.stdout.off("data", onData);
        resolvePort(Number(m[1]));
      }
    };
    child.stdout.on("data", onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`proxy exited (${code ?? signal}) before listening\nstdout: ${stdout}\nstderr: ${stderr}`));
    });
  });
  const caFile = join(opts.home, "ca.pem");
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    home: opts.home,
    db: opts.db,
    caFile,
    caPem: readFileSync(caFile, "utf8"),
    stdout: () => stdout,
    stderr: () => stderr,
    stop: async (signal = "SIGINT") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
