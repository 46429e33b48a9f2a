// `graphtap ca --trust/--untrust`: the Debian/Ubuntu system store, the way its own
// tooling expects it: a .crt under /usr/local/share/ca-certificates, then
// update-ca-certificates (which rebuilds /etc/ssl/certs/ca-certificates.crt).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { delimiter, join } from "node:path";
import { UserError } from "../errors.js";

export interface TrustOptions {
  /** Where local CAs go (default /usr/local/share/ca-certificates). */
  dir?: string;
  /** The update tool (default: update-ca-certificates on PATH or in /usr/sbin). */
  tool?: string;
  /** Effective uid (default process.geteuid()). */
  uid?: number;
}

export interface TrustResult {
  file: string;
  changed: boolean;
  /** What the update tool printed (its summary line). */
  toolOutput: string;
}

const DEFAULT_DIR = "/usr/local/share/ca-certificates";
const NAME = "graphtap.crt";

function findTool(explicit: string | undefined): string {
  if (explicit) {
    if (!existsSync(explicit)) throw missingTool();
    return explicit;
  }
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/sbin", "/sbin"];
  for (const d of dirs) {
    const p = join(d, "update-ca-certificates");
    if (d && existsSync(p)) return p;
  }
  throw missingTool();
}

function missingTool(): UserError {
  return new UserError(
    "update-ca-certificates not found: --trust supports the Debian/Ubuntu system store " +
      "(apt-get install ca-certificates); elsewhere, trust ca.pem as `graphtap ca` describes",
  );
}

function checkPlatform(uid: number | undefined, verb: string): void {
  if (process.platform !== "linux") throw new UserError(`--${verb} supports the Debian/Ubuntu system store only; see graphtap ca for other clients`);
  if (uid !== 0) throw new UserError(`--${verb} changes the system store and needs root: sudo graphtap ca --${verb}`);
}

function runTool(tool: string, args: string[]): string {
  const r = spawnSync(tool, args, { encoding: "utf8" });
  if (r.error) throw new UserError(`cannot run ${tool}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`);
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
  if (r.status !== 0) throw new UserError(`${tool} failed (exit ${r.status}): ${out.split("\n").pop() ?? ""}`);
  // Its last line is the summary: "1 added, 0 removed; done." then "Running hooks… done."
  return out.split("\n").filter((l) => /added|removed/.test(l)).join("; ") || out.split("\n").pop() || "";
}

export function trustSystem(certPath: string, opts: TrustOptions = {}): TrustResult {
  checkPlatform(opts.uid ?? process.geteuid?.(), "trust");
  const tool = findTool(opts.tool);
  const dir = opts.dir ?? DEFAULT_DIR;
  if (!existsSync(dir)) throw new UserError(`${dir} does not exist: is this Debian/Ubuntu with ca-certificates installed?`);
  const file = join(dir, NAME);
  const pem = readFileSync(certPath);
  const changed = !existsSync(file) || !readFileSync(file).equals(pem);
  if (changed) copyFileSync(certPath, file);
  return { file, changed, toolOutput: runTool(tool, []) };
}

export function untrustSystem(opts: TrustOptions = {}): TrustResult {
  checkPlatform(opts.uid ?? process.geteuid?.(), "untrust");
  const tool = findTool(opts.tool);
  const file = join(opts.dir ?? DEFAULT_DIR, NAME);
  const changed = existsSync(file);
  if (changed) rmSync(file);
  // --fresh drops links to certificates that are gone, ours included.
  return { file, changed, toolOutput: runTool(tool, ["--fresh"]) };
}
